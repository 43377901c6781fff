"""The runtime: owns the plugins' objects, supervises channels and runs turns.

Turns of one chat run in order through that chat's bounded queue; chats run
concurrently up to ``[runtime] max_concurrent_chats``. Every channel runs in
its own supervised task: a crash is logged and the channel restarted with
exponential backoff while the others keep going.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from functools import partial
from pathlib import Path

import trio
from attrs import define, field

from .access import Access
from .agent import Agent
from .components import Components
from .config import Config
from .errors import ConfigError
from .limits import Limits
from .media import MediaStage
from .messages import Inbound
from .protocols import Admission, Channel
from .registry import Registry
from .sessions import SessionStore
from .turn import TurnRunner

log = logging.getLogger(__name__)

IDLE_CHAT_SECONDS = 60.0
BACKOFF_MAX = 60.0
HEALTHY_RUN = 60.0  # a channel that ran this long before crashing starts its backoff again


@define
class _Chat:
    send: trio.MemorySendChannel[tuple[Inbound, Access]]


@define(eq=False)
class Runtime:
    """Build with ``Runtime.create(config, registry)``, then ``await runtime.run()``."""

    _config: Config
    registry: Registry
    components: Components = field(init=False)
    agent: Agent = field(init=False)
    _channels: dict[str, Channel] = field(init=False, factory=dict)
    _chats: dict[tuple[str, str], _Chat] = field(init=False, factory=dict)
    _sending: set[trio.CancelScope] = field(init=False, factory=set)
    _runner: TurnRunner | None = field(init=False, default=None)
    _turns: trio.Nursery | None = field(init=False, default=None)
    _slots: trio.CapacityLimiter | None = field(init=False, default=None)
    _stopping: bool = field(init=False, default=False)
    _ready: dict[str, trio.Event] = field(init=False, factory=dict)
    _ended: dict[str, trio.Event] = field(init=False, factory=dict)
    fatal: list[str] = field(init=False, factory=list)
    """Why channels stopped for good (a ``ConfigError`` from ``Channel.run``)."""

    @classmethod
    def create(cls, config: Config, registry: Registry) -> Runtime:
        """Call the enabled plugins' factories; raises ``ConfigError`` on any failure."""
        runtime = cls(config, registry)
        runtime.components = Components.build(config, registry, runtime)
        runtime.agent = Agent(
            model=runtime.components.chat_model,
            model_id=config.agent.model_id,
            system_prompt=config.agent.system_prompt,
            tools=runtime.components.tools,
            toolsets=tuple(runtime.components.toolsets.values()),
            max_iterations=config.agent.max_tool_iterations,
        )
        return runtime

    # --- Host, the part plugins see ---------------------------------------------------

    @property
    def config(self) -> Config:
        return self._config

    @property
    def storage_path(self) -> Path:
        return self._config.storage.path

    async def submit(self, inbound: Inbound) -> Admission:
        """Queue a message for its chat (waits while that chat's queue is full)."""
        channel = self._channels.get(inbound.channel)
        if channel is None:
            raise ValueError(f"channel {inbound.channel!r} is not running in this runtime")
        if self._turns is None or self._stopping:
            log.info("shutting down: dropped a message from %s", inbound.channel)
            return Admission.CLOSED
        access = channel.access.check(inbound.user_id)
        if access is Access.DENIED:
            log.info("denied %s user %s (not in allow_from)", inbound.channel, inbound.user_id)
            return Admission.DENIED
        key = (inbound.channel, inbound.chat_id)
        chat = self._chats.get(key) or self._open_chat(key)
        try:
            try:
                chat.send.send_nowait((inbound, access))
            except trio.WouldBlock:
                await chat.send.send((inbound, access))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return Admission.CLOSED  # shutdown began while this sender waited for room
        return Admission.ACCEPTED

    # --- running ----------------------------------------------------------------------

    async def run(
        self,
        channels: Mapping[str, Channel] | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run the channels until they all finish or ``stop()`` is called.

        ``channels`` replaces the configured channels (``nanobot chat`` runs
        only its console). When the channels finish by themselves, the turns
        already queued are answered before this returns. Channels outlive the
        turns, so replies in flight at shutdown can still be sent.
        """
        self._channels = dict(self.components.channels if channels is None else channels)
        settings = self._config.runtime
        await trio.Path(self.storage_path).mkdir(parents=True, exist_ok=True)
        async with AsyncExitStack() as stack:
            for obj in [*self.components.objects(), *self._channels.values()]:
                if hasattr(obj, "__aenter__") and hasattr(obj, "__aexit__"):
                    await stack.enter_async_context(obj)
            sessions = await SessionStore.open(self.storage_path)
            stack.push_async_callback(sessions.aclose)
            self._runner = self._make_runner(sessions)
            self._slots = trio.CapacityLimiter(settings.max_concurrent_chats)
            if self._stopping:  # stop() came while the plugins were starting
                task_status.started()
                return
            channels_done = trio.Event()
            try:
                async with trio.open_nursery() as outer:
                    outer.start_soon(self._stop_when_cancelled)
                    outer.start_soon(self._run_channels, channels_done)
                    async with trio.open_nursery() as turns:
                        self._turns = turns
                        task_status.started()
                        await channels_done.wait()
                        self._stopping = True
                        for chat in list(self._chats.values()):
                            chat.send.close()  # workers answer what is queued, then end
                    outer.cancel_scope.cancel()
            finally:
                self._turns = None

    def ready(self, name: str) -> trio.Event:
        """Set once channel ``name`` has called ``task_status.started()`` (connected)."""
        return self._ready.setdefault(name, trio.Event())

    def ended(self, name: str) -> trio.Event:
        """Set once channel ``name`` has stopped for good (finished, or a ``ConfigError``)."""
        return self._ended.setdefault(name, trio.Event())

    def stop(self) -> None:
        """Shut down: cancel the turns, give replies being sent ``shutdown_grace`` seconds,
        then stop the channels. Safe to call more than once."""
        self._stopping = True
        deadline = trio.current_time() + self._config.runtime.shutdown_grace
        for scope in self._sending:
            scope.deadline = min(scope.deadline, deadline)
        if self._turns is not None:
            self._turns.cancel_scope.cancel()

    async def _stop_when_cancelled(self) -> None:
        """Cancelling ``run`` from outside is a shutdown too: it bounds sends by the grace."""
        try:
            await trio.sleep_forever()
        finally:
            self.stop()

    async def _run_channels(self, done: trio.Event) -> None:
        try:
            async with trio.open_nursery() as supervisors:
                for name, channel in self._channels.items():
                    supervisors.start_soon(self._supervise, name, channel)
        finally:
            done.set()

    def _make_runner(self, sessions: SessionStore) -> TurnRunner:
        return TurnRunner(
            config=self._config,
            components=self.components,
            agent=self.agent,
            media=MediaStage(self.components.media),
            limits=Limits.from_config(self._config.limits, clock=trio.current_time),
            sessions=sessions,
            send_guard=self._send_guard,
        )

    @contextmanager
    def _send_guard(self) -> Iterator[None]:
        """A shielded scope for sending a reply; shutdown bounds it with the grace period."""
        with trio.CancelScope(shield=True) as scope:
            if self._stopping:
                scope.deadline = trio.current_time() + self._config.runtime.shutdown_grace
            self._sending.add(scope)
            try:
                yield
            finally:
                self._sending.discard(scope)

    def _open_chat(self, key: tuple[str, str]) -> _Chat:
        assert self._turns is not None
        send, receive = trio.open_memory_channel[tuple[Inbound, Access]](
            self._config.runtime.queue_size
        )
        chat = self._chats[key] = _Chat(send)
        self._turns.start_soon(self._chat_worker, key, chat, receive)
        return chat

    async def _chat_worker(
        self,
        key: tuple[str, str],
        chat: _Chat,
        receive: trio.MemoryReceiveChannel[tuple[Inbound, Access]],
    ) -> None:
        """Run one chat's turns in order; go away after a while without messages."""
        assert self._runner is not None and self._slots is not None
        try:
            while True:
                item = None
                with trio.move_on_after(IDLE_CHAT_SECONDS):
                    try:
                        item = await receive.receive()
                    except trio.EndOfChannel:
                        return
                if item is None:
                    # No checkpoint between this test and forgetting the chat: a
                    # message submitted from now on opens a new worker.
                    if receive.statistics().current_buffer_used == 0:
                        return
                    continue
                inbound, access = item
                async with self._slots:
                    await self._runner.run(inbound, access, self._channels[inbound.channel])
        finally:
            if self._chats.get(key) is chat:
                del self._chats[key]
            receive.close()

    async def _run_channel(self, name: str, channel: Channel) -> None:
        """One run of a channel; its lone error comes out as itself, not in a group."""
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(partial(channel.run))
                self.ready(name).set()
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1 and isinstance(group.exceptions[0], Exception):
                raise group.exceptions[0] from None
            raise

    async def _supervise(self, name: str, channel: Channel) -> None:
        try:
            await self._supervise_restarts(name, channel)
        finally:
            self.ended(name).set()

    async def _supervise_restarts(self, name: str, channel: Channel) -> None:
        first_delay = self._config.runtime.restart_delay
        delay = first_delay
        while True:
            started = trio.current_time()
            try:
                await self._run_channel(name, channel)
            except ConfigError as error:  # bad credentials do not get better by retrying
                log.error("channel %s stopped: %s", name, error)
                self.fatal.append(f"channel {name}: {error}")
                return
            except Exception:
                if trio.current_time() - started > HEALTHY_RUN:
                    delay = first_delay
                log.exception("channel %s crashed; restarting in %g s", name, delay)
            else:
                log.info("channel %s finished", name)
                return
            await trio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)
