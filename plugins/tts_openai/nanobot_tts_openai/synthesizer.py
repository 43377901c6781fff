"""The ``openai`` speech synthesizer: reply text in, OGG/Opus voice notes out.

Audio is streamed from the API straight into files in the turn's workdir
through trio, chunk by chunk: memory stays flat whatever the size of the
audio, and the event loop never waits on the disk. If synthesis fails or is
cancelled, every file it started is removed before the error leaves.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Self

import trio
from attrs import define, field
from nanobot_provider_openai.client import ClientOwner, Endpoint, describe_server, translate

from nanobot_core import AudioFile, Secret, SpeechError

from .config import DEFAULTS, PROVIDER, TABLE, OpenAISpeechConfig
from .markdown import CODE_OMITTED, to_speech
from .ogg import OggError, opus_duration
from .segmentation import API_LIMIT, split_text

if TYPE_CHECKING:
    from trio._file_io import AsyncIOWrapper

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
"""How much audio is buffered before each write to disk."""

CLEANUP_SECONDS = 5.0
"""Upper bound on removing partial files after a failure or cancellation."""


@define
class OpenAISpeech(ClientOwner):
    """Synthesises speech with ``/v1/audio/speech``; enter it (``async with``) before use.

    ``config`` has its inherited settings filled in (``config.inherit``);
    ``origins`` says where each came from, for ``nanobot check`` and messages.
    """

    config: OpenAISpeechConfig
    api_key: Secret = field(repr=False)
    origins: Mapping[str, str] = field(factory=dict)

    @property
    def endpoint(self) -> Endpoint:
        config = self.config

        def setting(name: str) -> str:
            table = PROVIDER if self.origins.get(name) == PROVIDER else TABLE
            return f"{table}.{name}"

        return Endpoint(
            base_url=config.base_url or DEFAULTS["base_url"],
            key=self.api_key,
            timeout=config.timeout or DEFAULTS["timeout"],
            max_retries=config.max_retries,
            max_bytes=config.max_audio_bytes,
            limit_setting=f"{TABLE}.max_audio_bytes",
            key_setting=setting("api_key"),
            url_setting=setting("base_url"),
            headers=dict(config.extra_headers or {}),
        )

    def describe_setup(self) -> str:
        """One line for ``nanobot check``: the server and where each setting came from."""
        origins = self.origins
        endpoint = self.endpoint

        def source(name: str) -> str:
            where = origins.get(name, TABLE)
            return "default" if where == "default" else f"from {where}"

        headers = ", ".join(sorted(endpoint.headers)) or "none"
        server = describe_server(endpoint.base_url)
        return (
            f"{TABLE}: server {server} (base_url {source('base_url')}), "
            f"api_key {source('api_key')}, extra_headers {headers} "
            f"({source('extra_headers')}), timeout {endpoint.timeout:g} s ({source('timeout')})"
        )

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        # The SDK imports its resource modules on first use: do it now, at start-up,
        # rather than inside the first reply's event-loop turn (~20 ms of imports).
        self.client.audio.speech.with_streaming_response  # noqa: B018
        return self

    async def synthesize(self, text: str, workdir: Path) -> tuple[AudioFile, ...]:
        """Voice notes for ``text``, in order; raises ``SpeechError`` when none can be made."""
        segments = self.segments(text)
        prefix = f"speech-{secrets.token_hex(4)}"
        started: list[trio.Path] = []
        try:
            audio = []
            for number, segment in enumerate(segments, start=1):
                path = trio.Path(workdir) / f"{prefix}-{number}.ogg"
                started.append(path)
                await self._stream_to(path, segment)
                audio.append(AudioFile(Path(path), "audio/ogg", await self._duration(path)))
            return tuple(audio)
        except BaseException:
            with trio.move_on_after(CLEANUP_SECONDS, shield=True):
                for path in started:
                    await path.unlink(missing_ok=True)
            raise

    def segments(self, text: str) -> list[str]:
        """The spoken form of ``text``, split for the API; ``SpeechError`` if nothing to say."""
        spoken = to_speech(text)
        if not spoken:
            raise SpeechError("the reply is empty.")
        if not any(c.isalnum() for c in spoken.replace(CODE_OMITTED, "")):
            raise SpeechError("the reply has no words to read aloud (only code, emoji or symbols).")
        if len(spoken) > self.config.max_chars:
            raise SpeechError(
                f"the reply is too long to read aloud ({len(spoken):,} characters; "
                f"the limit is {self.config.max_chars:,})."
            )
        return split_text(spoken, API_LIMIT)

    async def _stream_to(self, path: trio.Path, segment: str) -> None:
        client = self.client
        options: dict[str, Any] = {}
        if self.config.instructions:  # the config refuses it for models that do not take it
            options["instructions"] = self.config.instructions
        request = client.audio.speech.with_streaming_response.create(
            input=segment,
            model=self.config.model,
            voice=self.config.voice,
            speed=self.config.speed,
            response_format="opus",
            **options,
        )
        try:
            # The file is opened only once the server has accepted the request.
            async with (
                request as response,
                await _create(path) as file,
                # typed as an iterator, it is an async generator: close it in this task
                aclosing(response.iter_bytes(CHUNK_BYTES)) as chunks,  # type: ignore[type-var]
            ):
                async for chunk in chunks:
                    try:
                        await file.write(chunk)
                    except OSError as error:  # the disk is full
                        raise _disk_error(error) from error
        except SpeechError as error:
            log.warning("speech synthesis failed: %s", error)
            raise
        except Exception as error:
            problem = translate(error, self.endpoint, "speech")
            if problem is None:
                raise
            log.warning("speech synthesis failed: %s", problem)
            raise SpeechError(f"{problem}.") from None

    async def _duration(self, path: trio.Path) -> float:
        try:
            return await opus_duration(Path(path))
        except OggError as error:
            log.warning("speech service returned unusable audio: %s", error)
            raise SpeechError("the speech service did not return OGG/Opus audio.") from error


async def _create(path: trio.Path) -> AsyncIOWrapper[BinaryIO]:
    try:
        return await trio.open_file(path, "wb")
    except OSError as error:  # the workdir is missing or read-only
        raise _disk_error(error) from error


def _disk_error(error: OSError) -> SpeechError:
    return SpeechError(f"cannot write the voice note: {error.strerror or error}.")
