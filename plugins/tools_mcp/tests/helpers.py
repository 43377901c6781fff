"""Shared helpers: the fake server's command line, a started tool set, process checks."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from nanobot_tools_mcp.config import McpConfig, ServerConfig
from nanobot_tools_mcp.toolset import McpTools

from nanobot_core import ToolContext

FAKE = str(Path(__file__).with_name("fake_server.py"))
ADMIN = ToolContext("test", "chat", "user", Path(), admin=True)
USER = ToolContext("test", "chat", "user", Path(), admin=False)


def fake_command(*extra: str) -> list[str]:
    return [sys.executable, FAKE, "stdio", *extra]


def bin_path(name: str) -> str:
    """A console script installed beside this Python (the test extra installs them)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e 'plugins/tools_mcp[test]')")
    return found


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie is a leak too: reported as alive)."""
    return Path(f"/proc/{pid}").exists()


@asynccontextmanager
async def started(**servers: dict[str, Any]) -> AsyncIterator[McpTools]:
    config = McpConfig(servers={name: ServerConfig(**table) for name, table in servers.items()})
    async with McpTools(config) as tools:
        yield tools


async def eventually(predicate: Callable[[], bool]) -> None:
    """Wait until ``predicate()`` holds (it watches another process: no event to wait on)."""
    with trio.fail_after(10):
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(0.02)
