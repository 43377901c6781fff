"""A turn's temporary directory: created and removed through trio, whatever way the turn ends."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

PREFIX = "nanobot-turn-"


@asynccontextmanager
async def open_workdir(parent: Path | None = None) -> AsyncIterator[Path]:
    """Yield a fresh directory; remove it on exit, shielded from cancellation."""
    path = Path(await trio.to_thread.run_sync(tempfile.mkdtemp, "", PREFIX, parent))
    try:
        yield path
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(shutil.rmtree, path, True)
