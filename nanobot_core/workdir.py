"""Temporary directories: one per process for all its turns, and one per turn inside it.

A runtime's turn workdirs live in ``$TMPDIR/nanobot-<pid>-<random>/``, which holds
an ``.owner`` file locked (``flock``) for as long as the process lives. A process
killed outright (SIGKILL, the OOM killer) cannot clean up, but the kernel drops
its lock; the next runtime to start removes every such directory whose lock it
can take, so nothing a dead process left behind stays for long.

A turn's workdir is made on first use and removed through trio however the turn
ends. Names that go into it are shortened with ``fit_name``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio
from attrs import define

PREFIX = "turn-"
ROOT_PREFIX = "nanobot-"
OWNER = ".owner"
_NEW_PREFIX = ".nanobot-new-"  # a root being set up; renamed once its lock is held
_ROOT = re.compile(rf"^(?:{ROOT_PREFIX}\d+-|{re.escape(_NEW_PREFIX)})\w+$")
_SETUP_SECONDS = 60.0  # a root still without an owner file after this was abandoned
MAX_NAME_BYTES = 128  # below NAME_MAX everywhere (255; eCryptfs 143), with room for a prefix
_MAX_SUFFIX_BYTES = 16


def fit_name(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """``name`` as one safe file name of at most ``limit`` UTF-8 bytes, extension kept.

    Folders and NUL are dropped; a cut never splits a multibyte character.
    """
    name = name.replace("\0", "").replace("\\", "/").rpartition("/")[2].strip()
    if name in ("", ".", ".."):
        name = "file"
    if len(name.encode()) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    suffix = f".{extension}" if dot and stem and len(extension.encode()) < _MAX_SUFFIX_BYTES else ""
    if suffix:
        name = stem
    kept = name.encode()[: limit - len(suffix.encode())].decode("utf-8", "ignore")
    return kept + suffix


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


@asynccontextmanager
async def open_workdir_root(parent: Path | None = None) -> AsyncIterator[Path]:
    """This process's folder for turn workdirs, in ``parent`` (default ``$TMPDIR``).

    Folders of processes that are gone are swept first; this one is removed on
    exit (shielded), and by the next start if this process is killed.
    """
    base = Path(parent or tempfile.gettempdir())
    await trio.to_thread.run_sync(sweep, base)
    root, owner = await trio.to_thread.run_sync(_make_root, base)
    try:
        yield root
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(shutil.rmtree, root, True)
            os.close(owner)


def _make_root(base: Path) -> tuple[Path, int]:
    """Make and lock a root under a name sweeps skip while young, then give it its real name."""
    new = Path(tempfile.mkdtemp(prefix=_NEW_PREFIX, dir=base))
    owner = os.open(new / OWNER, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        root = base / f"{ROOT_PREFIX}{os.getpid()}-{new.name.removeprefix(_NEW_PREFIX)}"
        os.rename(new, root)
    except BaseException:
        os.close(owner)
        shutil.rmtree(new, ignore_errors=True)
        raise
    return root, owner


def sweep(base: Path) -> list[Path]:
    """Remove the roots in ``base`` whose owner is gone (their lock is free); returns them."""
    swept: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return swept
    for entry in entries:
        if _ROOT.match(entry.name) and _abandoned(entry):
            swept.append(Path(entry.path))
    return swept


def _abandoned(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is one of our roots whose process is gone; if so it is removed."""
    try:
        if not entry.is_dir(follow_symlinks=False) or entry.stat().st_uid != os.getuid():
            return False
        fd = os.open(Path(entry.path) / OWNER, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:  # set up by a process that died before its lock was taken
        with contextlib.suppress(OSError):
            if time.time() - entry.stat().st_mtime > _SETUP_SECONDS:
                shutil.rmtree(entry.path, ignore_errors=True)
                return True
        return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its owner is alive
    else:
        shutil.rmtree(entry.path, ignore_errors=True)  # removed while we hold its lock
        return True
    finally:
        os.close(fd)
