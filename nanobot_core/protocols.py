"""What a plugin's registered objects must look like.

A factory registered through a ``register_*`` hook returns one of these. Any
of them may also be an async context manager (``__aenter__``/``__aexit__``):
the runtime enters it once at start-up inside its own scope and exits it at
shutdown, which is where network clients are opened and closed.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import trio
from attrs import field, frozen

from .messages import (
    Activity,
    Attachment,
    AttachmentKind,
    AudioFile,
    ChatReply,
    ChatRequest,
    Inbound,
    Outbound,
    Part,
)

if TYPE_CHECKING:
    from .access import AccessPolicy
    from .config import Config


class Admission(enum.StrEnum):
    """What ``Host.submit`` says about an inbound message."""

    ACCEPTED = "accepted"  # queued, and recorded durably when it has a message_id
    DENIED = "denied"  # not on the channel's allow-list: nothing was processed
    CLOSED = "closed"  # the runtime is shutting down: nothing was queued, say nothing


class Host(Protocol):
    """The part of the runtime a plugin's factory receives and may use."""

    @property
    def config(self) -> Config: ...

    @property
    def storage_path(self) -> Path:
        """A directory the plugin may keep state in (created on first use)."""
        ...

    async def submit(self, inbound: Inbound) -> Admission:
        """Queue a message for its chat; returns an ``Admission`` value.

        Waits when that chat's queue is full (backpressure).
        """
        ...


@runtime_checkable
class Channel(Protocol):
    """A chat platform: receives messages and sends replies."""

    access: AccessPolicy

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Receive until cancelled, calling ``host.submit(inbound)`` for each message.

        Call ``task_status.started()`` once connected. Raising restarts the
        channel with backoff; other channels keep running.
        """
        ...

    async def send(self, outbound: Outbound) -> None:
        """Deliver a reply: its text and, in order, its audio segments as voice notes."""
        ...

    async def set_activity(self, chat_id: str, activity: Activity | None) -> None:
        """Show what the runtime is doing for a chat (``None``: done). Must not block."""
        ...


@runtime_checkable
class ChatModel(Protocol):
    """Messages and tool specs in, a reply or tool calls out."""

    async def complete(self, request: ChatRequest) -> ChatReply: ...


@runtime_checkable
class Transcriber(Protocol):
    """Speech to text."""

    async def transcribe(self, audio: Path, *, language: str | None = None) -> str: ...


@runtime_checkable
class SpeechSynthesizer(Protocol):
    """Text to audio files (OGG/Opus for voice notes) written into ``workdir``.

    Long text may come back as several segments, in order. Raise
    ``SpeechError`` with a user-facing reason when no audio can be made.
    """

    async def synthesize(self, text: str, workdir: Path) -> tuple[AudioFile, ...]: ...


@frozen
class MediaContext:
    """What a media processor gets besides the file."""

    workdir: Path
    transcribe: Callable[[Path], Awaitable[str]] | None = None
    """Transcribe an audio file (rate limits applied); ``None`` when no transcriber is set."""
    set_activity: Callable[[Activity], Awaitable[None]] = field(factory=lambda: _no_activity)
    """Tell the user's channel what is happening (``Activity.EXTRACTING``...)."""


async def _no_activity(activity: Activity) -> None:
    return None


@runtime_checkable
class MediaProcessor(Protocol):
    """Turns one kind of attachment into content parts for the model.

    ``capability`` names the rate limit the core applies before calling
    ``process`` (``"video"``), or is empty for none. An optional ``max_bytes``
    attribute makes the core refuse larger attachments from their declared
    size, before anything is downloaded.
    """

    kinds: frozenset[AttachmentKind]
    capability: str

    async def process(
        self, path: Path, attachment: Attachment, context: MediaContext
    ) -> tuple[Part, ...]: ...


@frozen
class ToolContext:
    """Who a tool runs for, and where it may write temporary files."""

    channel: str
    chat_id: str
    user_id: str
    workdir: Path
    admin: bool = False
    """The user is one of the channel's admins, or the local operator (the console)."""


@runtime_checkable
class Tool(Protocol):
    """A function the model may call. ``parameters`` is a JSON schema for the arguments.

    Arguments are validated against the schema before ``call``; raise
    ``ToolError`` to tell the model what went wrong.
    """

    description: str
    parameters: Mapping[str, Any]

    async def call(self, arguments: Mapping[str, Any], context: ToolContext) -> str: ...


@runtime_checkable
class ToolSet(Protocol):
    """Tools known only once the plugin has started (the tools an MCP server lists).

    Registered through ``register_tools`` like a ``Tool``. The agent asks
    ``tools(context)`` before every model call: what it returns (name -> tool,
    names as the model sees them) is offered for that call and may change
    between calls. A name a static tool already has is skipped. Must not block.
    """

    def tools(self, context: ToolContext) -> Mapping[str, Tool]: ...
