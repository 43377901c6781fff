"""Test a plugin in a few lines: a real runtime built from given plugins and config.

    from nanobot_core.testing import Harness

    async def test_my_model(tmp_path):
        async with Harness.start({"agent": {"model": "mine/x"}}, plugins=[my_plugin],
                                 storage=tmp_path) as bot:
            reply = await bot.say("hello")
            assert reply.text == "..."

``Harness`` runs the real ``Runtime`` (queues, turn pipeline, session store,
limits) with a ``RecordingChannel`` in place of a chat platform.
``ScriptedChatModel`` answers from a list of replies and records every
request. ``OpenAIServer`` (``nanobot_core.testing.openai_server``) is a real
OpenAI-compatible HTTP server on 127.0.0.1 for provider plugins.
"""

from __future__ import annotations

import collections
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from attrs import define, field

from ..access import AccessPolicy
from ..config import Config, load_config
from ..errors import NanobotError
from ..hookspecs import hookimpl
from ..messages import (
    Activity,
    Attachment,
    ChatReply,
    ChatRequest,
    Inbound,
    Outbound,
    ToolCall,
)
from ..plugins import Plugins
from ..protocols import Channel
from ..registry import Register, Registry
from ..runtime import Runtime

CHANNEL = "test"


@define(eq=False)
class RecordingChannel:
    """A channel that records what the runtime sends and shows, and can wait for replies."""

    access: AccessPolicy = field(factory=AccessPolicy.operator)
    sent: list[Outbound] = field(factory=list)
    activities: list[tuple[str, Activity | None]] = field(factory=list)
    _arrived: trio.Condition = field(factory=trio.Condition)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep_forever()

    async def send(self, outbound: Outbound) -> None:
        async with self._arrived:
            self.sent.append(outbound)
            self._arrived.notify_all()

    async def set_activity(self, chat_id: str, activity: Activity | None) -> None:
        self.activities.append((chat_id, activity))

    async def wait_for(self, count: int) -> list[Outbound]:
        """Wait until at least ``count`` replies were sent in all; return them."""
        async with self._arrived:
            while len(self.sent) < count:
                await self._arrived.wait()
        return list(self.sent)


@define(eq=False)
class ScriptedChatModel:
    """A chat model that answers from a script and records each request.

    Each script item is a ``ChatReply``, a string (a text reply), or an
    exception instance to raise. When the script runs out it echoes the last
    user text.
    """

    script: collections.deque[ChatReply | str | BaseException] = field(
        factory=collections.deque, converter=collections.deque
    )
    requests: list[ChatRequest] = field(factory=list)
    delay: float = 0.0

    async def complete(self, request: ChatRequest) -> ChatReply:
        self.requests.append(request)
        if self.delay:
            await trio.sleep(self.delay)
        if not self.script:
            user = next((m for m in reversed(request.messages) if m.role == "user"), None)
            return ChatReply(text=f"scripted: {user.text if user else ''}")
        item = self.script.popleft()
        if isinstance(item, BaseException):
            raise item
        return ChatReply(text=item) if isinstance(item, str) else item


def tool_call(name: str, arguments: str = "{}", id: str = "call-1") -> ChatReply:
    """A reply asking for one tool call (for ``ScriptedChatModel`` scripts)."""
    return ChatReply(tool_calls=(ToolCall(id=id, name=name, arguments=arguments),))


class _Plugin:
    """A plugin object registering given objects under given names (for tests)."""

    def __init__(self, registrations: Mapping[str, Sequence[tuple[str, Any]]]) -> None:
        self.registrations = registrations

    def _register(self, kind: str, register: Register) -> None:
        for name, obj in self.registrations.get(kind, ()):
            register(name, _constant(obj))

    @hookimpl
    def register_chat_models(self, register: Register) -> None:
        self._register("chat_models", register)

    @hookimpl
    def register_transcribers(self, register: Register) -> None:
        self._register("transcribers", register)

    @hookimpl
    def register_speech_synthesizers(self, register: Register) -> None:
        self._register("speech_synthesizers", register)

    @hookimpl
    def register_media_processors(self, register: Register) -> None:
        self._register("media_processors", register)

    @hookimpl
    def register_tools(self, register: Register) -> None:
        self._register("tools", register)


def _constant(obj: Any) -> Callable[[Any, Any], Any]:
    def factory(config: Any, host: Any) -> Any:
        return obj

    return factory


def objects_plugin(**registrations: Iterable[tuple[str, Any]]) -> object:
    """A plugin that registers ready-made objects: ``objects_plugin(chat_models=[("s", m)])``.

    Keys: chat_models, transcribers, speech_synthesizers, media_processors, tools.
    """
    return _Plugin({kind: list(items) for kind, items in registrations.items()})


