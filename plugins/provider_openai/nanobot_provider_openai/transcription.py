"""The ``openai`` transcriber: an audio file streamed from disk to ``/v1/audio/transcriptions``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import trio
from attrs import define, field

from nanobot_core import MediaError, Secret
from nanobot_core.text import replace_surrogates

from .client import ClientOwner, Endpoint, malformed
from .config import OpenAIConfig

MAX_BYTES = 25 * 1024 * 1024
"""The upload limit of OpenAI's transcription endpoint, which it calls "25 MB" (Groq's free
tier has the same); every message states it that way."""
LIMIT_TEXT = "25 MB"

# The API decides the format by the file name; these are the same containers under other names.
_RENAME = {".oga": ".ogg", ".opus": ".ogg", ".mp4a": ".m4a"}


@define
class OpenAITranscriber(ClientOwner):
    """Speech to text on one SDK client, opened by ``async with``.

    The file is checked against the 25 MB limit, then handed to the SDK as an
    open file, which the upload reads in 64 KiB pieces: never whole in memory.
    """

    config: OpenAIConfig
    key: Secret = field(repr=False)

    @property
    def endpoint(self) -> Endpoint:
        return self.config.endpoint(self.key)

    async def transcribe(self, audio: Path, *, language: str | None = None) -> str:
        """The text spoken in ``audio``; ``language`` (ISO 639-1, e.g. "de") is a hint.

        The call's ``language`` wins over ``transcription_language`` from the config.
        """
        client = self.client
        await _check_size(audio)
        options: dict[str, Any] = {}
        hint = _language(language or self.config.transcription_language)
        if hint:
            options["language"] = hint
        file = await _open(audio)
        try:
            with self.translating("transcription"):
                result = await client.audio.transcriptions.create(
                    model=self.config.transcription_model,
                    file=(_upload_name(audio), file),
                    **options,
                )
        finally:
            file.close()
        text = getattr(result, "text", None)
        if not isinstance(text, str):
            raise malformed(self.endpoint, "a transcription without text")
        return replace_surrogates(text).strip()


async def _check_size(audio: Path) -> None:
    try:
        size = (await trio.Path(audio).stat()).st_size
    except OSError as error:
        raise MediaError(f"cannot read the audio file: {error.strerror}") from None
    if size == 0:
        raise MediaError("the audio file is empty")
    if size > MAX_BYTES:
        raise MediaError(
            f"the audio is {size / 1024 / 1024:.1f} MB; transcription accepts at most {LIMIT_TEXT}"
        )


async def _open(audio: Path) -> BinaryIO:
    try:
        return await trio.to_thread.run_sync(open, audio, "rb")
    except OSError as error:
        raise MediaError(f"cannot read the audio file: {error.strerror}") from None


def _upload_name(audio: Path) -> str:
    suffix = audio.suffix.lower()
    return audio.stem + _RENAME.get(suffix, suffix) if suffix else audio.name + ".ogg"


def _language(value: str | None) -> str | None:
    """``de-DE``/``pt_BR`` → ``de``/``pt``: the endpoints take ISO 639-1 codes only."""
    if not value:
        return None
    return value.replace("_", "-").split("-")[0].strip().lower() or None
