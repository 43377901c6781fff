"""Rate limiter: cost per check and memory, nanobot's GCRA limiter beside the ``limits`` package.

Run: ``python benchmarks/bench_limits.py``. Prints medians of several runs and ratios.

- cost per hit (µs): our ``RateLimiter.hit`` and the full ``Limits.check`` against
  ``limits`` 5.x moving window and sliding-window counter on in-memory storage, and
  the moving window behind the LRU cap it would need to stay bounded;
- memory (tracemalloc, bytes still allocated) after 1,000,000 distinct users: ours
  capped at the default 100,000 keys and uncapped; ``limits`` measured at 100,000
  users and extrapolated linearly to 1,000,000 (it keeps every key until its window
  expires, so growth is linear) — measuring it at 1M would take minutes;
- the cost of one sweep of ``limits``' background expiry thread at 200,000 keys:
  it walks every key under the GIL, so the trio loop stalls for that long.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
import tracemalloc
from collections import OrderedDict
from collections.abc import Callable

import limits
import limits.storage
import limits.strategies

from nanobot_core.config import LimitsConfig, Rate
from nanobot_core.errors import TurnRefused
from nanobot_core.limits import Limits, RateLimiter

RUNS = 5
USERS = 10_000
HITS = 30_000
RATE = "30/minute"


def per_hit_us(hit: Callable[[str], object], keys: list[str]) -> float:
    """The mean cost of one call over ``keys``, in microseconds."""
    start = time.perf_counter()
    for key in keys:
        hit(key)
    return (time.perf_counter() - start) / len(keys) * 1e6


class CappedLimits:
    """The ``limits`` moving window with the LRU cap in front that bounding it would take."""

    def __init__(self, max_keys: int) -> None:
        self.storage = limits.storage.MemoryStorage()
        self.strategy = limits.strategies.MovingWindowRateLimiter(self.storage)
        self.item = limits.parse(RATE)
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.max_keys = max_keys

    def hit(self, key: str) -> bool:
        allowed = self.strategy.hit(self.item, key)
        self.seen[key] = None
        self.seen.move_to_end(key)
        if len(self.seen) > self.max_keys:
            old, _ = self.seen.popitem(last=False)
            self.strategy.clear(self.item, old)
        return allowed


def quiesce(storage: limits.storage.MemoryStorage) -> None:
    """Let the storage's expiry thread finish, then empty it (reset during a sweep races)."""
    storage.timer.join()
    storage.reset()


Contender = Callable[[], tuple[Callable[[str], object], Callable[[], None]]]


def contenders(rate: Rate) -> dict[str, Contender]:
    """Name -> factory of a fresh (hit, cleanup) pair, so every run starts empty."""

    def ours() -> tuple[Callable[[str], object], Callable[[], None]]:
        return RateLimiter(rate).hit, lambda: None

    def check() -> tuple[Callable[[str], object], Callable[[], None]]:
        pipeline = Limits.from_config(LimitsConfig(turn=rate))

        def hit(key: str) -> None:
            with contextlib.suppress(TurnRefused):
                pipeline.check("turn", channel="telegram", user_id=key)

        return hit, lambda: None

    def theirs(
        strategy: type[limits.strategies.RateLimiter],
    ) -> Callable[[], tuple[Callable[[str], object], Callable[[], None]]]:
        def make() -> tuple[Callable[[str], object], Callable[[], None]]:
            storage = limits.storage.MemoryStorage()
            limiter, item = strategy(storage), limits.parse(RATE)
            return (lambda key: limiter.hit(item, key)), lambda: quiesce(storage)

        return make

    def capped() -> tuple[Callable[[str], object], Callable[[], None]]:
        limiter = CappedLimits(100_000)
        return limiter.hit, lambda: quiesce(limiter.storage)

    return {
        "nanobot GCRA RateLimiter.hit": ours,
        "nanobot Limits.check (key + refusal)": check,
        "limits moving window": theirs(limits.strategies.MovingWindowRateLimiter),
        "limits sliding-window counter": theirs(limits.strategies.SlidingWindowCounterRateLimiter),
        "limits moving window + LRU cap": capped,
    }


