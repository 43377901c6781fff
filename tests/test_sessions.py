"""The session store: history, turns as transactions, settings, no image bytes, durability."""

from __future__ import annotations

import base64
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from nanobot_core.messages import ChatMessage, ImagePart, TextPart, ToolCall
from nanobot_core.sessions import FILE_NAME, SessionStore


def user(text: str) -> ChatMessage:
    return ChatMessage.of("user", text)


def assistant(text: str) -> ChatMessage:
    return ChatMessage.of("assistant", text)


def raw(directory: Path) -> sqlite3.Connection:
    return sqlite3.connect(directory / FILE_NAME)


async def test_open_creates_directory_schema_and_wal(tmp_path: Path) -> None:
    directory = tmp_path / "deep" / "data"
    async with await SessionStore.open(directory) as store:
        assert store.path == directory / FILE_NAME
        assert store.path.is_file()
    db = raw(directory)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert {"messages", "settings"} <= tables
        assert db.execute("PRAGMA user_version").fetchone() == (1,)
    finally:
        db.close()


async def test_turn_round_trips_every_field(tmp_path: Path) -> None:
    turn = [
        user("what's the weather in Paris?"),
        ChatMessage(
            role="assistant",
            tool_calls=(ToolCall("call_1", "weather", '{"city": "Paris"}'),),
            extra={"reasoning_content": "need the tool", "n": [1, 2]},
        ),
        ChatMessage.of("tool", "18°C, cloudy", tool_call_id="call_1"),
        assistant("It's 18°C and cloudy in Paris."),
    ]
    async with await SessionStore.open(tmp_path) as store:
        await store.append_turn("tg:1", turn)
        assert await store.history("tg:1", 10) == turn
    async with await SessionStore.open(tmp_path) as store:  # and after reopening
        assert await store.history("tg:1", 10) == turn


async def test_history_is_the_last_messages_oldest_first(tmp_path: Path) -> None:
    async with await SessionStore.open(tmp_path) as store:
        for i in range(5):
            await store.append_turn("c", [user(f"q{i}"), assistant(f"a{i}")])
        recent = await store.history("c", 3)
        assert [m.text for m in recent] == ["a3", "q4", "a4"]
        assert len(await store.history("c", 100)) == 10
        assert await store.history("c", 0) == []
        assert await store.history("unknown", 10) == []


async def test_history_never_starts_with_orphaned_tool_results(tmp_path: Path) -> None:
    calls = (ToolCall("1", "a", "{}"), ToolCall("2", "b", "{}"))
    turn = [
        user("go"),
        ChatMessage(role="assistant", tool_calls=calls),
        ChatMessage.of("tool", "r1", tool_call_id="1"),
        ChatMessage.of("tool", "r2", tool_call_id="2"),
        assistant("done"),
    ]
    async with await SessionStore.open(tmp_path) as store:
        await store.append_turn("c", turn)
        assert await store.history("c", 3) == [assistant("done")]
        assert await store.history("c", 4) == turn[1:]


async def test_conversations_are_separate(tmp_path: Path) -> None:
    async with await SessionStore.open(tmp_path) as store:
        await store.append_turn("a", [user("for a")])
        await store.append_turn("b", [user("for b")])
        assert [m.text for m in await store.history("a", 10)] == ["for a"]
        assert [m.text for m in await store.history("b", 10)] == ["for b"]


async def test_reset_clears_messages_but_keeps_settings(tmp_path: Path) -> None:
    async with await SessionStore.open(tmp_path) as store:
        await store.append_turn("a", [user("hello"), assistant("hi")])
        await store.append_turn("b", [user("other chat")])
        await store.set_setting("a", "voice", "on")
        await store.reset("a")
        assert await store.history("a", 10) == []
        assert await store.get_setting("a", "voice") == "on"
        assert len(await store.history("b", 10)) == 1
        await store.append_turn("a", [user("again")])
        assert [m.text for m in await store.history("a", 10)] == ["again"]


async def test_settings(tmp_path: Path) -> None:
    async with await SessionStore.open(tmp_path) as store:
        assert await store.get_setting("a", "voice") is None
        await store.set_setting("a", "voice", "on")
        await store.set_setting("a", "voice", "off")
        await store.set_setting("b", "voice", "on")
        assert await store.get_setting("a", "voice") == "off"
        assert await store.get_setting("b", "voice") == "on"
        await store.set_setting("a", "voice", None)
        assert await store.get_setting("a", "voice") is None
    async with await SessionStore.open(tmp_path) as store:
        assert await store.get_setting("b", "voice") == "on"


