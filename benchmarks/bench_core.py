"""The core: cold start, runtime throughput with the echo model, event-loop lag, overhead.

Run: ``python benchmarks/bench_core.py``. Prints medians and ratios.

- cold start of ``nanobot --help`` and ``nanobot plugins --json`` beside
  ``python -c "import trio"`` (the floor); targets <= 0.30 s and <= 2.5x the floor;
- 1,000 turns over 100 chats through the real runtime (queues, turn pipeline,
  SQLite session store, limits) with the echo model: turns/s (target >= 1,000/s);
- the event-loop lag seen by a probe task sleeping 1 ms during that run
  (p99 and max; target max <= 20 ms);
- the turn pipeline's overhead over a bare ``EchoModel.complete`` call.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from nanobot_core.builtins.echo import EchoModel
from nanobot_core.messages import ChatMessage, ChatRequest
from nanobot_core.testing import Harness

RUNS = 7


def median_seconds(command: list[str], env: dict[str, str]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cold_start() -> None:
    bindir = Path(sys.executable).parent
    nanobot = shutil.which("nanobot", path=str(bindir)) or "nanobot"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    floor = median_seconds([sys.executable, "-c", "import trio"], env)
    help_ = median_seconds([nanobot, "--help"], env)
    plugins = median_seconds([nanobot, "plugins", "--json"], env)
    print(f"cold start, median of {RUNS}:")
    print(f"  python -c 'import trio'   {floor * 1000:7.0f} ms  (floor)")
    for name, value in (("nanobot --help", help_), ("nanobot plugins --json", plugins)):
        verdict = "ok" if value <= 0.30 and value <= 2.5 * floor else "MISSED"
        print(
            f"  {name:<25} {value * 1000:7.0f} ms  {value / floor:4.2f}x floor  "
            f"(target <= 300 ms and <= 2.5x: {verdict})"
        )


async def probe(lags: list[float], stop: trio.Event) -> None:
    while not stop.is_set():
        before = time.perf_counter()
        await trio.sleep(0.001)
        lags.append(time.perf_counter() - before - 0.001)


async def throughput_run(storage: Path, turns: int, chats: int) -> tuple[float, list[float]]:
    config = {
        "limits": {"turn": "100000/minute"},
        "runtime": {"max_concurrent_chats": chats, "queue_size": turns // chats + 1},
    }
    lags: list[float] = []
    async with Harness.start(config, storage=storage) as bot:
        await bot.say("warm up", chat_id="warm")
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(probe, lags, stop)
            started = time.perf_counter()
            for turn in range(turns):
                await bot.submit(
                    f"message {turn}", chat_id=f"chat{turn % chats}", user_id=f"u{turn % chats}"
                )
            await bot.channel.wait_for(turns + 1)
            elapsed = time.perf_counter() - started
            stop.set()
    return turns / elapsed, lags


def throughput() -> None:
    rates, all_lags = [], []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            rate, lags = trio.run(throughput_run, Path(tmp), 1000, 100)
        rates.append(rate)
        all_lags.append(lags)
    rate = statistics.median(rates)
    lags = all_lags[rates.index(rate)]
    lags.sort()
    p99 = lags[int(len(lags) * 0.99)] * 1000
    worst = lags[-1] * 1000
    print("runtime throughput, 1,000 turns over 100 chats, echo model, median of 3 runs:")
    print(
        f"  {rate:7.0f} turns/s  (runs: {', '.join(f'{r:.0f}' for r in rates)}; "
        f"target >= 1000: {'ok' if rate >= 1000 else 'MISSED'})"
    )
    print(
        f"  event-loop lag during that run: p99 {p99:.1f} ms, max {worst:.1f} ms  "
        f"(target max <= 20 ms: {'ok' if worst <= 20 else 'MISSED'})"
    )


async def overhead_run(storage: Path, n: int) -> tuple[float, float]:
    model = EchoModel()
    request = ChatRequest(model="echo", messages=(ChatMessage.of("user", "hello"),))
    started = time.perf_counter()
    for _ in range(n):
        await model.complete(request)
    bare = (time.perf_counter() - started) / n
    async with Harness.start({"limits": {"turn": "100000/minute"}}, storage=storage) as bot:
        await bot.say("warm up")
        started = time.perf_counter()
        for i in range(n):
            await bot.say(f"hello {i}", chat_id=f"c{i % 10}")
        turn = (time.perf_counter() - started) / n
    return bare, turn


def overhead() -> None:
    bares, turns = [], []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            bare, turn = trio.run(overhead_run, Path(tmp), 300)
        bares.append(bare)
        turns.append(turn)
    bare, turn = statistics.median(bares), statistics.median(turns)
    print("one turn through the pipeline vs a bare echo model call (sequential, median of 3):")
    print(f"  bare EchoModel.complete {bare * 1e6:8.1f} us")
    overhead_us = (turn - bare) * 1e6
    print(
        f"  full turn               {turn * 1e6:8.1f} us  (overhead {overhead_us:.0f} us per turn:"
    )
    print("   queue, limits, SQLite history read and one committed write, reply)")


def main() -> None:
    cold_start()
    throughput()
    overhead()


if __name__ == "__main__":
    main()
