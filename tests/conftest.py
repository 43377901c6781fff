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
