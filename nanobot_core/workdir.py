"""A turn's temporary directory: made on first use, removed through trio however the turn ends."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio
from attrs import define

PREFIX = "nanobot-turn-"


@define
class Workdir:
    """Created on the first ``await path()``, so a text-only turn never touches the disk."""

    parent: Path | None = None
    _path: Path | None = None

    async def path(self) -> Path:
        if self._path is None:
            made = await trio.to_thread.run_sync(tempfile.mkdtemp, "", PREFIX, self.parent)
            self._path = Path(made)
        return self._path

    async def remove(self) -> None:
        """Remove the directory and everything in it; shielded from cancellation."""
        if self._path is None:
            return
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(shutil.rmtree, self._path, True)
        self._path = None


@asynccontextmanager
async def open_workdir(parent: Path | None = None) -> AsyncIterator[Workdir]:
    """A turn's workdir, removed on exit whether the turn succeeded, failed or was cancelled."""
    workdir = Workdir(parent)
    try:
        yield workdir
    finally:
        await workdir.remove()
