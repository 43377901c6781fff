"""Built-in media processors: images become image parts, voice and audio become transcripts.

Images go through the image stage (``nanobot_core.image``): decoded, upright,
stripped of metadata, downscaled and re-encoded. Audio in a format the
transcription API documents is handed over as it is (under a name with the
right extension); other audio is converted with ffmpeg first
(``nanobot_core.transcode``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import trio
from attrs import frozen

from .. import image, kinds, transcode
from ..errors import MediaError
from ..hookspecs import hookimpl
from ..media import too_large
from ..messages import Activity, Attachment, AttachmentKind, ImagePart, Part, TextPart
from ..protocols import MediaContext
from ..registry import Register
from ..validators import between, positive

IMAGE_LIMIT = 50 * 1024 * 1024  # a file this large is still read; what is sent is far smaller
AUDIO_LIMIT = 25_000_000  # the "25 MB" the transcription APIs state, in the units messages use

# Formats the transcription API documents, by sniffed format: the extension to upload under.
TRANSCRIBABLE = {
    "flac": ".flac",
    "mp3": ".mp3",
    "mp4": ".m4a",
    "ogg": ".ogg",
    "opus": ".ogg",
    "wav": ".wav",
    "webm": ".webm",
}

_FORMAT_NAMES = {
    "amr": "AMR",
    "asf": "WMA",
    "aac": "AAC (ADTS)",
    "3gp": "3GP",
    "mpegts": "MPEG-TS",
    "matroska": "Matroska",
    "mov": "QuickTime",
}


@frozen
class ImageConfig:
    max_bytes: int = attrs.field(
        default=IMAGE_LIMIT, validator=positive, metadata={"help": "largest file read"}
    )
    max_side: int = attrs.field(
        default=2048, validator=between(64, 8192), metadata={"help": "pixels, after rotation"}
    )
    max_part_bytes: int = attrs.field(
        default=3_000_000,
        validator=between(10_000, 20_000_000),
        metadata={"help": "bytes sent per image (Groq: 4 MB of base64)"},
    )


@frozen
class ImageProcessor:
    """Decodes, orients, strips and downscales a picture, off the event loop."""

    max_bytes: int = IMAGE_LIMIT
    settings: image.ImageSettings = attrs.field(factory=image.ImageSettings)
    kinds: frozenset[AttachmentKind] = frozenset({AttachmentKind.IMAGE})
    capability: str = ""

    async def process(
        self, path: Path, attachment: Attachment, context: MediaContext
    ) -> tuple[Part, ...]:
        await _check_size(path, self.max_bytes, "image")
        picture = await trio.to_thread.run_sync(image.prepare, path, self.settings)
        part = ImagePart(
            data=picture.data, mime_type=picture.mime_type, description=_describe(attachment)
        )
        if picture.frames > 1:
            note = f"[{part.description}: the first of its {picture.frames} animation frames]"
            return (part, TextPart(note))
        return (part,)


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
    timeout: float = attrs.field(
        default=60.0, validator=positive, metadata={"help": "seconds to convert one file"}
    )
    ffmpeg: Path | None = attrs.field(
        default=None, metadata={"help": "unset: ffmpeg on PATH, else imageio-ffmpeg's"}
    )


@frozen
class AudioProcessor:
    """Voice notes and audio files become their transcript (the configured transcriber)."""

    max_bytes: int = AUDIO_LIMIT
    timeout: float = 60.0
    ffmpeg: Path | None = None  # None: audio that needs converting is refused with a reason
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
        speech = await self._transcribable(path, context.workdir)
        await context.set_activity(Activity.TRANSCRIBING)
        text = (await context.transcribe(speech)).strip()
        label = "voice message" if attachment.kind is AttachmentKind.VOICE else "audio"
        if not text:
            return (TextPart(f"[{label}: no speech recognised]"),)
        return (TextPart(f"[{label} transcript] {text}"),)

    async def _transcribable(self, path: Path, workdir: Path) -> Path:
        """``path`` under the extension of its real format, or a converted copy of it."""
        sniffed = await trio.to_thread.run_sync(kinds.sniff, path)
        if sniffed is None:
            return path  # a format not known here: the transcriber says whether it takes it
        _check_samples(sniffed)
        suffix = TRANSCRIBABLE.get(sniffed.format)
        if suffix is not None:
            if path.suffix.lower() == suffix:
                return path
            target = workdir / f"{path.stem}-audio{suffix}"
            await trio.Path(path).rename(target)
            return target
        if self.ffmpeg is None:
            raise MediaError(
                f"{_FORMAT_NAMES.get(sniffed.format, sniffed.format)} audio must be converted "
                f"before transcription, and ffmpeg was not found ({transcode.INSTALL_HINT})."
            )
        out = workdir / f"{path.stem}-speech.ogg"
        with trio.move_on_after(self.timeout) as scope:
            await transcode.to_speech_ogg(self.ffmpeg, path, out)
        if scope.cancelled_caught:
            raise MediaError(f"converting the audio took longer than {self.timeout:g} seconds.")
        _check_samples(await trio.to_thread.run_sync(kinds.sniff, out))
        return out


def _check_samples(sniffed: kinds.Sniffed | None) -> None:
    if sniffed is not None and sniffed.samples == 0:
        raise MediaError("the audio holds no sound at all (zero samples).")


def make_image(config: ImageConfig, host: Any) -> ImageProcessor:
    settings = image.ImageSettings(max_side=config.max_side, max_part_bytes=config.max_part_bytes)
    return ImageProcessor(max_bytes=config.max_bytes, settings=settings)


def make_audio(config: AudioConfig, host: Any) -> AudioProcessor:
    binary = transcode.find_ffmpeg(config.ffmpeg)
    return AudioProcessor(max_bytes=config.max_bytes, timeout=config.timeout, ffmpeg=binary)


@hookimpl
def register_media_processors(register: Register) -> None:
    register("image", make_image, config=ImageConfig)
    register("audio", make_audio, config=AudioConfig)
