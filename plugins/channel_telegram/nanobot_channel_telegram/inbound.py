"""What an incoming Telegram message carries, read from the message alone (no download)."""

from __future__ import annotations

import re
from pathlib import Path

import trio
from attrs import frozen
from telethon import errors, types  # type: ignore[import-untyped]

from nanobot_core import Attachment, AttachmentKind, MediaError

from .client import TelegramLink


@frozen
class Unsupported:
    """Media the bot cannot use; ``what`` completes "I can't read …"."""

    what: str


def classify(message: types.Message) -> AttachmentKind | Unsupported | None:
    """The attachment kind of a message's media; ``None`` for plain text."""
    media = message.media
    if media is None or isinstance(media, types.MessageMediaWebPage):
        return None
    if message.photo:
        return AttachmentKind.IMAGE
    if message.sticker:
        return Unsupported("stickers")
    if message.voice:
        return AttachmentKind.VOICE
    if message.video_note:
        return AttachmentKind.VIDEO_NOTE
    if message.gif:
        return AttachmentKind.ANIMATION
    if message.audio:
        return AttachmentKind.AUDIO
    if message.video:
        return AttachmentKind.VIDEO
    if message.document:  # a file: the core reads its kind from the bytes, not the name
        return AttachmentKind.DOCUMENT
    return Unsupported(_describe(media))


def _describe(media: types.TypeMessageMedia) -> str:
    if isinstance(
        media, types.MessageMediaGeo | types.MessageMediaGeoLive | types.MessageMediaVenue
    ):
        return "locations"
    if isinstance(media, types.MessageMediaContact):
        return "contacts"
    if isinstance(media, types.MessageMediaPoll):
        return "polls"
    if isinstance(media, types.MessageMediaDice):
        return "dice"
    return "this kind of message"


def declared_size(message: types.Message) -> int | None:
    return message.file.size if message.file else None


def attachment(
    message: types.Message, kind: AttachmentKind, link: TelegramLink, max_bytes: int
) -> Attachment:
    """Describe the media; ``fetch`` downloads it into the turn's workdir when called."""
    file = message.file
    name = _safe_name(file.name or f"{kind.value}-{message.id}{file.ext or ''}")

    async def fetch(workdir: Path) -> Path:
        target = workdir / f"{message.id}-{name}"  # an album's files may share a name
        try:
            async with await trio.open_file(target, "wb") as f:
                result = await link.download(message, _TrioSink(f, link, max_bytes))
        except errors.RPCError as error:
            refusal = type(error).__name__
            raise MediaError(f"Telegram would not send that file ({refusal}).") from None
        except ConnectionError:
            raise MediaError("The connection to Telegram broke while downloading.") from None
        if result is None:
            raise MediaError("That file is no longer available on Telegram.")
        return target

    return Attachment(
        kind=kind,
        fetch=fetch,
        filename=name,
        size=file.size,
        mime_type=file.mime_type,
        duration=float(file.duration) if file.duration is not None else None,
    )


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^\w.\- ]", "_", Path(name).name).strip(" .") or "file"
    return cleaned[:100]


class _TrioSink:
    """A file telethon writes chunks into; each write goes to disk through trio's thread.

    telethon awaits ``write`` when it returns an awaitable, so the loop never
    blocks on disk. The byte count is checked again while downloading.
    """

    def __init__(self, file: trio.abc.AsyncResource, link: TelegramLink, max_bytes: int) -> None:
        self._file = file
        self._write = link.bridge.asyncio_callback(self._write_chunk)
        self._max = max_bytes
        self._written = 0

    def write(self, chunk: bytes) -> object:
        self._written += len(chunk)
        if self._written > self._max:
            raise MediaError("That file is larger than it said it was; download stopped.")
        return self._write(chunk)

    async def _write_chunk(self, chunk: bytes) -> None:
        await self._file.write(chunk)  # type: ignore[attr-defined]

    def tell(self) -> int:
        return self._written
