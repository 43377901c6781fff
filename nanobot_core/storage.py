"""The storage directory: checked before use, and held by one runtime at a time.

``nanobot run`` holds ``<storage>/nanobot.lock`` exclusively and ``nanobot chat``
holds it shared, as a POSIX record lock the kernel releases when the process
ends however it ends (SIGKILL and OOM included). So two ``run`` on one store, or a
``chat`` beside a ``run``, refuse to start with one line naming the other
process; several ``chat`` may share a store (SQLite serialises their writes).
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from .errors import ConfigError
from .sessions import FILE_NAME as SESSIONS_FILE

LOCK_NAME = "nanobot.lock"
KEY = "storage.path"
MIN_FREE_BYTES = 1_000_000  # SQLite needs room for its WAL and a few pages to start


def check_storage(path: Path) -> str | None:
    """Why ``path`` cannot hold the store, in one line, or None. Leaves nothing behind.

    The directory must exist or be creatable, and nanobot must be able to create
    files in it: the nearest existing folder is tried with a real temporary entry,
    which also catches read-only mounts and pseudo file systems such as ``/proc``.
    """
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{KEY}: {existing} is not a directory"
    database = path / SESSIONS_FILE
    if database.exists() and not (database.is_file() and os.access(database, os.W_OK)):
        return f"{KEY}: {database} is not a writable file"
    try:
        if existing == path:
            fd, probe = tempfile.mkstemp(prefix=".nanobot-check-", dir=path)
            os.close(fd)
            os.unlink(probe)
        else:
            os.rmdir(tempfile.mkdtemp(prefix=".nanobot-check-", dir=existing))
    except OSError as error:
        verb = "write in" if existing == path else "create"
        return f"{KEY}: cannot {verb} {path}: {error.strerror}"
    disk = os.statvfs(existing)
    free = disk.f_bavail * disk.f_frsize
    if free < MIN_FREE_BYTES:
        return f"{KEY}: the disk holding {path} is full ({free // 1000} KB free)"
    return None


class StorageLock:
    """A held lock on a storage directory; ``release()`` (or the end of ``with``) lets go."""

    def __init__(self, path: Path, fd: int, *, exclusive: bool) -> None:
        self.path = path
        self.exclusive = exclusive
        """True for ``nanobot run``: no other process uses the store while this is held."""
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path, *, exclusive: bool) -> StorageLock:
        """Create ``directory`` if needed and lock it; ``ConfigError`` says who holds it."""
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            raise ConfigError(f"{KEY}: {directory} is not a directory") from None
        except OSError as error:
            raise ConfigError(f"{KEY}: cannot use {directory}: {error.strerror}") from None
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        for _ in range(3):  # the holder may go away between our try and our question
            try:
                fcntl.lockf(fd, mode | fcntl.LOCK_NB)
                return cls(directory, fd, exclusive=exclusive)
            except OSError as error:
                if error.errno not in (errno.EACCES, errno.EAGAIN):
                    os.close(fd)
                    raise ConfigError(f"{KEY}: cannot lock {directory}: {error.strerror}") from None
            holder = _holder(fd, exclusive)
            if holder is not None:
                os.close(fd)
                raise ConfigError(_in_use(directory, holder))
        os.close(fd)
        raise ConfigError(_in_use(directory, "another nanobot"))

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file drops the lock
            self._fd = None

    def __enter__(self) -> StorageLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _in_use(directory: Path, who: str) -> str:
    return (
        f"{KEY}: {directory} is in use by {who}; one runtime uses a store at a time"
        " (stop it, or give this one its own [storage] path)"
    )


# struct flock on Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid.
_FLOCK = "hhqqi"


def _holder(fd: int, exclusive: bool) -> str | None:
    """Who holds a lock that conflicts with ours ("nanobot run (pid 123)"), or None if nobody."""
    if not sys.platform.startswith("linux"):
        return "another nanobot"  # struct flock is laid out differently: no pid to name
    wanted = fcntl.F_WRLCK if exclusive else fcntl.F_RDLCK
    query = struct.pack(_FLOCK, wanted, os.SEEK_SET, 0, 0, 0)
    l_type, _, _, _, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))
    if l_type == fcntl.F_UNLCK:
        return None
    command = "nanobot run" if l_type == fcntl.F_WRLCK else "nanobot chat"
    return f"{command} (pid {pid})" if pid > 0 else command  # 0: in another pid namespace