def cost_table() -> None:
    workloads = {
        "many": [f"telegram:{i % USERS}" for i in range(HITS)],  # all allowed
        "flood": ["telegram:1"] * HITS,  # one user hammering: nearly all refused
    }
    rows = contenders(Rate.parse(RATE))
    samples: dict[tuple[str, str], list[float]] = {}
    # interleaved rounds, so a busy neighbour on the machine slows every row alike
    for _ in range(RUNS):
        for workload, keys in workloads.items():
            for name, make in rows.items():
                hit, cleanup = make()
                samples.setdefault((name, workload), []).append(per_hit_us(hit, keys))
                cleanup()
    results = {key: statistics.median(values) for key, values in samples.items()}
    print(f"cost per check, median of {RUNS} interleaved runs of {HITS:,} hits (rate {RATE})")
    print(f"  {'':40} {f'{USERS:,} users':>14} {'1 user flood':>14}")
    for name in rows:
        many, flood = results[(name, "many")], results[(name, "flood")]
        print(f"  {name:40} {many:11.2f} µs {flood:11.2f} µs")
    base = "nanobot GCRA RateLimiter.hit"
    for name in ("limits moving window", "limits sliding-window counter"):
        print(
            f"  ratio {name} / nanobot:"
            f" {results[(name, 'many')] / results[(base, 'many')]:.1f}x (many users),"
            f" {results[(name, 'flood')] / results[(base, 'flood')]:.1f}x (flood)"
        )


def traced_bytes(fill: Callable[[], object]) -> tuple[int, object]:
    gc.collect()
    tracemalloc.start()
    kept = fill()
    gc.collect()
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return current, kept


def memory_table() -> None:
    rate = Rate.parse(RATE)
    million = 1_000_000
    limits_users = 100_000

    def ours(max_keys: int) -> Callable[[], object]:
        def fill() -> object:
            limiter = RateLimiter(rate, max_keys=max_keys)
            for i in range(million):
                limiter.hit(f"telegram:{1_000_000_000 + i}")
            return limiter

        return fill

    def theirs(strategy: type[limits.strategies.RateLimiter]) -> Callable[[], object]:
        def fill() -> object:
            storage = limits.storage.MemoryStorage()
            limiter = strategy(storage)
            item = limits.parse(RATE)
            for i in range(limits_users):
                limiter.hit(item, f"telegram:{1_000_000_000 + i}")
            return storage

        return fill

    print(f"\nmemory after {million:,} distinct users (tracemalloc, allocated and still held)")
    capped, limiter = traced_bytes(ours(100_000))
    assert isinstance(limiter, RateLimiter)
    print(
        f"  nanobot GCRA, max_users=100,000 (default):  {capped / 1e6:8.1f} MB,"
        f" {len(limiter):,} keys"
    )
    del limiter
    uncapped, limiter = traced_bytes(ours(million))
    print(f"  nanobot GCRA, max_users=1,000,000:           {uncapped / 1e6:8.1f} MB")
    del limiter
    for name, strategy in (
        ("moving window", limits.strategies.MovingWindowRateLimiter),
        ("sliding-window counter", limits.strategies.SlidingWindowCounterRateLimiter),
    ):
        measured, storage = traced_bytes(theirs(strategy))
        scaled = measured * million / limits_users
        print(
            f"  limits {name:23}: {measured / 1e6:8.1f} MB at {limits_users:,} users,"
            f" ~{scaled / 1e6:.0f} MB at 1,000,000 (x{scaled / capped:.0f} ours capped)"
        )
        assert isinstance(storage, limits.storage.MemoryStorage)
        storage.timer.join()
        if name == "moving window":
            sweep = storage._MemoryStorage__expire_events
            start = time.perf_counter()
            sweep()
            elapsed = time.perf_counter() - start
            print(
                f"  limits expiry sweep at {limits_users:,} keys: {elapsed * 1e3:.0f} ms"
                " of CPU per pass (a pass runs on its own thread 10 ms after hits,"
                " competing with the loop for the GIL)"
            )
        quiesce(storage)
        del storage


def main() -> None:
    cost_table()
    memory_table()


if __name__ == "__main__":
    main()
