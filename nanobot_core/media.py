"""The media stage: attachments in, content parts for the model out, inside the turn's scope.

Each attachment goes to the media processor registered for its kind. Sizes are
checked before anything is fetched, rate limits before the processor runs, and
a failure becomes a note for the user while the other attachments go on.

A kind the channel reports itself (photo, voice note, video note, animation) is
trusted. A file the channel cannot tell apart (a document, a console
``--attach``) is fetched first and its kind is read from its bytes
(``nanobot_core.kinds``): a picture sent as a file is an image whatever its
name, a ``.3gp`` with a video track is a video, an audio-only ``.mp4`` is audio.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import attrs
import trio
from attrs import define, frozen

from . import kinds
from .activity import ActivityReporter
from .errors import MediaError, NanobotError, TurnRefused
from .messages import Activity, Attachment, AttachmentKind, Part
from .protocols import MediaContext, MediaProcessor

log = logging.getLogger(__name__)

Check = Callable[[str], None]
"""Applies a rate limit for a capability ("video", "transcription"); raises TurnRefused."""

UNDECLARED = frozenset({AttachmentKind.DOCUMENT, AttachmentKind.OTHER})
"""Kinds that say only "a file": the core decides from the bytes what it is."""


@frozen
class MediaResult:
    parts: tuple[Part, ...]
    notes: tuple[str, ...]


@define
class MediaStage:
    processors: Mapping[str, MediaProcessor]  # attachment kind -> processor

    async def prepare(
        self,
        attachments: tuple[Attachment, ...],
        *,
        workdir: Path,
        check: Check,
        transcribe: Callable[[Path], Awaitable[str]] | None,
        activity: ActivityReporter,
    ) -> MediaResult:
        parts: list[Part] = []
        notes: list[str] = []
        for index, attachment in enumerate(attachments):
            name = attachment.filename or f"{attachment.kind.value} {index + 1}"
            try:
                parts += await self._one(attachment, workdir, check, transcribe, activity)
            except (MediaError, TurnRefused) as error:
                notes.append(f"{name}: {error}")
            except NanobotError as error:
                notes.append(f"{name} could not be processed: {error}")
            except Exception:  # a plugin's bug spoils this attachment, not the turn
                log.exception("processing %s (%s) failed", name, attachment.kind.value)
                notes.append(f"{name} could not be processed (an internal error, logged).")
        return MediaResult(tuple(parts), tuple(notes))

    async def _one(
        self,
        attachment: Attachment,
        workdir: Path,
        check: Check,
        transcribe: Callable[[Path], Awaitable[str]] | None,
        activity: ActivityReporter,
    ) -> tuple[Part, ...]:
        processor = self.processors.get(attachment.kind.value)
        if attachment.kind in UNDECLARED:
            _check_declared_size(attachment, self._largest_limit())
            path = await self._fetch(attachment, workdir, activity)
            attachment, processor = await self._by_content(attachment, path, check)
        else:
            if processor is None:
                raise MediaError(f"I can't read {_kind_label(attachment)} attachments.")
            _check_declared_size(attachment, getattr(processor, "max_bytes", None))
            if processor.capability:
                check(processor.capability)
            path = await self._fetch(attachment, workdir, activity)
        context = MediaContext(workdir=workdir, transcribe=transcribe, set_activity=activity.show)
        async with activity.during(Activity.EXTRACTING):
            return tuple(await processor.process(path, attachment, context))

    async def _fetch(
        self, attachment: Attachment, workdir: Path, activity: ActivityReporter
    ) -> Path:
        async with activity.during(Activity.DOWNLOADING):
            path = await attachment.fetch(workdir)
        if not await _inside(path, workdir):
            log.error("a %s attachment was delivered outside the turn's workdir", attachment.kind)
            raise MediaError("the file could not be received.")
        return path

    async def _by_content(
        self, attachment: Attachment, path: Path, check: Check
    ) -> tuple[Attachment, MediaProcessor]:
        """The attachment with the kind its bytes show, and the processor for that kind."""
        sniffed = await trio.to_thread.run_sync(kinds.sniff, path)
        if sniffed is not None and sniffed.kind.value in self.processors:
            attachment = attrs.evolve(attachment, kind=sniffed.kind, mime_type=sniffed.mime)
        processor = self.processors.get(attachment.kind.value)
        if processor is None:
            what = sniffed.kind if sniffed is not None else attachment.kind
            raise MediaError(f"I can't read {what.value.replace('_', ' ')} attachments.")
        limit = getattr(processor, "max_bytes", None)
        size = (await trio.Path(path).stat()).st_size
        if limit is not None and size > limit:
            raise MediaError(too_large("the file", size, limit))
        if processor.capability:
            check(processor.capability)
        return attachment, processor

    def _largest_limit(self) -> int | None:
        """What a file of unknown kind may weigh: the most any processor takes (or no cap)."""
        limits: list[int | None] = [getattr(p, "max_bytes", None) for p in self.processors.values()]
        known = [limit for limit in limits if limit is not None]
        return max(known) if known and len(known) == len(limits) else None


def _check_declared_size(attachment: Attachment, limit: int | None) -> None:
    if limit is not None and attachment.size is not None and attachment.size > limit:
        raise MediaError(too_large("the file", attachment.size, limit))


def _kind_label(attachment: Attachment) -> str:
    return attachment.kind.value.replace("_", " ")


def too_large(what: str, size: int, limit: int) -> str:
    """``the file is 31.5 MB, 5.3 MB over the 25.0 MB limit.``"""
    return (
        f"{what} is {describe_size(size)}, {describe_size(size - limit)} over "
        f"the {describe_size(limit)} limit."
    )


async def _inside(path: Path, workdir: Path) -> bool:
    """Whether ``path``, symlinks resolved, lies in ``workdir``: processors read only there."""
    resolved, root = await trio.to_thread.run_sync(
        lambda: (Path(path).resolve(), Path(workdir).resolve())
    )
    return resolved.is_relative_to(root)


def describe_size(size: int) -> str:
    """``512 bytes``, ``2.1 KB``, ``31.5 MB``: decimal units, as people read them."""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.1f} KB"
    return f"{size / 1_000_000:.1f} MB"


def describe_parts(parts: tuple[Part, ...]) -> str:
    """A one-line summary for logs."""
    return ", ".join(type(p).__name__ for p in parts) or "no parts"
