"""The runtime: per-chat order, cross-chat concurrency, backpressure, supervision, workdirs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from nanobot_core import AccessPolicy, Admission, ChatReply, ChatRequest, Inbound
from nanobot_core.testing import Harness, RecordingChannel, objects_plugin
from nanobot_core.workdir import PREFIX


@attrs.define(eq=False)
class GateModel:
    """Blocks each call until released; records the order and the overlap of calls."""

    started: list[str] = attrs.field(factory=list)
    finished: list[str] = attrs.field(factory=list)
    running: int = 0
    peak: int = 0
    release: trio.Event = attrs.field(factory=trio.Event)
    delay: float = 1.0
    wait_for_release: bool = False
    full_at: int = 0
    full: trio.Event = attrs.field(factory=trio.Event)

    async def complete(self, request: ChatRequest) -> ChatReply:
        text = request.messages[-1].text
        self.started.append(text)
        self.running += 1
        self.peak = max(self.peak, self.running)
        if self.running == self.full_at:
            self.full.set()
        try:
            await trio.sleep(self.delay)
            if self.wait_for_release:
                await self.release.wait()
        finally:
            self.running -= 1
        self.finished.append(text)
        return ChatReply(text=f"re: {text}")


def config(**runtime: Any) -> dict[str, Any]:
    return {"agent": {"model": "gate/m"}, "runtime": runtime, "limits": {"turn": "1000/minute"}}


async def test_one_chats_turns_run_in_order(storage: Path) -> None:
    model = GateModel(delay=0.01)
    plugin = objects_plugin(chat_models=[("gate", model)])
    async with Harness.start(config(), plugins=[plugin], storage=storage) as bot:
        for i in range(5):
            await bot.submit(f"m{i}", chat_id="same")
        await bot.channel.wait_for(5)
    assert model.started == [f"m{i}" for i in range(5)]
    assert model.peak == 1
    assert [o.text for o in bot.channel.sent] == [f"re: m{i}" for i in range(5)]


async def test_chats_run_concurrently_up_to_the_limit(storage: Path) -> None:
    model = GateModel(delay=0, wait_for_release=True, full_at=3)
    plugin = objects_plugin(chat_models=[("gate", model)])
    async with Harness.start(
        config(max_concurrent_chats=3), plugins=[plugin], storage=storage
    ) as bot:
        for i in range(6):
            await bot.submit(f"m{i}", chat_id=f"chat{i}")
        await model.full.wait()
        await trio.sleep(0.2)  # room for a wrongly admitted fourth turn to start
        assert model.peak == 3 and len(model.started) == 3
        model.release.set()
        await bot.channel.wait_for(6)
    assert model.peak == 3
    assert sorted(model.finished) == [f"m{i}" for i in range(6)]


async def test_a_full_queue_makes_the_sender_wait(storage: Path) -> None:
    model = GateModel(delay=0, wait_for_release=True, full_at=1)
    plugin = objects_plugin(chat_models=[("gate", model)])
    async with Harness.start(config(queue_size=2), plugins=[plugin], storage=storage) as bot:
        await bot.submit("m0", chat_id="c")
        await model.full.wait()  # m0 is running
        await bot.submit("m1", chat_id="c")
        await bot.submit("m2", chat_id="c")  # the queue (2) is now full
        with trio.move_on_after(0.2) as waited:
            await bot.submit("m3", chat_id="c")
        assert waited.cancelled_caught, "the fourth message should wait for room in the queue"
        model.release.set()
        await bot.submit("m3", chat_id="c")
        await bot.channel.wait_for(4)
    assert model.started == ["m0", "m1", "m2", "m3"]


async def test_denied_users_get_nothing_processed(storage: Path) -> None:
    model = GateModel(delay=0)
    plugin = objects_plugin(chat_models=[("gate", model)])
    async with Harness.start(
        config(), plugins=[plugin], storage=storage, access=AccessPolicy(allow_from=[1])
    ) as bot:
        assert await bot.submit("hi", user_id="2") == Admission.DENIED
        assert await bot.submit("hi", user_id="1") == Admission.ACCEPTED
        await bot.channel.wait_for(1)
    assert model.started == ["hi"]
    assert len(bot.channel.sent) == 1


@attrs.define(eq=False)
class FlakyChannel(RecordingChannel):
    runs: int = 0
    healthy: trio.Event = attrs.field(factory=trio.Event)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.runs += 1
        if self.runs <= 3:
            raise ConnectionError(f"lost connection #{self.runs}")
        task_status.started()
        self.healthy.set()
        await trio.sleep_forever()


async def test_crashed_channel_restarts_with_backoff_while_another_serves(
    storage: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakyChannel()
    settings = {"runtime": {"restart_delay": 0.01}}
    async with Harness.start(settings, storage=storage, channels={"flaky": flaky}) as bot:
        reply = await bot.say("still here")
        assert reply.text == "echo: still here"
        await flaky.healthy.wait()
        assert (await bot.say("and here")).text == "echo: and here"
    crashes = [r for r in caplog.records if "channel flaky crashed" in r.getMessage()]
    assert [r.getMessage() for r in crashes] == [
        "channel flaky crashed; restarting in 0.01 s",
        "channel flaky crashed; restarting in 0.02 s",
        "channel flaky crashed; restarting in 0.04 s",
    ]
    assert crashes[0].exc_info is not None
    assert "lost connection #1" in str(crashes[0].exc_info[1])


def workdirs() -> set[str]:
    import tempfile

    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith(PREFIX)}


@attrs.define(eq=False)
class WorkdirModel:
    """Writes into the turn's workdir through a tool-less trick: records the workdir it saw."""

    mode: str = "ok"
    seen: list[Path] = attrs.field(factory=list)

    async def complete(self, request: ChatRequest) -> ChatReply:
        if self.mode == "error":
            raise RuntimeError("model exploded")
        if self.mode == "hang":
            await trio.sleep_forever()
        return ChatReply(text="fine")


