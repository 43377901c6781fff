"""The storage directory: checked by ``nanobot check``, held by one runtime at a time.

Locks are POSIX record locks, which never conflict inside one process: every
holder here is a real ``nanobot`` (or Python) subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from nanobot_core.errors import ConfigError
from nanobot_core.sessions import FILE_NAME
from nanobot_core.storage import LOCK_NAME, StorageLock, check_storage

from .test_cli import NANOBOT, env_for, nanobot, one_error_line

# --- check_storage ----------------------------------------------------------------------------


def test_a_creatable_path_passes_and_nothing_is_left(tmp_path: Path) -> None:
    assert check_storage(tmp_path / "a" / "b") is None
    assert check_storage(tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_a_file_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert (
        check_storage(tmp_path / "file") == f"storage.path: {tmp_path / 'file'} is not a directory"
    )
    assert check_storage(tmp_path / "file" / "sub") == (
        f"storage.path: {tmp_path / 'file'} is not a directory"
    )


def test_a_database_that_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).mkdir()
    assert check_storage(tmp_path) == f"storage.path: {tmp_path / FILE_NAME} is not a writable file"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_under_proc_fails() -> None:
    assert check_storage(Path("/proc/nanobot")) == (
        "storage.path: cannot create /proc/nanobot: No such file or directory"
    )


@contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A small tmpfs of our own (we run as root in CI); skip where mounting is not allowed."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_a_read_only_mount_fails(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "size=1m,ro") as ro:
        assert check_storage(ro) == f"storage.path: cannot write in {ro}: Read-only file system"
        assert check_storage(ro / "x") == (
            f"storage.path: cannot create {ro / 'x'}: Read-only file system"
        )


# --- nanobot check / chat / run on a storage path they cannot use ------------------------------


def storage_config(home: Path, path: Path) -> None:
    (home / "nanobot.toml").write_text(f"[storage]\npath = '{path}'\n[channels.console]\n")


@pytest.mark.parametrize("command", ["check", "chat", "run"])
def test_a_storage_path_that_is_a_file_is_one_line(home: Path, command: str) -> None:
    (home / "taken").write_text("")
    storage_config(home, home / "taken")
    result = nanobot(home, command, *(["-m", "hi"] if command == "chat" else []))
    assert result.returncode == 1, result.stderr
    assert one_error_line(result) == f"error: storage.path: {home / 'taken'} is not a directory"
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("command", ["check", "chat", "run"])
def test_a_storage_path_under_proc_is_one_line(home: Path, command: str) -> None:
    storage_config(home, Path("/proc/nanobot"))
    result = nanobot(home, command, *(["-m", "hi"] if command == "chat" else []))
    assert result.returncode == 1, result.stderr
    assert one_error_line(result).startswith("error: storage.path: cannot ")
    assert "/proc/nanobot: No such file or directory" in one_error_line(result)
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("command", ["check", "chat", "run"])
def test_a_read_only_store_is_one_line_exit_1(home: Path, command: str) -> None:
    with tmpfs(home / "ro", "size=1m,ro") as ro:
        storage_config(home, ro)
        result = nanobot(home, command, *(["-m", "hi"] if command == "chat" else []))
    assert result.returncode == 1, result.stderr
    assert one_error_line(result).startswith("error: storage.path: cannot ")
    assert "Read-only file system" in one_error_line(result)


def test_a_full_disk_at_start_up_is_one_line_exit_1(home: Path) -> None:
    with tmpfs(home / "full", "size=256k") as full:
        storage_config(home, full / "store")
        (full / "store").mkdir()
        (full / "store" / LOCK_NAME).touch()
        fd = os.open(full / "filler", os.O_WRONLY | os.O_CREAT)
        try:  # every block taken
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        result = nanobot(home, "chat", "-m", "hi")
        checked = nanobot(home, "check")
    assert result.returncode == 1, result.stderr
    line = one_error_line(result)
    assert line == (
        f"error: cannot open the session store {full / 'store' / FILE_NAME}: "
        "database or disk is full"
    )
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert checked.returncode == 1
    assert one_error_line(checked) == (
        f"error: storage.path: the disk holding {full / 'store'} is full (0 KB free)"
    )


# --- one runtime per store ---------------------------------------------------------------------


@contextmanager
def running(home: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``nanobot ARGS`` (a console REPL) answering, until the block ends."""
    process = subprocess.Popen(
        [*NANOBOT, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=home,
        env=env_for(home),
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("ping\n")
        process.stdin.flush()
        assert process.stdout.readline() == "echo: ping\n"
        yield process
    finally:
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def test_a_second_run_on_one_store_refuses_naming_the_path_and_the_pid(home: Path) -> None:
    storage_config(home, home / "store")
    with running(home, "run") as first:
        second = nanobot(home, "run")
        assert second.returncode == 1
        assert one_error_line(second) == (
            f"error: storage.path: {home / 'store'} is in use by nanobot run (pid {first.pid});"
            " one runtime uses a store at a time (stop it, or give this one its own"
            " [storage] path)"
        )
        assert second.stdout == ""
        chat = nanobot(home, "chat", "-m", "hi")
        assert chat.returncode == 1
        assert f"in use by nanobot run (pid {first.pid})" in one_error_line(chat)
    after = nanobot(home, "run", stdin="again\n")
    assert after.returncode == 0, after.stderr
    assert after.stdout == "echo: again\n"


def test_chats_share_a_store_and_keep_a_run_out(home: Path) -> None:
    storage_config(home, home / "store")
    with running(home, "chat", "--session", "a") as repl:
        other = nanobot(home, "chat", "--session", "b", "-m", "hi")
        assert other.returncode == 0, other.stderr
        assert other.stdout == "echo: hi\n"
        run = nanobot(home, "run")
        assert run.returncode == 1
        assert f"in use by nanobot chat (pid {repl.pid})" in one_error_line(run)


HOLDER = """
import sys, time
from pathlib import Path
from nanobot_core.storage import StorageLock
lock = StorageLock.acquire(Path(sys.argv[1]), exclusive=sys.argv[2] == "x")
print("held", flush=True)
time.sleep(60)
"""


@contextmanager
def held(path: Path, exclusive: bool) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), "x" if exclusive else "s"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "held\n"
        yield process
    finally:
        process.kill()
        process.wait()
        if process.stdout:
            process.stdout.close()


def test_the_kernel_releases_the_lock_when_its_holder_is_killed(tmp_path: Path) -> None:
    with held(tmp_path, exclusive=True) as holder:
        with pytest.raises(ConfigError, match=f"nanobot run \\(pid {holder.pid}\\)"):
            StorageLock.acquire(tmp_path, exclusive=False)
        holder.kill()  # SIGKILL: no clean-up of its own
        holder.wait()
        deadline = time.monotonic() + 5
        while True:
            try:
                lock = StorageLock.acquire(tmp_path, exclusive=True)
                break
            except ConfigError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    lock.release()
    assert (tmp_path / LOCK_NAME).exists()


def test_shared_holders_keep_an_exclusive_one_out(tmp_path: Path) -> None:
    with held(tmp_path, exclusive=False) as holder:
        with StorageLock.acquire(tmp_path, exclusive=False):
            pass  # shared beside shared
        with pytest.raises(ConfigError, match=f"nanobot chat \\(pid {holder.pid}\\)"):
            StorageLock.acquire(tmp_path, exclusive=True)
    assert os.listdir(tmp_path) == [LOCK_NAME]


def test_the_documented_refusal_is_the_one_printed() -> None:
    from nanobot_core.storage import _in_use

    docs = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    line = _in_use(Path("/home/me/.local/share/nanobot"), "nanobot run (pid 4242)")
    assert f"error: {line}\n" in docs


def test_a_store_that_is_not_a_database_is_one_line(home: Path) -> None:
    (home / "store").mkdir()
    (home / "store" / FILE_NAME).write_bytes(b"not sqlite at all, " * 100)
    storage_config(home, home / "store")
    result = nanobot(home, "chat", "-m", "hi")
    assert result.returncode == 1, result.stderr
    assert one_error_line(result) == (
        f"error: cannot open the session store {home / 'store' / FILE_NAME}: file is not a database"
    )
    assert len(result.stderr.splitlines()) == 1
