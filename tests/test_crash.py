"""Crashes and full disks, with real processes and real SQLite.

``crash_child.py`` is the real runtime behind a pipe: a line in is a platform
message, ``A`` out is the platform's acknowledgement (``submit`` accepted it),
``R`` out is a reply shown. The test plays the platform: it redelivers what was
not acknowledged, sometimes delivers twice, and SIGKILLs the process at random.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from nanobot_core.sessions import FILE_NAME

CHILD = Path(__file__).with_name("crash_child.py")
TURNS = int(os.environ.get("NANOBOT_CRASH_TURNS", "500"))
CHATS = 20
KILLS = 10


class Child:
    """One run of crash_child.py; its output lines are collected by a thread."""

    def __init__(self, storage: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), str(storage)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.lines: list[list[str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            fields = [f.replace("\\n", "\n").replace("\\\\", "\\") for f in line[:-1].split("\t")]
            self.lines.append(fields)

    def deliver(self, messages: list[tuple[str, str, str]]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write("".join(f"{i}\t{c}\t{t}\n" for i, c, t in messages))
            self.process.stdin.flush()
        except BrokenPipeError:
            pass  # killed meanwhile: the platform redelivers what was not acknowledged

    def trickle(self, messages: list[tuple[str, str, str]], batch: int = 10) -> None:
        """Deliver a few messages at a time, as users write them."""
        for start in range(0, len(messages), batch):
            if self.process.poll() is not None:
                return
            self.deliver(messages[start : start + batch])
            time.sleep(0.002)

    def replies(self) -> int:
        return sum(1 for line in self.lines if line[0] == "R")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.finish()

    def finish(self, timeout: float = 30) -> str:
        assert self.process.stdin is not None
        with suppress(BrokenPipeError):
            self.process.stdin.close()
        self.process.wait(timeout)
        self._reader.join(timeout)
        assert self.process.stdout is not None and self.process.stderr is not None
        stderr = self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        return stderr


def messages_for(turns: int) -> list[tuple[str, str, str]]:
    return [(f"m{n}", f"chat{n % CHATS}", f"message {n} of chat {n % CHATS}") for n in range(turns)]


def child_env(tmp_path: Path) -> dict[str, str]:
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}


def test_sigkill_at_random_points_loses_no_shown_reply_and_answers_each_message_once(
    tmp_path: Path,
) -> None:
    storage = tmp_path / "storage"
    env = child_env(tmp_path)
    messages = messages_for(TURNS)
    rng = random.Random(13)
    acked: set[str] = set()
    shown: defaultdict[str, list[str]] = defaultdict(list)
    for run in range(KILLS + 1):
        child = Child(storage, env)
        # the platform delivers what was never acknowledged, and now and then an old one again
        pending = [m for m in messages if m[0] not in acked]
        again = [m for m in messages if m[0] in acked and rng.random() < 0.05]
        feeder = threading.Thread(target=child.trickle, args=(again + pending,), daemon=True)
        feeder.start()
        if run < KILLS:  # kill once a random number of replies were shown (0: during start-up)
            target = rng.randrange(0, 60)
            deadline = time.monotonic() + 10
            while child.replies() < target and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(rng.random() * 0.005)
            child.kill()
            feeder.join()
        else:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                seen = {line[1] for line in child.lines if line[0] == "R"} | set(shown)
                if all(m[0] in seen for m in messages):
                    break
                time.sleep(0.01)
            feeder.join()
            stderr = child.finish()
            assert child.process.returncode == 0, stderr
        for line in child.lines:
            if line[0] == "A":
                acked.add(line[1])
            elif line[0] == "R":
                shown[line[1]].append(line[3])

    with sqlite3.connect(storage / FILE_NAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        users = db.execute(
            "SELECT conversation, text FROM messages WHERE role = 'user' ORDER BY id"
        ).fetchall()
        open_entries = db.execute("SELECT count(*) FROM inbox WHERE state != 'done'").fetchone()
    stored = Counter(text for _, text in users)
    by_text = {text: message_id for message_id, _, text in messages}
    # every accepted message was answered, and was run exactly once
    assert acked == {m[0] for m in messages}
    assert all(shown[m[0]] for m in messages)
    assert all(stored[text] == 1 for _, _, text in messages), [
        t for t, n in stored.items() if n != 1
    ]
    # every reply shown is in the history; a reply shown twice (killed between showing
    # it and marking it done) is the same stored reply sent again, never a second run
    for message_id, _, text in messages:
        assert set(shown[message_id]) == {f"echo: {text}"}
    # each chat's history is in the order its messages were sent
    for chat in range(CHATS):
        order = [
            int(by_text[text].removeprefix("m"))
            for conversation, text in users
            if conversation == f"pipe:chat{chat}"
        ]
        assert order == sorted(order)
    assert open_entries == (0,)


@contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> None:
    """Leave no free block on the filesystem."""
    fd = os.open(path / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def test_a_full_disk_tells_the_user_each_turn_that_could_not_be_stored(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        storage = disk / "storage"
        env = child_env(tmp_path)
        child = Child(storage, env)
        child.deliver([("w0", "chat0", "warm up")])  # the store is open, with room to spare
        deadline = time.monotonic() + 20
        while not child.replies() and time.monotonic() < deadline:
            time.sleep(0.01)
        fill(disk)
        big = "x" * 20_000
        messages = [(f"m{n}", f"chat{n % 4}", f"{n} {big}") for n in range(12)]
        child.deliver(messages)
        deadline = time.monotonic() + 30
        while child.replies() < len(messages) + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        stderr = child.finish()
        replies = [line for line in child.lines if line[0] == "R" and line[1] != "w0"]
        assert len(replies) == len(messages), stderr
        with sqlite3.connect(storage / FILE_NAME) as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            stored = {
                text.split(" ")[0]
                for (text,) in db.execute("SELECT text FROM messages WHERE role = 'user'")
            }
    not_saved = [r for r in replies if "(This answer could not be saved" in r[3]]
    assert not_saved, "the disk never filled up"
    for _, message_id, status, text in replies:
        n = message_id.removeprefix("m")
        if n in stored:
            assert status == "ok" and text == f"echo: {n} {big}"
        else:  # the answer, then one line saying it was not kept, as a failure
            assert status == "failed"
            assert (
                text
                == f"echo: {n} {big}\n\n(This answer could not be saved: database or disk is full.)"
            )
    lines = [line for line in stderr.splitlines() if "could not store the turn" in line]
    assert len(lines) == len(not_saved)
    assert "Traceback" not in stderr


def test_nanobot_chat_on_a_full_disk_shows_the_answer_says_it_was_not_saved_and_exits_2(
    tmp_path: Path,
) -> None:
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        config = tmp_path / "nanobot.toml"
        config.write_text(f'[storage]\npath = "{disk / "storage"}"\n\n[channels.console]\n')
        chat = subprocess.Popen(
            [sys.executable, "-m", "nanobot_core", "chat", "-c", str(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=child_env(tmp_path), text=True,
        )  # fmt: skip
        assert chat.stdin is not None and chat.stdout is not None
        chat.stdin.write("warm up\n")
        chat.stdin.flush()
        assert chat.stdout.readline() == "echo: warm up\n"
        fill(disk)
        stdout, stderr = chat.communicate("remember " + "x" * 50_000 + "\n", timeout=30)
    assert stdout == ""
    assert stderr.splitlines()[-3:] == [
        "echo: remember " + "x" * 50_000,
        "",
        "(This answer could not be saved: database or disk is full.)",
    ]
    assert "Traceback" not in stderr
    [logged] = [line for line in stderr.splitlines() if "could not store the turn" in line]
    assert logged.endswith("could not store the turn of console:local: database or disk is full")
    assert chat.returncode == 2


def test_nanobot_chat_whose_reply_cannot_be_shown_ends_and_keeps_the_turn(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    config = tmp_path / "nanobot.toml"
    config.write_text(f'[storage]\npath = "{storage}"\n\n[channels.console]\n')
    read_end, write_end = os.pipe()
    os.close(read_end)  # whoever reads our stdout has gone: every write fails (EPIPE)
    try:
        chat = subprocess.run(
            [sys.executable, "-m", "nanobot_core", "chat", "-c", str(config), "-m", "hello"],
            stdout=write_end, stderr=subprocess.PIPE, env=child_env(tmp_path), text=True,
            timeout=30,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert "channel console could not send a reply" in chat.stderr
    with sqlite3.connect(storage / FILE_NAME) as db:
        assert db.execute("SELECT role, text FROM messages").fetchall() == [
            ("user", "hello"),
            ("assistant", "echo: hello"),
        ]


def test_nanobot_chat_on_a_full_disk_with_no_store_yet_is_one_line_and_exit_1(
    tmp_path: Path,
) -> None:
    with small_tmpfs(tmp_path / "disk", "1m") as disk:
        (disk / "storage").mkdir()
        fill(disk)
        config = tmp_path / "nanobot.toml"
        config.write_text(f'[storage]\npath = "{disk / "storage"}"\n\n[channels.console]\n')
        chat = subprocess.run(
            [sys.executable, "-m", "nanobot_core", "chat", "-c", str(config), "-m", "hi"],
            capture_output=True, env=child_env(tmp_path), text=True, timeout=30,
        )  # fmt: skip
    assert chat.returncode == 1
    assert chat.stderr.splitlines() == [
        f"error: cannot open the session store {disk / 'storage' / FILE_NAME}: "
        "database or disk is full"
    ]