def stored_bytes(directory: Path) -> tuple[int, bytes]:
    files = sorted(directory.glob(FILE_NAME + "*"))  # the database, its -wal and -shm
    return sum(f.stat().st_size for f in files), b"".join(f.read_bytes() for f in files)


async def test_images_are_stored_as_a_short_line_never_as_bytes(tmp_path: Path) -> None:
    image = os.urandom(100 * 1024)
    encoded = base64.b64encode(image)
    message = ChatMessage(
        role="user",
        content=(TextPart("what is this?"), ImagePart(image, "image/png", "photo.png, 640x480")),
    )
    async with await SessionStore.open(tmp_path) as store:
        await store.append_turn("c", [user("warm up")])
        before, _ = stored_bytes(tmp_path)
        await store.append_turn("c", [message, assistant("a cat")])
        after, contents = stored_bytes(tmp_path)
        history = await store.history("c", 10)
    assert after - before < 20 * 1024
    for blob in (contents, stored_bytes(tmp_path)[1]):  # with the WAL, then checkpointed
        for start in range(0, len(image) - 64, 8192):
            assert image[start : start + 64] not in blob
            assert encoded[start : start + 64] not in blob
    assert history[1] == user("what is this?\n[image: photo.png, 640x480]")


async def test_a_turn_is_stored_whole_or_not_at_all(tmp_path: Path) -> None:
    async with await SessionStore.open(tmp_path) as store:
        await store.append_turn("c", [user("first")])
        db = raw(tmp_path)
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.text = 'boom'"
            " BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
        db.commit()
        db.close()
        with pytest.raises(sqlite3.IntegrityError, match="disk says no"):
            await store.append_turn("c", [user("second"), assistant("boom"), user("third")])
        assert [m.text for m in await store.history("c", 10)] == ["first"]
        await store.append_turn("c", [user("still works")])  # no transaction left open
        assert [m.text for m in await store.history("c", 10)] == ["first", "still works"]


async def test_cancelled_turns_are_whole_or_absent(tmp_path: Path) -> None:
    turn = [user("q"), assistant("a"), user("more")]
    async with await SessionStore.open(tmp_path) as store:
        with trio.CancelScope() as scope:
            scope.cancel()
            await store.append_turn("early", turn)
        assert await store.history("early", 10) == []

        async with trio.open_nursery() as nursery:
            for i in range(40):
                nursery.start_soon(store.append_turn, f"chat{i}", turn)
            await trio.sleep(0.005)
            nursery.cancel_scope.cancel()
        counts = [len(await store.history(f"chat{i}", 10)) for i in range(40)]
        assert set(counts) <= {0, 3}
        await store.append_turn("after", turn)
        assert await store.history("after", 10) == turn


async def test_concurrent_tasks_keep_each_chat_in_order(tmp_path: Path) -> None:
    async with await SessionStore.open(tmp_path) as store:

        async def chat(name: str) -> None:
            for i in range(15):
                await store.append_turn(name, [user(f"{name} q{i}"), assistant(f"{name} a{i}")])
                history = await store.history(name, 2)
                assert [m.text for m in history] == [f"{name} q{i}", f"{name} a{i}"]

        async with trio.open_nursery() as nursery:
            for c in range(12):
                nursery.start_soon(chat, f"chat{c}")
        for c in range(12):
            texts = [m.text for m in await store.history(f"chat{c}", 100)]
            assert texts == [f"chat{c} {k}{i}" for i in range(15) for k in "qa"]


