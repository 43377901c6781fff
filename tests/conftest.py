"""Fixtures for the core's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanobot_core.plugins import Plugins
from nanobot_core.registry import Registry


@pytest.fixture
def registry() -> Registry:
    """The built-in plugins only (no entry points)."""
    return Registry.collect(Plugins.load(env={}, entry_points=False).pm)


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "storage"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty home folder for a ``nanobot`` subprocess (config, data, cwd)."""
    home = tmp_path / "home"
    home.mkdir()
    return home


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "venv: builds a fresh virtualenv from a copy of the clone with pip (about 10 s); "
        "in the default run, deselect with -m 'not venv'",
    )
