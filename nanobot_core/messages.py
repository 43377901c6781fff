"""The values that flow through a turn: what arrives, what the model sees, what goes out.

Everything here is a frozen attrs class: cheap to build, safe to share between
tasks, and never a raw dict.
"""

from __future__ import annotations

import enum
import shutil
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import trio
from attrs import field, frozen

from .workdir import fit_name


class AttachmentKind(enum.StrEnum):
    """What an attachment is, as far as the channel can tell."""

    IMAGE = "image"
    VOICE = "voice"
    AUDIO = "audio"
    VIDEO = "video"
    VIDEO_NOTE = "video_note"
    ANIMATION = "animation"
    DOCUMENT = "document"
    STICKER = "sticker"
    OTHER = "other"


Fetch = Callable[[Path], Awaitable[Path]]
"""Materialise an attachment inside the given directory and return its path."""


@frozen
class Attachment:
    """A file that came with an inbound message, not yet on disk.

    Channels describe the file (kind, size, name) from the message itself and
    give a ``fetch`` coroutine function. The runtime calls ``fetch(workdir)``
    only after access and size checks passed, with the turn's own temporary
    directory, so nothing is downloaded for a refused turn and everything is
    removed when the turn ends.
    """

    kind: AttachmentKind
    fetch: Fetch = field(repr=False)
    filename: str = ""
    size: int | None = None
    mime_type: str | None = None
    duration: float | None = None

    @classmethod
    def from_path(
        cls, path: Path, kind: AttachmentKind, *, mime_type: str | None = None
    ) -> Attachment:
        """An attachment backed by a local file; ``fetch`` copies it into the workdir."""

        source = Path(path)

        async def copy_into(workdir: Path) -> Path:
            target = workdir / fit_name(f"{kind.value}-{source.name}")
            await trio.to_thread.run_sync(shutil.copyfile, source, target)
            return target

        return cls(
            kind=kind,
            fetch=copy_into,
            filename=source.name,
            size=source.stat().st_size,
            mime_type=mime_type,
        )


@frozen
class Inbound:
    """One message from a user, as a channel hands it to ``Runtime.submit``.

    ``chat_id`` names the conversation (turns of one chat run in order);
    ``user_id`` is who sent it (access control and rate limits are per user).
    ``session`` distinguishes several conversations in one chat (the console's
    ``--session``); most channels leave it empty.

    ``message_id`` is the platform's id for the message, unique within the
    channel (a Telegram message id). Give it whenever the platform has one: a
    message with an id is recorded in the durable inbox before ``submit``
    returns, a second delivery of the same id is answered once, and one left
    unanswered by a crash is answered after the restart (``docs/delivery.md``).
    Without an id nothing is recorded. Replies carry it back as ``reply_to``.
    """

    channel: str
    chat_id: str
    user_id: str
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    message_id: str | None = None
    session: str = ""


@frozen
class AudioFile:
    """Synthesised audio on disk in the turn's workdir. OGG/Opus for voice notes."""

    path: Path
    mime_type: str = "audio/ogg"
    duration: float | None = None


class TurnStatus(enum.StrEnum):
    """How a turn ended, so a channel can render a refusal or failure differently."""

    OK = "ok"
    REFUSED = "refused"  # rate limited or queue full: the text says when to retry
    FAILED = "failed"  # the model, a tool or the runtime failed: the text says what happened


@frozen
class Outbound:
    """A reply for one chat: text, and optionally audio segments to send as voice notes."""

    channel: str
    chat_id: str
    text: str
    audio: tuple[AudioFile, ...] = ()
    reply_to: str | None = None
    status: TurnStatus = TurnStatus.OK


# --- what the model sees -------------------------------------------------------------


@frozen
class TextPart:
    """Text given to the model."""

    text: str


@frozen
class ImagePart:
    """An image given to the model, held in memory (providers encode it as they need).

    ``description`` is the short line stored in history instead of the bytes.
    """

    data: bytes = field(repr=lambda d: f"<{len(d)} bytes>")
    mime_type: str
    description: str = "image"


Part = TextPart | ImagePart


@frozen
class ToolCall:
    """The model asking for a tool; ``arguments`` is the raw JSON text it produced."""

    id: str
    name: str
    arguments: str


@frozen
class ToolSpec:
    """A tool as the model is told about it: name, description, JSON-schema parameters."""

    name: str
    description: str
    parameters: Mapping[str, Any]


Role = Literal["system", "user", "assistant", "tool"]


@frozen
class ChatMessage:
    """One message in a conversation sent to a chat model.

    ``extra`` carries provider fields that must be sent back unchanged on the
    next call (for example ``reasoning_content`` of some compatible servers).
    """

    role: Role
    content: tuple[Part, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    extra: Mapping[str, Any] = field(factory=dict)

    @classmethod
    def of(cls, role: Role, text: str, **kwargs: Any) -> ChatMessage:
        return cls(role=role, content=(TextPart(text),) if text else (), **kwargs)

    @property
    def text(self) -> str:
        """The text parts joined; images are left out."""
        return "\n".join(p.text for p in self.content if isinstance(p, TextPart))


@frozen
class ChatRequest:
    """What the agent loop asks a chat model for."""

    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()


@frozen
class ChatReply:
    """A chat model's answer: text, tool calls, or both."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    extra: Mapping[str, Any] = field(factory=dict)

    def as_message(self) -> ChatMessage:
        return ChatMessage.of("assistant", self.text, tool_calls=self.tool_calls, extra=self.extra)


class Activity(enum.StrEnum):
    """What the runtime is doing for a chat, so a channel can show it."""

    TYPING = "typing"
    RECORDING = "recording"
    DOWNLOADING = "downloading"
    TRANSCRIBING = "transcribing"
    EXTRACTING = "extracting"


__all__ = [
    "Activity",
    "Attachment",
    "AttachmentKind",
    "AudioFile",
    "ChatMessage",
    "ChatReply",
    "ChatRequest",
    "Fetch",
    "ImagePart",
    "Inbound",
    "Outbound",
    "Part",
    "Role",
    "TextPart",
    "ToolCall",
    "ToolSpec",
    "TurnStatus",
]