async def test_reads_proceed_while_another_process_holds_the_write_lock(
    tmp_path: Path,
) -> None:
    async with await SessionStore.open(tmp_path) as store:
        await store.append_turn("c", [user("hello")])
        other = sqlite3.connect(tmp_path / FILE_NAME, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO settings VALUES ('c', 'pending', 'x')")
        try:
            assert [m.text for m in await store.history("c", 10)] == ["hello"]
            assert await store.get_setting("c", "pending") is None  # not committed yet
        finally:
            other.execute("COMMIT")
            other.close()
        assert await store.get_setting("c", "pending") == "x"


async def test_closing_inside_a_cancelled_scope_still_closes(tmp_path: Path) -> None:
    with trio.CancelScope() as scope:
        async with await SessionStore.open(tmp_path) as store:
            await store.append_turn("c", [user("hello")])
            scope.cancel()
            await trio.sleep(1)  # cancelled here; __aexit__ runs in the cancelled scope
    assert scope.cancelled_caught
    with pytest.raises(RuntimeError, match="closed"):
        await store.history("c", 1)
    assert not (tmp_path / (FILE_NAME + "-wal")).exists()  # last close checkpointed the WAL


async def test_closed_store(tmp_path: Path) -> None:
    store = await SessionStore.open(tmp_path)
    await store.history("c", 1)
    await store.aclose()
    await store.aclose()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await store.append_turn("c", [user("late")])
    with pytest.raises(RuntimeError, match="closed"):
        await store.history("c", 1)


# --- durability: a real process killed with SIGKILL ------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    import time
    from pathlib import Path

    import trio

    from nanobot_core.messages import ChatMessage
    from nanobot_core.sessions import SessionStore

    async def main(directory: str, mode: str, size: str) -> None:
        store = await SessionStore.open(Path(directory))
        turn = 0
        while True:
            started = time.perf_counter()
            await store.append_turn("chat", [
                ChatMessage.of("user", f"turn {turn} message {i} " + "x" * 1000)
                for i in range(int(size))
            ])
            print(turn, time.perf_counter() - started, flush=True)  # committed
            turn += 1
            if mode == "idle":
                await trio.to_thread.run_sync(sys.stdin.readline)

    trio.run(main, *sys.argv[1:])
    """
)


@pytest.mark.parametrize(("mode", "size"), [("idle", 3), ("busy", 400)])
def test_sigkill_never_loses_or_corrupts_a_committed_turn(
    tmp_path: Path, mode: str, size: int
) -> None:
    """``idle``: killed while waiting between turns; ``busy``: killed at a random moment
    while it writes large turns back to back, most often in the middle of one."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), mode, str(size)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        committed, duration = -1, 0.0
        while committed < 20:
            number, seconds = child.stdout.readline().split()
            committed, duration = int(number), float(seconds)
            if mode == "idle" and committed < 20:
                child.stdin.write("\n")
                child.stdin.flush()
        if mode == "busy":
            time.sleep(random.uniform(0.2, 1.8) * duration)  # where it lands varies, not a check
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        child.stdin.close()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    db = raw(tmp_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        texts = [row[0] for row in db.execute("SELECT text FROM messages ORDER BY id")]
    finally:
        db.close()
    turns, rest = divmod(len(texts), size)
    assert rest == 0  # no half turn
    assert turns >= committed + 1  # every turn it reported committed is there
    if mode == "idle":
        assert turns == committed + 1
    expected = [f"turn {t} message {i} " + "x" * 1000 for t in range(turns) for i in range(size)]
    assert texts == expected


async def test_group_commit_keeps_each_write_all_or_nothing(tmp_path: Path) -> None:
    """Writes queued behind a commit share one transaction; a failing one spoils no other."""
    import sqlite3 as sqlite

    async with await SessionStore.open(tmp_path) as store:
        failures: list[BaseException] = []

        async def bad() -> None:
            try:
                await store.write(lambda db: db.execute("INSERT INTO nowhere VALUES (1)"))
            except sqlite.OperationalError as error:
                failures.append(error)

        async with trio.open_nursery() as nursery:
            await store._write_lock.acquire()  # hold the writer so everything below queues up
            for i in range(5):
                nursery.start_soon(store.append_turn, f"c{i}", [ChatMessage.of("user", f"m{i}")])
            nursery.start_soon(bad)
            await trio.testing.wait_all_tasks_blocked()
            assert len(store._pending) == 6
            store._write_lock.release()
        assert len(failures) == 1 and "nowhere" in str(failures[0])
        for i in range(5):
            assert [m.text for m in await store.history(f"c{i}", 10)] == [f"m{i}"]


async def test_write_soon_rides_with_the_next_commit_and_close_commits_the_rest(
    tmp_path: Path,
) -> None:
    def count() -> int:
        with sqlite3.connect(tmp_path / FILE_NAME) as db:
            return int(db.execute("SELECT count(*) FROM settings").fetchone()[0])

    def put(key: str) -> Any:
        return lambda db: db.execute("INSERT INTO settings VALUES ('c', ?, 'v')", (key,))

    store = await SessionStore.open(tmp_path)
    store.write_soon(put("a"))
    assert count() == 0  # queued, not committed
    await store.flush()
    assert count() == 1
    store.write_soon(put("b"))
    await store.set_setting("c", "voice", "on")  # the next write carries it along
    assert count() == 3
    store.write_soon(put("d"))
    await store.aclose()
    assert count() == 4