async def test_workdir_removed_on_success_error_and_cancellation(storage: Path) -> None:
    before = workdirs()
    seen: list[Path] = []

    third = trio.Event()

    async def fetch(workdir: Path) -> Path:
        seen.append(workdir)
        if len(seen) == 3:
            third.set()
        target = workdir / "file.bin"
        await trio.Path(target).write_bytes(b"x" * 1000)
        return target

    from nanobot_core import Attachment, AttachmentKind

    attachment = Attachment(kind=AttachmentKind.DOCUMENT, fetch=fetch, filename="f.bin")
    model = WorkdirModel()
    plugin = objects_plugin(chat_models=[("w", model)], media_processors=[("doc", DocProcessor())])
    async with Harness.start({"agent": {"model": "w/m"}}, plugins=[plugin], storage=storage) as bot:
        reply = await bot.say("ok", attachments=[attachment])
        assert reply.text == "fine"
        model.mode = "error"
        reply = await bot.say("error", attachments=[attachment])
        assert reply.status == "failed"
        model.mode = "hang"
        await bot.runtime.submit(
            Inbound(
                channel="test", chat_id="chat", user_id="u", text="hang", attachments=(attachment,)
            )
        )
        await third.wait()
        assert seen[2].exists()
    assert len(seen) == 3
    assert not any(path.exists() for path in seen)
    assert workdirs() == before


@attrs.frozen
class DocProcessor:
    kinds: frozenset[str] = frozenset({"document"})
    capability: str = ""

    async def process(self, path: Path, attachment: Any, context: Any) -> tuple[Any, ...]:
        from nanobot_core import TextPart

        return (TextPart(f"document of {(await trio.Path(path).stat()).st_size} bytes"),)


@attrs.define(eq=False)
class BadTokenChannel(RecordingChannel):
    runs: int = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.runs += 1
        from nanobot_core import ConfigError

        raise ConfigError("channels.bad.token: the server rejected the token")


async def test_a_config_error_stops_the_channel_for_good(storage: Path) -> None:
    bad = BadTokenChannel()
    harness = Harness.start({"runtime": {"restart_delay": 0.01}}, storage=storage)
    async with harness as bot:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(bot.runtime._supervise, "bad", bad)
        assert (await bot.say("others still work")).text == "echo: others still work"
    assert bad.runs == 1
    assert bot.runtime.fatal == ["channel bad: channels.bad.token: the server rejected the token"]


