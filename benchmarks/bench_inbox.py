"""The durable inbox: what recording every message and storing before showing costs.

Run: ``python benchmarks/bench_inbox.py``. Three variants of the real runtime
(echo model, real SQLite file), measured side by side in one process:

- ``inbox``: as shipped; each message recorded before ``submit`` returns, its
  turn and reply committed before the reply is sent, then marked done;
- ``no inbox``: the turn committed before the reply is sent, nothing else;
- ``show first``: nothing committed before the reply is sent (the turn is
  stored after it) — roughly how replies went out before the inbox.

Prints throughput (1,000 turns over 100 chats, each chat's messages submitted
by its own task as channels do; target with the inbox >= 1,000/s) and the time
from ``submit`` to the reply in an idle chat: inbox minus no-inbox is what
recording the message costs a reply, no-inbox minus show-first is what
committing the turn before sending adds (one fsync each).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trio

from nanobot_core import inbox as inbox_module
from nanobot_core import runtime as runtime_module
from nanobot_core.inbox import SqliteInbox, Ticket, Unfinished
from nanobot_core.messages import ChatMessage, Inbound, Outbound
from nanobot_core.sessions import SessionStore
from nanobot_core.testing import Harness

RUNS = 5
CONFIG = {"limits": {"turn": "1000000/minute"}}


class NoInbox:
    """Keeps nothing but the turn: stored before the reply is sent (``later``: after)."""

    later = False

    def __init__(self, store: SessionStore) -> None:
        self._store = store
        self._waiting: list[tuple[str, Sequence[ChatMessage]]] = []

    @classmethod
    async def open(cls, store: SessionStore) -> NoInbox:
        return cls(store)

    async def accept(self, inbound: Inbound) -> Ticket | None:
        return Ticket(0)

    async def answered(
        self, ticket: Ticket | None, reply: Outbound, turn: tuple[str, Sequence[ChatMessage]]
    ) -> None:
        if self.later:
            self._waiting.append(turn)
        elif turn[1]:
            await self._store.append_turn(*turn)

    async def delivered(self, ticket: Ticket) -> None:
        while self._waiting:
            await self._store.append_turn(*self._waiting.pop())

    async def flush(self) -> None:
        return None

    async def unfinished(self, channels: Collection[str]) -> list[Unfinished]:
        return []


class ShowFirst(NoInbox):
    later = True


VARIANTS: dict[str, type[Any]] = {
    "inbox": SqliteInbox,
    "no inbox": NoInbox,
    "show first": ShowFirst,
}


@contextmanager
def variant(name: str) -> Iterator[None]:
    original = runtime_module.SqliteInbox
    runtime_module.SqliteInbox = VARIANTS[name]  # type: ignore[misc]
    try:
        yield
    finally:
        runtime_module.SqliteInbox = original  # type: ignore[misc]


async def throughput_run(storage: Path, turns: int = 1000, chats: int = 100) -> float:
    """Each chat's messages submitted in order by that chat's own task, as channels do."""
    config = {**CONFIG, "runtime": {"max_concurrent_chats": chats, "queue_size": turns}}
    async with Harness.start(config, storage=storage) as bot:
        await bot.say("warm up", chat_id="warm")

        async def chat(number: int) -> None:
            for turn in range(number, turns, chats):
                await bot.submit(f"message {turn}", chat_id=f"chat{number}", message_id=f"m{turn}")

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for number in range(chats):
                nursery.start_soon(chat, number)
        await bot.channel.wait_for(turns + 1)
        return turns / (time.perf_counter() - started)


async def latency_run(storage: Path, turns: int = 200) -> float:
    """Median time from ``submit`` to the reply shown, in a chat idle before each message."""
    async with Harness.start(CONFIG, storage=storage) as bot:
        await bot.say("warm up")
        latencies = []
        for turn in range(turns):
            started = time.perf_counter()
            await bot.say(f"hello {turn}", message_id=f"m{turn}")
            latencies.append(time.perf_counter() - started)
            await trio.sleep(0.005)  # what follows the reply (a late store, a mark) is done
        return statistics.median(latencies)


def measure(body: Callable[[Path], Any]) -> dict[str, float]:
    """The median of ``RUNS`` runs per variant, the variants taking turns run by run."""
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(RUNS):
        for name in VARIANTS:
            with tempfile.TemporaryDirectory() as tmp, variant(name):
                samples[name].append(trio.run(body, Path(tmp)))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    assert inbox_module.SqliteInbox is SqliteInbox
    rates = measure(throughput_run)
    print(f"echo throughput, 1,000 turns over 100 chats, median of {RUNS} runs:")
    for name, rate in rates.items():
        print(f"  {name:<11} {rate:7.0f} turns/s")
    verdict = "ok" if rates["inbox"] >= 1000 else "MISSED"
    ratio = rates["inbox"] / rates["no inbox"]
    extra = (1 / rates["inbox"] - 1 / rates["no inbox"]) * 1e6
    print(f"  with the inbox: {ratio:.2f}x of no inbox, {extra:.0f} us more per turn under load")
    print(f"  (target >= 1,000 turns/s with the inbox: {verdict})")
    latency = measure(latency_run)
    print(f"submit to reply shown in an idle chat, median of {RUNS} runs (of 200 turns' medians):")
    for name, seconds in latency.items():
        print(f"  {name:<11} {seconds * 1e6:7.0f} us")
    inbox_cost = (latency["inbox"] - latency["no inbox"]) * 1e6
    fsync_cost = (latency["no inbox"] - latency["show first"]) * 1e6
    print(f"  recording the message before accepting it adds {inbox_cost:.0f} us (one commit)")
    print(f"  storing the turn before showing the reply adds {fsync_cost:.0f} us (one commit)")


if __name__ == "__main__":
    main()
