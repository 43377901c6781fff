"""The streamable-HTTP fake server, as a fixture."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FAKE = str(Path(__file__).with_name("fake_server.py"))


@pytest.fixture
def http_server() -> Iterator[str]:
    """The fake server over streamable HTTP on 127.0.0.1, in a subprocess; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, FAKE, "http"], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("PORT "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