async def test_messages_after_stop_are_not_queued(storage: Path) -> None:
    async with Harness.start({}, storage=storage) as bot:
        assert (await bot.say("before")).text == "echo: before"
        bot.runtime.stop()
        assert await bot.submit("after") == Admission.CLOSED
    assert [o.text for o in bot.channel.sent] == ["echo: before"]


def build_runtime(raw: dict[str, Any], storage: Path, plugins: list[object]) -> Any:
    from nanobot_core.config import load_config
    from nanobot_core.plugins import Plugins
    from nanobot_core.registry import Registry
    from nanobot_core.runtime import Runtime

    loaded = Plugins.load(env={}, entry_points=False, extra=tuple(plugins))
    registry = Registry.collect(loaded.pm)
    raw = {**raw, "storage": {"path": str(storage)}}
    return Runtime.create(load_config(raw, registry, env={}), registry)


async def test_a_sender_waiting_on_a_full_queue_at_stop_is_told_closed(storage: Path) -> None:
    model = GateModel(delay=0, wait_for_release=True, full_at=1)
    plugin = objects_plugin(chat_models=[("gate", model)])
    async with Harness.start(config(queue_size=1), plugins=[plugin], storage=storage) as bot:
        await bot.submit("m0", chat_id="c")
        await model.full.wait()  # m0 is running
        await bot.submit("m1", chat_id="c")  # the queue (1) is now full
        admissions: list[str] = []

        async def waiting_sender() -> None:
            admissions.append(await bot.submit("m2", chat_id="c"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiting_sender)
            await trio.testing.wait_all_tasks_blocked()
            assert admissions == []
            bot.runtime.stop()
    assert admissions == [Admission.CLOSED]


@attrs.define(eq=False)
class SlowToOpenModel:
    """A chat model whose ``__aenter__`` (opening its client) waits to be released."""

    entered: trio.Event = attrs.field(factory=trio.Event)
    release: trio.Event = attrs.field(factory=trio.Event)

    async def __aenter__(self) -> SlowToOpenModel:
        self.entered.set()
        await self.release.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def complete(self, request: ChatRequest) -> ChatReply:
        return ChatReply(text="hi")


async def test_stop_during_start_up_is_not_lost(storage: Path) -> None:
    model = SlowToOpenModel()
    plugin = objects_plugin(chat_models=[("slow", model)])
    runtime = build_runtime({"agent": {"model": "slow/m"}}, storage, [plugin])
    channel = RecordingChannel()
    # A hang guard, not a timing assertion (the session store's threads rule out
    # the autojump clock): a lost stop leaves run() serving forever.
    with trio.move_on_after(10) as guard:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(runtime.run, {"test": channel})
            await model.entered.wait()
            runtime.stop()  # e.g. SIGTERM while a client connects
            model.release.set()
    assert not guard.cancelled_caught, "run() kept going after stop()"


@attrs.define(eq=False)
class StuckChannel(RecordingChannel):
    """Its ``send`` hangs (a dead connection); records how the send ended."""

    sending: trio.Event = attrs.field(factory=trio.Event)
    outcome: str = "not sent"

    async def send(self, outbound: Any) -> None:
        self.sending.set()
        try:
            await trio.sleep(5)
        except trio.Cancelled:
            self.outcome = "cancelled"
            raise
        self.outcome = "completed"


async def test_cancelling_run_from_outside_bounds_sends_by_the_grace(storage: Path) -> None:
    runtime = build_runtime({"runtime": {"shutdown_grace": 0.1}}, storage, [])
    channel = StuckChannel()
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run, {"test": channel})
        await runtime.submit(Inbound(channel="test", chat_id="c", user_id="u", text="hi"))
        await channel.sending.wait()
        nursery.cancel_scope.cancel()  # not runtime.stop(): e.g. a test harness ending
    assert channel.outcome == "cancelled"


async def test_harness_reports_a_channel_that_stops_before_it_is_ready(storage: Path) -> None:
    from nanobot_core import NanobotError

    with trio.move_on_after(10) as guard:  # a hang guard: ready() never comes for it
        with pytest.raises(NanobotError) as caught:
            async with Harness.start({}, storage=storage, channels={"bad": BadTokenChannel()}):
                pass
    assert not guard.cancelled_caught, "the harness waited forever for the channel"
    assert str(caught.value) == ("channel bad: channels.bad.token: the server rejected the token")
