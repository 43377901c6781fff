"""Session store: turns appended per second and history reads per second.

Run: ``python benchmarks/bench_sessions.py``. Medians of several runs, each on a
fresh database in a temporary directory, beside plain ``sqlite3`` on the same
schema in the calling thread (what the store adds: a worker thread per call and
the trio lock), with ``synchronous = FULL`` (what the store uses) and ``NORMAL``
(what durability against power loss costs).

A turn here is a user message and an assistant reply of typical length.
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from nanobot_core.messages import ChatMessage
from nanobot_core.sessions import FILE_NAME, SessionStore

RUNS = 5
TURNS = 400
CONCURRENT = 32
HISTORY = 40

TURN = [
    ChatMessage.of("user", "Can you summarise the meeting notes I sent this morning? " * 3),
    ChatMessage.of("assistant", "Here is a summary of the notes. " * 25),
]


def median_rate(run: Callable[[Path], float]) -> float:
    rates = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as directory:
            rates.append(run(Path(directory)))
    return statistics.median(rates)


def on_fresh_store(body: Callable[[SessionStore], Awaitable[float]]) -> Callable[[Path], float]:
    def run(directory: Path) -> float:
        async def main() -> float:
            async with await SessionStore.open(directory) as store:
                return await body(store)

        return trio.run(main)

    return run


async def append_sequential(store: SessionStore) -> float:
    start = time.perf_counter()
    for i in range(TURNS):
        await store.append_turn(f"chat{i % 10}", TURN)
    return TURNS / (time.perf_counter() - start)


async def append_concurrent(store: SessionStore) -> float:
    per_chat = TURNS // CONCURRENT

    async def chat(n: int) -> None:
        for _ in range(per_chat):
            await store.append_turn(f"chat{n}", TURN)

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for n in range(CONCURRENT):
            nursery.start_soon(chat, n)
    return CONCURRENT * per_chat / (time.perf_counter() - start)


async def loop_lag_while_appending(store: SessionStore) -> float:
    """Worst lateness (ms) of a 1 ms probe sleep while 32 chats append turns."""
    worst = 0.0

    async def probe(cancel: trio.CancelScope) -> None:
        nonlocal worst
        with cancel:
            while True:
                before = trio.current_time()
                await trio.sleep(0.001)
                worst = max(worst, trio.current_time() - before - 0.001)

    async with trio.open_nursery() as nursery:
        probe_scope = trio.CancelScope()
        nursery.start_soon(probe, probe_scope)
        await append_concurrent(store)
        probe_scope.cancel()
    return worst * 1000


def reads(*, concurrent: bool) -> Callable[[SessionStore], Awaitable[float]]:
    per_chat = 30

    async def body(store: SessionStore) -> float:
        for n in range(CONCURRENT):
            for _ in range(HISTORY):  # 2 * HISTORY messages per chat
                await store.append_turn(f"chat{n}", TURN)

        async def chat(n: int) -> None:
            for _ in range(per_chat):
                messages = await store.history(f"chat{n}", HISTORY)
                assert len(messages) == HISTORY

        start = time.perf_counter()
        if concurrent:
            async with trio.open_nursery() as nursery:
                for n in range(CONCURRENT):
                    nursery.start_soon(chat, n)
        else:
            for n in range(CONCURRENT):
                await chat(n)
        return CONCURRENT * per_chat / (time.perf_counter() - start)

    return body


def plain_sqlite(synchronous: str) -> Callable[[Path], float]:
    def run(directory: Path) -> float:
        db = sqlite3.connect(directory / FILE_NAME, isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {synchronous}")
        db.execute(
            "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation TEXT,"
            " role TEXT, text TEXT, tool_calls TEXT, tool_call_id TEXT, extra TEXT, created REAL)"
        )
        rows = [(m.role, m.text) for m in TURN]
        start = time.perf_counter()
        for i in range(TURNS):
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO messages (conversation, role, text, created) VALUES (?, ?, ?, ?)",
                [(f"chat{i % 10}", role, text, time.time()) for role, text in rows],
            )
            db.execute("COMMIT")
        elapsed = time.perf_counter() - start
        db.close()
        return TURNS / elapsed

    return run


def main() -> None:
    print(f"session store, median of {RUNS} runs (turn = 2 messages, ~1.3 KB of text)")
    full = median_rate(plain_sqlite("FULL"))
    normal = median_rate(plain_sqlite("NORMAL"))
    sequential = median_rate(on_fresh_store(append_sequential))
    concurrent = median_rate(on_fresh_store(append_concurrent))
    print(f"  append_turn, one task:               {sequential:9,.0f} turns/s")
    print(f"  append_turn, {CONCURRENT} concurrent chats:     {concurrent:9,.0f} turns/s")
    print(f"  plain sqlite3, same thread, FULL:    {full:9,.0f} turns/s")
    print(f"  plain sqlite3, same thread, NORMAL:  {normal:9,.0f} turns/s")
    print(
        f"  store / plain FULL: {sequential / full:.2f}x (one task),"
        f" {concurrent / full:.2f}x (concurrent)"
    )
    lag = median_rate(on_fresh_store(loop_lag_while_appending))
    print(f"  loop lag during {CONCURRENT}-chat appends: max {lag:.1f} ms (median of runs)")
    one = median_rate(on_fresh_store(reads(concurrent=False)))
    many = median_rate(on_fresh_store(reads(concurrent=True)))
    print(f"  history({HISTORY}), one task:            {one:9,.0f} reads/s")
    print(f"  history({HISTORY}), {CONCURRENT} concurrent chats:  {many:9,.0f} reads/s")


if __name__ == "__main__":
    main()
