"""Rate limits: GCRA accounting, retry delays, scopes, LRU bound, threads and trio tasks."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator

import pytest
import trio
import trio.lowlevel
import trio.testing

from nanobot_core.config import LimitsConfig, Rate
from nanobot_core.errors import TurnRefused
from nanobot_core.limits import CAPABILITIES, Limits, RateLimiter, describe_wait


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def config(**rates: str) -> LimitsConfig:
    parsed = {name: Rate.parse(text) for name, text in rates.items()}
    return LimitsConfig(**parsed)  # type: ignore[arg-type]


# --- the limiter ---------------------------------------------------------------------


def test_burst_of_count_then_refused() -> None:
    limiter = RateLimiter(Rate(5, 60), clock=FakeClock())
    assert [limiter.hit("u") for _ in range(5)] == [0.0] * 5
    assert limiter.hit("u") == pytest.approx(12.0)  # one hit's worth: 60 s / 5


def test_refused_hit_consumes_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(Rate(2, 10), clock=clock)
    limiter.hit("u")
    limiter.hit("u")
    refusals = [limiter.hit("u") for _ in range(50)]
    assert all(wait == pytest.approx(5.0) for wait in refusals)
    clock.now += 5.0
    assert limiter.hit("u") == 0.0
    assert limiter.hit("u") == pytest.approx(5.0)


def test_retry_after_is_exact_and_sufficient() -> None:
    clock = FakeClock()
    limiter = RateLimiter(Rate(3, 300), clock=clock)  # "3/5 minutes"
    for _ in range(3):
        assert limiter.hit("u") == 0.0
    clock.now += 30
    wait = limiter.hit("u")
    assert wait == pytest.approx(70.0)  # next slot at 100 s, asked at 30 s
    clock.now += wait - 0.01
    assert limiter.hit("u") > 0
    clock.now += 0.01
    assert limiter.hit("u") == 0.0


def test_sustained_rate_over_a_long_run() -> None:
    clock = FakeClock()
    limiter = RateLimiter(Rate(30, 60), clock=clock)
    allowed = 0
    for _ in range(6000):  # ten minutes, one attempt every 0.1 s
        allowed += limiter.hit("u") == 0.0
        clock.now += 0.1
    # a burst of 30, then one every 2 s: the k-th hit is due at 2k - 60 s; the last
    # attempt is at 599.9 s, so hits 1..329 get through
    assert allowed == 329


def test_keys_are_independent() -> None:
    limiter = RateLimiter(Rate(1, 60), clock=FakeClock())
    assert limiter.hit("a") == 0.0
    assert limiter.hit("a") > 0
    assert limiter.hit("b") == 0.0


def test_explicit_now_overrides_clock() -> None:
    limiter = RateLimiter(Rate(1, 60), clock=FakeClock(0.0))
    assert limiter.hit("u", now=100.0) == 0.0
    assert limiter.hit("u", now=130.0) == pytest.approx(30.0)
    assert limiter.hit("u", now=160.0) == 0.0


def test_lru_cap_bounds_keys_and_evicts_least_recently_seen() -> None:
    clock = FakeClock()
    limiter = RateLimiter(Rate(1, 3600), max_keys=100, clock=clock)
    limiter.hit("old")
    for i in range(10_000):
        limiter.hit(f"flood-{i}")
        assert len(limiter) <= 100
    assert len(limiter) == 100
    # "old" was idle the longest: forgotten, so it gets a fresh burst (the documented cost)
    assert limiter.hit("old") == 0.0


def test_refused_key_counts_as_seen_and_is_not_evicted_first() -> None:
    limiter = RateLimiter(Rate(1, 3600), max_keys=3, clock=FakeClock())
    limiter.hit("busy")
    limiter.hit("a")
    limiter.hit("b")
    assert limiter.hit("busy") > 0  # refused, but recently seen
    limiter.hit("c")  # evicts "a", the least recently seen
    assert limiter.hit("busy") > 0
    assert limiter.hit("a") == 0.0


def test_rejects_zero_capacity() -> None:
    with pytest.raises(ValueError, match=r"^max_keys must be at least 1, got 0$"):
        RateLimiter(Rate(1, 1), max_keys=0)


def test_a_single_key_limiter_remembers_the_latest_key() -> None:
    limiter = RateLimiter(Rate(1, 3600), max_keys=1, clock=FakeClock())
    assert limiter.hit("a") == 0.0
    assert limiter.hit("a") > 0
    assert limiter.hit("b") == 0.0  # evicts "a"
    assert len(limiter) == 1
    assert limiter.hit("b") > 0
    assert limiter.hit("a") == 0.0


def test_the_default_bound_is_100_000_keys() -> None:
    limiter = RateLimiter(Rate(1, 3600), clock=FakeClock())
    for i in range(100_001):
        limiter.hit(str(i))
    assert len(limiter) == 100_000
    assert limiter.hit("100000") > 0
    assert limiter.hit("1") > 0
    assert limiter.hit("0") == 0.0  # the first key was the one forgotten


def test_repr_shows_the_rate_and_how_full_it_is() -> None:
    limiter = RateLimiter(Rate(5, 60), max_keys=10, clock=FakeClock())
    limiter.hit("a")
    limiter.hit("b")
    assert repr(limiter) == "RateLimiter(5/60 seconds, keys=2/10)"


# --- Limits: capabilities, scopes, messages --------------------------------------------


@pytest.mark.parametrize(
    ("capability", "words"),
    [
        ("turn", "sending messages faster"),
        ("transcription", "voice messages than I can transcribe"),
        ("speech", "voice replies"),
        ("video", "videos"),
    ],
)
def test_each_capability_has_its_own_budget_and_line(capability: str, words: str) -> None:
    clock = FakeClock()
    limits = Limits.from_config(
        config(turn="2/minute", transcription="2/minute", speech="2/minute", video="2/minute"),
        clock=clock,
    )
    for _ in range(2):
        limits.check(capability, channel="telegram", user_id="42")
    with pytest.raises(TurnRefused) as refused:
        limits.check(capability, channel="telegram", user_id="42")
    assert refused.value.retry_after == pytest.approx(30.0)
    message = str(refused.value)
    assert words in message
    assert message.endswith("try again in 30 seconds.")
    assert "\n" not in message
    for other in CAPABILITIES:
        if other != capability:
            limits.check(other, channel="telegram", user_id="42")  # untouched budgets


def test_config_rates_reach_the_limiters() -> None:
    limits = Limits.from_config(LimitsConfig(video=Rate(3, 300), max_users=7))
    assert limits.limiters["video"].rate == Rate(3, 300)
    assert all(limiter.max_keys == 7 for limiter in limits.limiters.values())


def test_channel_scope_keeps_channels_apart() -> None:
    limits = Limits.from_config(config(turn="1/minute"), clock=FakeClock())
    limits.check("turn", channel="telegram", user_id="42")
    limits.check("turn", channel="console", user_id="42")
    with pytest.raises(TurnRefused):
        limits.check("turn", channel="telegram", user_id="42")


def test_global_scope_shares_one_budget_across_channels() -> None:
    cfg = LimitsConfig(turn=Rate(1, 60), scope="global")
    limits = Limits.from_config(cfg, clock=FakeClock())
    limits.check("turn", channel="telegram", user_id="42")
    with pytest.raises(TurnRefused):
        limits.check("turn", channel="console", user_id="42")
    limits.check("turn", channel="console", user_id="43")


def test_keys_per_scope() -> None:
    assert Limits.from_config(LimitsConfig()).key(channel="tg", user_id="1") == "tg:1"
    glob = Limits.from_config(LimitsConfig(scope="global"))
    assert glob.key(channel="tg", user_id="1") == "1"


def test_unknown_capability_is_a_programming_error() -> None:
    with pytest.raises(ValueError) as error:
        Limits.from_config(LimitsConfig()).check("photo", channel="c", user_id="u")
    assert (
        str(error.value) == "unknown capability 'photo' (known: turn, transcription, speech, video)"
    )


@pytest.mark.parametrize("scope", ["user", "Channel", "", "global "])
def test_a_bad_scope_is_refused(scope: str) -> None:
    with pytest.raises(ValueError) as error:
        Limits({}, scope=scope)
    assert str(error.value) == f'scope must be "channel" or "global", got {scope!r}'


def test_limits_are_per_channel_unless_told_otherwise() -> None:
    limits = Limits({"turn": RateLimiter(Rate(1, 60), clock=FakeClock())})
    assert limits.scope == "channel"
    limits.check("turn", channel="telegram", user_id="42")
    limits.check("turn", channel="console", user_id="42")


def test_a_wait_under_one_second_is_still_a_refusal() -> None:
    clock = FakeClock()
    limits = Limits({"turn": RateLimiter(Rate(10, 1), clock=clock)})
    for _ in range(10):
        limits.check("turn", channel="c", user_id="u")
    with pytest.raises(TurnRefused) as refused:
        limits.check("turn", channel="c", user_id="u")
    assert refused.value.retry_after == pytest.approx(0.1)
    assert str(refused.value).endswith("try again in 1 second.")
    clock.now += 0.1
    limits.check("turn", channel="c", user_id="u")


def test_a_capability_without_its_own_line_gets_the_general_one() -> None:
    limits = Limits({"tokens": RateLimiter(Rate(1, 60), clock=FakeClock())})
    limits.check("tokens", channel="c", user_id="u")
    with pytest.raises(TurnRefused) as refused:
        limits.check("tokens", channel="c", user_id="u")
    assert str(refused.value) == "Too many requests — try again in 60 seconds."
    assert refused.value.retry_after == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0001, "1 second"),
        (1.0, "1 second"),
        (1.2, "2 seconds"),
        (12, "12 seconds"),
        (119.5, "2 minutes"),
        (120, "2 minutes"),
        (121, "3 minutes"),
        (150, "3 minutes"),
        (7140, "119 minutes"),
        (7199, "120 minutes"),
        (7200, "2 hours"),
        (7201, "3 hours"),
        (7300, "3 hours"),
        (86400, "24 hours"),
    ],
)
def test_describe_wait(seconds: float, text: str) -> None:
    assert describe_wait(seconds) == text


# --- concurrency (the seed's Fix #3, adapted) ------------------------------------------


@pytest.fixture(autouse=True)
def eager_thread_switching() -> Iterator[None]:
    # switch threads every microsecond so a missing lock shows up as wrong counts
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def run_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def worker(index: int) -> None:
        try:
            start.wait()
            target(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_threads_on_one_key_get_exactly_count_in_total() -> None:
    limiter = RateLimiter(Rate(137, 60), clock=FakeClock())
    allowed = [0] * 20

    def worker(index: int) -> None:
        for _ in range(500):
            allowed[index] += limiter.hit("shared") == 0.0

    assert run_threads(20, worker) == []
    assert sum(allowed) == 137


def test_threads_on_many_shared_keys_get_exactly_count_per_key() -> None:
    limiter = RateLimiter(Rate(20, 60), clock=FakeClock())
    allowed = [[0] * 2000 for _ in range(20)]

    def worker(index: int) -> None:
        for _ in range(2):
            for user in range(2000):
                allowed[index][user] += limiter.hit(f"user{user}") == 0.0

    assert run_threads(20, worker) == []
    per_key = [sum(column) for column in zip(*allowed, strict=True)]
    assert per_key == [20] * 2000


def test_threads_with_own_keys_get_exact_budgets() -> None:
    limiter = RateLimiter(Rate(50, 60), max_keys=10_000, clock=FakeClock())
    allowed: dict[str, int] = {}
    lock = threading.Lock()

    def worker(index: int) -> None:
        for _ in range(100):
            for user in range(5):
                key = f"worker{index}_user{user}"
                if limiter.hit(key) == 0.0:
                    with lock:
                        allowed[key] = allowed.get(key, 0) + 1

    assert run_threads(20, worker) == []
    assert len(allowed) == 100
    assert set(allowed.values()) == {50}
    assert len(limiter) == 100


def test_eviction_under_concurrency_stays_bounded_and_consistent() -> None:
    limiter = RateLimiter(Rate(10, 60), max_keys=50, clock=FakeClock())
    waits: list[float] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        local = [limiter.hit(f"user{i}") for _ in range(3) for i in range(200)]
        with lock:
            waits.extend(local)
        assert len(limiter) <= 50

    assert run_threads(20, worker) == []
    assert len(limiter) == 50
    assert len(waits) == 20 * 600
    assert all(w == 0.0 or 0 < w <= 60 for w in waits)


async def test_concurrent_trio_tasks_share_the_budget(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = Limits.from_config(config(turn="10/minute"), clock=trio.current_time)
    outcomes: list[float | None] = []

    async def user_turn() -> None:
        await trio.lowlevel.checkpoint()
        try:
            limits.check("turn", channel="console", user_id="me")
            outcomes.append(None)
        except TurnRefused as refused:
            outcomes.append(refused.retry_after)

    async with trio.open_nursery() as nursery:
        for _ in range(100):
            nursery.start_soon(user_turn)

    assert outcomes.count(None) == 10
    waits = [w for w in outcomes if w is not None]
    assert len(waits) == 90
    assert all(w == pytest.approx(6.0) for w in waits)

    await trio.sleep(waits[0])  # the autojump clock moves time; nothing real sleeps
    limits.check("turn", channel="console", user_id="me")
    with pytest.raises(TurnRefused) as refused:
        limits.check("turn", channel="console", user_id="me")
    assert refused.value.retry_after == pytest.approx(6.0)


async def test_trio_tasks_retrying_after_the_delay_all_get_through(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = Limits.from_config(config(turn="3/minute"), clock=trio.current_time)
    served_at: list[float] = []

    async def persistent_user() -> None:
        while True:
            try:
                limits.check("turn", channel="tg", user_id="7")
            except TurnRefused as refused:
                assert refused.retry_after is not None
                await trio.sleep(refused.retry_after)
            else:
                served_at.append(trio.current_time())
                return

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(9):
            nursery.start_soon(persistent_user)

    offsets = sorted(round(t - start, 6) for t in served_at)
    # a burst of 3 at once, then one every 20 s
    assert offsets == [0, 0, 0, 20, 40, 60, 80, 100, 120]
