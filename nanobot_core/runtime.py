"""The runtime: owns the plugins' objects, supervises channels and runs turns.

Turns of one chat run in order through that chat's bounded queue; chats run
concurrently up to ``[runtime] max_concurrent_chats``. Every channel runs in
its own supervised task: a crash is logged and the channel restarted with
exponential backoff while the others keep going.

Every accepted message is in the durable inbox before ``submit`` returns. At
start-up, the entries a previous run left unfinished go first into their chats'
queues: answered ones are sent again, ones younger than ``[runtime]
replay_window`` are run again, older ones (and ones whose files were not kept)
get a line asking to send them again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from functools import partial
from pathlib import Path

import trio
from attrs import define, field, frozen

from .access import Access
from .agent import Agent
from .components import Components
from .config import Config
from .errors import ConfigError
from .exceptiongroups import sole
from .inbox import Inbox, SqliteInbox, Ticket, Unfinished
from .limits import Limits
from .media import MediaStage
from .messages import Inbound, Outbound, TurnStatus
from .protocols import Admission, Channel
from .registry import Registry
from .sessions import SessionStore
from .turn import TurnRunner
from .workdir import open_workdir_root

log = logging.getLogger(__name__)

IDLE_CHAT_SECONDS = 60.0
BACKOFF_MAX = 60.0
HEALTHY_RUN = 60.0  # a channel that ran this long before crashing starts its backoff again
MARK_DELAY = 1.0  # seconds a "reply sent" mark may wait for a commit to ride along with
RESTARTED = "Sorry, I was restarted before I could answer that; please send it again."
RESTARTED_FILES = (
    "Sorry, I was restarted before I could answer that, and the files you sent were not "
    "kept; please send them again."
)


@frozen
class _Job:
    """One queued message. ``reply`` set: a replay that only sends it (``stored``: again)."""

    inbound: Inbound
    access: Access
    ticket: Ticket | None
    reply: Outbound | None = None
    stored: bool = False
    replayed: bool = False


@define
class _Chat:
    send: trio.MemorySendChannel[_Job]


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
    _inbox: Inbox | None = field(init=False, default=None)
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
        """Record a message in the inbox, then queue it for its chat.

        Waits while that chat's queue is full. A message whose channel and
        ``message_id`` were accepted before is answered once: this returns
        ``ACCEPTED`` and queues nothing.
        """
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
        ticket = None
        # Without a platform id a message can be neither recognised when it comes
        # again nor answered after a restart (the console): it is not recorded.
        if self._inbox is not None and inbound.message_id is not None:
            try:
                ticket = await self._inbox.accept(inbound)
            except Exception as error:  # a full disk: answer anyway; the reply will say so
                log.error("could not record a message from %s: %s", inbound.channel, error)
            else:
                if ticket is None:
                    log.info("%s message %s came again; answered once",
                             inbound.channel, inbound.message_id)  # fmt: skip
                    return Admission.ACCEPTED
        if self._turns is None or self._stopping:
            return self._too_late(inbound, ticket)
        key = (inbound.channel, inbound.chat_id)
        chat = self._chats.get(key) or self._open_chat(key)
        try:
            try:
                chat.send.send_nowait(_Job(inbound, access, ticket))
            except trio.WouldBlock:
                await chat.send.send(_Job(inbound, access, ticket))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return self._too_late(inbound, ticket)  # shutdown began while it waited
        return Admission.ACCEPTED

    def _too_late(self, inbound: Inbound, ticket: Ticket | None) -> Admission:
        """Shutting down: a recorded message is answered by the next start."""
        if ticket is not None:
            return Admission.ACCEPTED
        log.info("shutting down: dropped a message from %s", inbound.channel)
        return Admission.CLOSED

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
            workdirs = await stack.enter_async_context(open_workdir_root())
            for obj in [*self.components.objects(), *self._channels.values()]:
                if hasattr(obj, "__aenter__") and hasattr(obj, "__aexit__"):
                    await stack.enter_async_context(obj)
            sessions = await SessionStore.open(self.storage_path)
            stack.push_async_callback(sessions.aclose)
            self._inbox = inbox = await SqliteInbox.open(sessions)
            self._runner = self._make_runner(sessions, inbox, workdirs)
            self._slots = trio.CapacityLimiter(settings.max_concurrent_chats)
            if self._stopping:  # stop() came while the plugins were starting
                task_status.started()
                return
            replays = await self._plan_replays(inbox)
            channels_done = trio.Event()
            try:
                async with trio.open_nursery() as outer:
                    outer.start_soon(self._stop_when_cancelled)
                    outer.start_soon(self._flush_marks, inbox)
                    async with trio.open_nursery() as turns:
                        self._turns = turns
                        self._queue_replays(replays)  # before any new message of their chats
                        outer.start_soon(self._run_channels, channels_done)
                        task_status.started()
                        await channels_done.wait()
                        self._stopping = True
                        for chat in list(self._chats.values()):
                            chat.send.close()  # workers answer what is queued, then end
                    outer.cancel_scope.cancel()
            finally:
                self._turns = None
                self._inbox = None

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

    async def _flush_marks(self, inbox: Inbox) -> None:
        """Replies marked sent become durable within ``MARK_DELAY`` even when all is quiet."""
        while True:
            await trio.sleep(MARK_DELAY)
            try:
                await inbox.flush()
            except Exception as error:
                log.warning("could not store the inbox marks: %s", error)

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

    async def _plan_replays(self, inbox: Inbox) -> list[_Job]:
        """What to do with each entry a previous run left unfinished, in their order."""
        entries = await inbox.unfinished(self._channels)
        now, window = time.time(), self._config.runtime.replay_window
        jobs, dropped = [], 0
        for entry in entries:
            job = self._replay_job(entry, now - entry.accepted <= window)
            if job is None:
                dropped += 1
                await inbox.delivered(entry.ticket)
            else:
                jobs.append(job)
        if entries:
            log.warning("%d message(s) left unanswered by the last run: %d to answer now, "
                        "%d not (the sender is no longer allowed)",
                        len(entries), len(jobs), dropped)  # fmt: skip
        return jobs

    def _replay_job(self, entry: Unfinished, recent: bool) -> _Job | None:
        inbound = entry.inbound
        if inbound.message_id is None:  # not recorded since 0.2; older rows may have none
            return None
        access = self._channels[inbound.channel].access.check(inbound.user_id)
        if access is Access.DENIED:
            return None
        if entry.reply is not None:
            return _Job(inbound, access, entry.ticket, entry.reply, stored=True, replayed=True)
        if entry.attachments or not recent:
            text = RESTARTED_FILES if entry.attachments else RESTARTED
            apology = Outbound(
                channel=inbound.channel, chat_id=inbound.chat_id, text=text,
                reply_to=inbound.message_id, status=TurnStatus.FAILED,
            )  # fmt: skip
            return _Job(inbound, access, entry.ticket, apology, replayed=True)
        return _Job(inbound, access, entry.ticket, replayed=True)

    def _queue_replays(self, jobs: list[_Job]) -> None:
        by_chat: dict[tuple[str, str], list[_Job]] = {}
        for job in jobs:
            by_chat.setdefault((job.inbound.channel, job.inbound.chat_id), []).append(job)
        for key, chat_jobs in by_chat.items():
            chat = self._open_chat(key, room=len(chat_jobs))
            for job in chat_jobs:
                chat.send.send_nowait(job)

    def _make_runner(self, sessions: SessionStore, inbox: Inbox, workdirs: Path) -> TurnRunner:
        return TurnRunner(
            config=self._config,
            components=self.components,
            agent=self.agent,
            media=MediaStage(self.components.media),
            limits=Limits.from_config(self._config.limits, clock=trio.current_time),
            sessions=sessions,
            inbox=inbox,
            send_guard=self._send_guard,
            workdirs=workdirs,
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

    def _open_chat(self, key: tuple[str, str], room: int = 0) -> _Chat:
        """``room``: places for replays, beside the queue's own size."""
        assert self._turns is not None
        send, receive = trio.open_memory_channel[_Job](self._config.runtime.queue_size + room)
        chat = self._chats[key] = _Chat(send)
        self._turns.start_soon(self._chat_worker, key, chat, receive)
        return chat

    async def _chat_worker(
        self,
        key: tuple[str, str],
        chat: _Chat,
        receive: trio.MemoryReceiveChannel[_Job],
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
                await self._run_job(item)
        finally:
            if self._chats.get(key) is chat:
                del self._chats[key]
            receive.close()

    async def _run_job(self, job: _Job) -> None:
        assert self._runner is not None and self._slots is not None
        name = job.inbound.channel
        channel = self._channels[name]
        if job.replayed:
            await self.ready(name).wait()  # queued at start-up, before its channel connected
        async with self._slots:
            if job.reply is not None:
                await self._runner.deliver(channel, job.ticket, job.reply, stored=job.stored)
            else:
                await self._runner.run(job.inbound, job.access, channel, job.ticket)

    async def _run_channel(self, name: str, channel: Channel) -> None:
        """One run of a channel; its lone error comes out as itself, not in a group."""
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(partial(channel.run))
                self.ready(name).set()
        except BaseExceptionGroup as group:
            error = sole(group)
            if isinstance(error, Exception) and not isinstance(error, BaseExceptionGroup):
                raise error from None
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
