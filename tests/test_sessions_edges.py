"""The session store at its edges: odd limits, a broken file, failed and cancelled writes."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import trio
import trio.testing

from nanobot_core.errors import NanobotError
from nanobot_core.messages import ChatMessage
from nanobot_core.sessions import SessionStore


def user(text: str) -> ChatMessage:
    return ChatMessage.of("user", text)


def open_handles(path: Path) -> int:
    """How many file descriptors of this process point at ``path`` (Linux)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            count += os.readlink(fd) == str(path)
        except OSError:
            continue  # closed while listing
    return count


async def test_the_database_is_sessions_sqlite3_in_the_storage_directory(tmp_path: Path) -> None:
    # the documented file name (docs/limits.md): an upgrade must find the old file
    async with await SessionStore.open(tmp_path / "data") as store:
        assert store.path == tmp_path / "data" / "sessions.sqlite3"
        await store.append_turn("c", [user("hello")])
    assert (tmp_path / "data" / "sessions.sqlite3").is_file()


@pytest.mark.parametrize("limit", [-1, -5])
async def test_a_negative_history_limit_is_no_history(tmp_path: Path, limit: int) -> None:
    # SQLite reads LIMIT -1 as "no limit": it must not hand back the whole conversation
    async with await SessionStore.open(tmp_path) as store:
        await store.append_turn("c", [user("a"), user("b"), user("c")])
        assert await store.history("c", limit) == []


async def test_open_fails_loudly_on_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    path.write_bytes(b"this is not a database\n" * 200)
    with pytest.raises(
        NanobotError, match=r"cannot open the session store .*: file is not a database"
    ):
        await SessionStore.open(tmp_path)
    assert path.read_bytes() == b"this is not a database\n" * 200  # nothing was written


async def test_open_on_a_file_that_is_not_a_database_leaves_no_handle_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sessions.sqlite3"
    path.write_bytes(b"this is not a database\n" * 200)
    with pytest.raises(NanobotError):
        await SessionStore.open(tmp_path)
    assert open_handles(path) == 0


async def test_open_refuses_a_database_whose_tables_are_not_its_own(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE messages (body TEXT)")
    db.execute("INSERT INTO messages VALUES ('theirs')")
    db.commit()
    db.close()
    with pytest.raises(NanobotError, match=r"no such column: conversation"):
        await SessionStore.open(tmp_path)
    assert open_handles(path) == 0  # the half-opened connection was closed, not leaked
    db = sqlite3.connect(path)
    try:  # and none of its own tables were added
        assert db.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall() == [
            ("messages",)
        ]
        assert db.execute("SELECT body FROM messages").fetchall() == [("theirs",)]
    finally:
        db.close()


async def test_open_fails_when_the_storage_path_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "storage").write_text("a file, not a directory")
    with pytest.raises(NanobotError, match=r"cannot open the session store .*: File exists"):
        await SessionStore.open(tmp_path / "storage")


def add_trigger(directory: Path, action: str) -> None:
    db = sqlite3.connect(directory / "sessions.sqlite3")
    try:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.text = 'boom'"
            f" BEGIN SELECT RAISE({action}, 'disk says no'); END"
        )
        db.commit()
    finally:
        db.close()


async def test_the_store_recovers_after_a_failed_batch_transaction(tmp_path: Path) -> None:
    # RAISE(ROLLBACK) ends the whole transaction, not just the statement: the batch fails
    async with await SessionStore.open(tmp_path) as store:
        await store.append_turn("c", [user("first")])
        add_trigger(tmp_path, "ROLLBACK")
        with pytest.raises(sqlite3.Error):
            await store.append_turn("c", [user("second"), user("boom")])
        assert [m.text for m in await store.history("c", 10)] == ["first"]
        await store.append_turn("c", [user("still works")])
        await store.set_setting("c", "voice", "on")
        assert [m.text for m in await store.history("c", 10)] == ["first", "still works"]
        assert await store.get_setting("c", "voice") == "on"
    async with await SessionStore.open(tmp_path) as store:  # and it was all committed
        assert [m.text for m in await store.history("c", 10)] == ["first", "still works"]


async def test_a_failed_batch_reports_the_error_that_failed_it(tmp_path: Path) -> None:
    async with await SessionStore.open(tmp_path) as store:
        add_trigger(tmp_path, "ROLLBACK")
        try:
            await store.append_turn("c", [user("boom")])
        except sqlite3.Error as error:
            message = str(error)
        else:  # pragma: no cover - it must fail
            message = "stored"
        assert message == "disk says no"


async def test_a_write_cancelled_before_it_starts_is_never_written(tmp_path: Path) -> None:
    async with await SessionStore.open(tmp_path) as store:
        reached = False
        with trio.CancelScope() as scope:
            scope.cancel()
            await store.append_turn("early", [user("never")])
            reached = True  # pragma: no cover - the cancellation must propagate
        assert scope.cancelled_caught and not reached
        await store.append_turn("later", [user("next write")])  # a batch after it
        await store.set_setting("later", "k", "v")
        assert await store.history("early", 10) == []
        assert [m.text for m in await store.history("later", 10)] == ["next write"]


async def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = await SessionStore.open(tmp_path)
    await store.aclose()
    for call in (
        store.history("c", 1),
        store.append_turn("c", [user("late")]),
        store.reset("c"),
        store.get_setting("c", "k"),
        store.set_setting("c", "k", "v"),
    ):
        with pytest.raises(RuntimeError) as closed:
            await call
        assert str(closed.value) == "the session store is closed"


async def test_a_write_waiting_while_the_store_closes_is_refused(tmp_path: Path) -> None:
    store = await SessionStore.open(tmp_path)
    other = sqlite3.connect(tmp_path / "sessions.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock for a moment
    outcomes: dict[str, object] = {}

    async def write(name: str) -> None:
        try:
            await store.append_turn(name, [user(name)])
            outcomes[name] = "stored"
        except RuntimeError as error:
            outcomes[name] = str(error)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write, "first")  # waits in SQLite for the other process
            await trio.sleep(0.05)
            nursery.start_soon(store.aclose)  # waits for the first write to finish
            await trio.sleep(0.05)
            nursery.start_soon(write, "second")  # arrives while the store is closing
            await trio.sleep(0.05)
            other.execute("ROLLBACK")
    finally:
        other.close()
    assert outcomes == {"first": "stored", "second": "the session store is closed"}
    db = sqlite3.connect(tmp_path / "sessions.sqlite3")
    try:
        rows = db.execute("SELECT conversation FROM messages").fetchall()
    finally:
        db.close()
    assert rows == [("first",)]


async def test_closing_closes_every_connection(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    store = await SessionStore.open(tmp_path)
    await store.append_turn("c", [user("hello")])
    async with trio.open_nursery() as nursery:  # several readers at once
        for _ in range(8):
            nursery.start_soon(store.history, "c", 10)
    for _ in range(8):
        await store.get_setting("c", "k")
    assert open_handles(path) >= 2
    await store.aclose()
    assert open_handles(path) == 0


async def test_a_read_in_progress_while_the_store_closes_leaves_no_connection(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sessions.sqlite3"
    store = await SessionStore.open(tmp_path)
    await store.append_turn("big", [user(f"message {i}") for i in range(100_000)])
    finished: list[int] = []

    async def read() -> None:
        finished.append(len(await store.history("big", 1_000_000)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()  # the read is in its thread now
        await store.aclose()
    assert finished == [100_000]  # the read still completes
    assert open_handles(path) == 0  # and its connection was closed after it
