"""Per-user rate limits: one small GCRA limiter per capability, bounded in memory.

Each limiter keeps one float per key, the *theoretical arrival time* (TAT) of the
generic cell rate algorithm: a rate of ``count`` per ``period`` seconds lets a key
spend a burst of ``count`` hits at once and then one hit every ``period / count``
seconds. Keys live in an LRU capped at ``max_keys``; evicting the least recently
seen key only forgets someone who has been idle the longest, which at worst hands
them a fresh burst. ``docs/limits.md`` explains why this and not the ``limits``
package (measured in ``benchmarks/bench_limits.py``).

A check is a dictionary lookup and a few float operations under a lock: no I/O, so
the turn pipeline calls it directly from the trio loop.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from .config import LimitsConfig, Rate
from .errors import TurnRefused

Clock = Callable[[], float]

# Arrival times accumulate float rounding; a microsecond of slack keeps "retry after
# exactly the returned delay" true instead of refusing by 1e-15 s.
_EPSILON = 1e-6

CAPABILITIES = ("turn", "transcription", "speech", "video")

_REFUSALS: Mapping[str, str] = {
    "turn": "You're sending messages faster than I can answer — try again in {wait}.",
    "transcription": "That's more voice messages than I can transcribe right now"
    " — try again in {wait}.",
    "speech": "I can't record more voice replies right now — try again in {wait}.",
    "video": "That's more videos than I can watch right now — try again in {wait}.",
}


class RateLimiter:
    """GCRA: ``rate.count`` hits per ``rate.period`` seconds per key, at most ``max_keys`` keys.

    Thread safe; ``hit`` is O(1) and never blocks on anything but its own short lock.
    """

    def __init__(self, rate: Rate, *, max_keys: int = 100_000, clock: Clock = time.monotonic):
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, got {max_keys}")
        self.rate = rate
        self.max_keys = max_keys
        self._clock = clock
        self._interval = rate.period / rate.count  # one hit's worth of time
        self._tats: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> float:
        """Spend one hit for ``key``: 0.0 if allowed, else the seconds until one would be.

        A refused hit consumes nothing, so retrying after the returned delay succeeds
        (unless another hit for the same key came in between).
        """
        if now is None:
            now = self._clock()
        with self._lock:
            tats = self._tats
            start = max(tats.get(key, now), now)
            tat = start + self._interval
            wait = tat - now - self.rate.period
            if key in tats:
                tats.move_to_end(key)  # refused keys count as seen: no fresh burst for floods
            if wait > _EPSILON:
                return wait
            tats[key] = tat
            if len(tats) > self.max_keys:
                tats.popitem(last=False)
            return 0.0

    def __len__(self) -> int:
        return len(self._tats)

    def __repr__(self) -> str:
        return f"RateLimiter({self.rate}, keys={len(self)}/{self.max_keys})"


class Limits:
    """The limiters of one runtime, one per capability, keyed by user (and channel)."""

    def __init__(self, limiters: Mapping[str, RateLimiter], *, scope: str = "channel") -> None:
        if scope not in ("channel", "global"):
            raise ValueError(f'scope must be "channel" or "global", got {scope!r}')
        self.limiters = dict(limiters)
        self.scope = scope

    @classmethod
    def from_config(cls, config: LimitsConfig, *, clock: Clock = time.monotonic) -> Limits:
        limiters = {
            name: RateLimiter(getattr(config, name), max_keys=config.max_users, clock=clock)
            for name in CAPABILITIES
        }
        return cls(limiters, scope=config.scope)

    def key(self, *, channel: str, user_id: str) -> str:
        """Whose budget a hit spends: per channel instance, or one budget per user id."""
        return f"{channel}:{user_id}" if self.scope == "channel" else user_id

    def check(self, capability: str, *, channel: str, user_id: str) -> None:
        """Spend one ``capability`` hit or raise ``TurnRefused`` saying when to retry.

        Admins are exempt by not being checked at all; that is the caller's decision.
        """
        try:
            limiter = self.limiters[capability]
        except KeyError:
            raise ValueError(
                f"unknown capability {capability!r} (known: {', '.join(self.limiters)})"
            ) from None
        wait = limiter.hit(self.key(channel=channel, user_id=user_id))
        if wait > 0:
            template = _REFUSALS.get(capability, "Too many requests — try again in {wait}.")
            raise TurnRefused(template.format(wait=describe_wait(wait)), retry_after=wait)


def describe_wait(seconds: float) -> str:
    """``12 seconds``, ``1 second``, ``3 minutes``, ``2 hours``: rounded up, never ``0``."""
    whole = max(1, math.ceil(seconds - 1e-9))
    if whole < 120:
        return _plural(whole, "second")
    if whole < 2 * 3600:
        return _plural(math.ceil(whole / 60), "minute")
    return _plural(math.ceil(whole / 3600), "hour")


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


__all__ = ["CAPABILITIES", "Limits", "RateLimiter", "describe_wait"]
