"""Built-in media processors: images become image parts, voice and audio become transcripts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import trio
from attrs import frozen

from ..errors import MediaError
from ..hookspecs import hookimpl
from ..media import too_large
from ..messages import Activity, Attachment, AttachmentKind, ImagePart, Part, TextPart
from ..protocols import MediaContext
from ..registry import Register
from ..validators import positive

IMAGE_LIMIT = 20 * 1024 * 1024  # the vision APIs' per-image limit
AUDIO_LIMIT = 25 * 1024 * 1024  # the transcription APIs' upload limit

# Magic numbers of the formats vision models accept.
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_image(head: bytes) -> str | None:
    """The MIME type of a JPEG/PNG/GIF/WEBP image from its first bytes, or None."""
    for signature, mime in _SIGNATURES:
        if head.startswith(signature):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@frozen
class ImageConfig:
    max_bytes: int = attrs.field(default=IMAGE_LIMIT, validator=positive)


@frozen
class ImageProcessor:
    """Checks format and size, then hands the image to the model as it is."""

    max_bytes: int = IMAGE_LIMIT
    kinds: frozenset[AttachmentKind] = frozenset({AttachmentKind.IMAGE})
    capability: str = ""

    async def process(
        self, path: Path, attachment: Attachment, context: MediaContext
    ) -> tuple[Part, ...]:
        await _check_size(path, self.max_bytes, "image")
        data = await trio.Path(path).read_bytes()
        mime = sniff_image(data[:16])
        if mime is None:
            raise MediaError("the file is not a JPEG, PNG, WEBP or GIF image.")
        return (ImagePart(data=data, mime_type=mime, description=_describe(attachment)),)


async def _check_size(path: Path, limit: int, what: str) -> None:
    """The size on disk, which may differ from what the channel declared."""
    size = (await trio.Path(path).stat()).st_size
    if size == 0:
        raise MediaError(f"the {what} file is empty.")
    if size > limit:
        raise MediaError(too_large(f"the {what}", size, limit))


def _describe(attachment: Attachment) -> str:
    return f"image {attachment.filename}" if attachment.filename else "image"


@frozen
class AudioConfig:
    max_bytes: int = attrs.field(default=AUDIO_LIMIT, validator=positive)


@frozen
class AudioProcessor:
    """Voice notes and audio files become their transcript (the configured transcriber)."""

    max_bytes: int = AUDIO_LIMIT
    kinds: frozenset[AttachmentKind] = frozenset({AttachmentKind.VOICE, AttachmentKind.AUDIO})
    capability: str = ""  # the transcription limit is applied by context.transcribe

    async def process(
        self, path: Path, attachment: Attachment, context: MediaContext
    ) -> tuple[Part, ...]:
        if context.transcribe is None:
            raise MediaError(
                "I can't listen to audio: no transcriber is configured ([voice] transcriber)."
            )
        await _check_size(path, self.max_bytes, "audio")
        await context.set_activity(Activity.TRANSCRIBING)
        text = (await context.transcribe(path)).strip()
        label = "voice message" if attachment.kind is AttachmentKind.VOICE else "audio"
        if not text:
            return (TextPart(f"[{label}: no speech recognised]"),)
        return (TextPart(f"[{label} transcript] {text}"),)


def make_image(config: ImageConfig, host: Any) -> ImageProcessor:
    return ImageProcessor(max_bytes=config.max_bytes)


def make_audio(config: AudioConfig, host: Any) -> AudioProcessor:
    return AudioProcessor(max_bytes=config.max_bytes)


@hookimpl
def register_media_processors(register: Register) -> None:
    register("image", make_image, config=ImageConfig)
    register("audio", make_audio, config=AudioConfig)