@define(eq=False)
class Harness:
    """A running ``Runtime`` with a ``RecordingChannel`` named ``"test"``."""

    runtime: Runtime
    channel: RecordingChannel
    config: Config
    channels: dict[str, Channel] = field(factory=dict)
    """The extra channels given to ``start``, as built (by name)."""

    @classmethod
    @asynccontextmanager
    async def start(
        cls,
        config: Mapping[str, Any] | None = None,
        *,
        plugins: Sequence[object] = (),
        storage: Path | None = None,
        entry_points: bool = False,
        env: Mapping[str, str] | None = None,
        access: AccessPolicy | None = None,
        channels: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Harness]:
        """Load plugins (built-ins + ``plugins``; entry points only when asked), build, run.

        ``storage`` is required unless the config sets ``[storage] path``.
        ``channels`` run beside the recording channel (named ``"test"``): a channel
        object, or a callable that receives the runtime (the host) and returns one;
        the harness is ready once each of them has called ``task_status.started()``;
        one that stops for good before that raises ``NanobotError`` with its reason.
        """
        raw = dict(config or {})
        if storage is not None:
            raw.setdefault("storage", {"path": str(storage)})
        if "storage" not in raw:
            raise ValueError("Harness.start needs storage= (a temporary directory)")
        loaded = Plugins.load(
            env={} if env is None else env, entry_points=entry_points, extra=tuple(plugins)
        )
        failed = loaded.failures()
        if failed:
            raise NanobotError("; ".join(f"{i.name}: {i.error}" for i in failed))
        registry = Registry.collect(loaded.pm)
        if registry.problems:
            raise NanobotError("; ".join(registry.problems))
        loaded_config = load_config(raw, registry, env=os.environ if env is None else env)
        runtime = Runtime.create(loaded_config, registry)
        channel = RecordingChannel(access=access or AccessPolicy.operator())
        async with trio.open_nursery() as nursery:
            extra = {
                name: value if isinstance(value, Channel) else value(runtime)
                for name, value in (channels or {}).items()
            }
            await nursery.start(partial_run(runtime, {**extra, CHANNEL: channel}))
            stopped = [name for name in extra if not await _ready_or_ended(runtime, name)]
            if stopped:  # raised below, outside the nursery, as itself
                nursery.cancel_scope.cancel()
            else:
                try:
                    yield cls(
                        runtime=runtime, channel=channel, config=loaded_config, channels=extra
                    )
                finally:
                    nursery.cancel_scope.cancel()
        if stopped:
            reasons = runtime.fatal or [
                f"channel {name} finished before it was ready" for name in stopped
            ]
            raise NanobotError("; ".join(reasons))

    async def say(
        self,
        text: str = "",
        *,
        chat_id: str = "chat",
        user_id: str = "user",
        attachments: Sequence[Attachment] = (),
        session: str = "",
        message_id: str | None = None,
    ) -> Outbound:
        """Submit one message and wait for its reply (the next reply sent in all).

        ``message_id`` as a platform would give it: a second message with the same
        id is answered once, and an unanswered one is replayed after a restart.
        """
        before = len(self.channel.sent)
        inbound = Inbound(
            channel=CHANNEL,
            chat_id=chat_id,
            user_id=user_id,
            text=text,
            attachments=tuple(attachments),
            session=session,
            message_id=message_id,
        )
        admission = await self.runtime.submit(inbound)
        if admission != "accepted":
            raise AssertionError(f"message was not accepted: {admission}")
        sent = await self.channel.wait_for(before + 1)
        return sent[before]

    async def submit(
        self,
        text: str,
        *,
        chat_id: str = "chat",
        user_id: str = "user",
        message_id: str | None = None,
    ) -> str:
        """Submit without waiting for the reply; returns the admission."""
        inbound = Inbound(
            channel=CHANNEL, chat_id=chat_id, user_id=user_id, text=text, message_id=message_id
        )
        return await self.runtime.submit(inbound)


async def _ready_or_ended(runtime: Runtime, name: str) -> bool:
    """Wait until channel ``name`` is ready (True) or has stopped for good (False)."""
    async with trio.open_nursery() as nursery:
        for event in (runtime.ready(name), runtime.ended(name)):
            nursery.start_soon(_wait_then_cancel, event, nursery.cancel_scope)
    return runtime.ready(name).is_set()


async def _wait_then_cancel(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


def partial_run(runtime: Runtime, channels: Mapping[str, Any]) -> Any:
    async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await runtime.run(channels, task_status=task_status)

    return run


__all__ = [
    "Harness",
    "RecordingChannel",
    "ScriptedChatModel",
    "objects_plugin",
    "tool_call",
]
