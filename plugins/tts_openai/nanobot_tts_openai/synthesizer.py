"""The ``openai`` speech synthesizer: reply text in, OGG/Opus voice notes out.

Audio is streamed from the API straight into files in the turn's workdir
through trio, chunk by chunk: memory stays flat whatever the size of the
audio, and the event loop never waits on the disk. If synthesis fails or is
cancelled, every file it started is removed before the error leaves.
"""

from __future__ import annotations

import logging
import secrets
import sys
from contextlib import aclosing
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Self
from urllib.parse import urlsplit

import trio
from attrs import define, field

from nanobot_core import AudioFile, Secret, SpeechError

from .config import OpenAISpeechConfig
from .markdown import CODE_OMITTED, to_speech
from .ogg import OggError, opus_duration
from .segmentation import API_LIMIT, split_text

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from trio._file_io import AsyncIOWrapper

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
"""How much audio is buffered before each write to disk."""

CLEANUP_SECONDS = 5.0
"""Upper bound on removing partial files after a failure or cancellation."""


@define
class OpenAISpeech:
    """Synthesises speech with ``/v1/audio/speech``; enter it (``async with``) before use."""

    config: OpenAISpeechConfig
    api_key: Secret
    _client: AsyncOpenAI | None = field(default=None, init=False)

    async def __aenter__(self) -> Self:
        from openai import AsyncOpenAI  # heavy: imported only when the runtime starts us

        self._client = AsyncOpenAI(
            api_key=self.api_key.reveal(),
            base_url=self.config.base_url,
            timeout=self.config.timeout,
            max_retries=self.config.max_retries,
        )
        # The SDK imports its resource modules on first use: do it now, at start-up,
        # rather than inside the first reply's event-loop turn (~20 ms of imports).
        self._client.audio.speech.with_streaming_response  # noqa: B018
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is not None:
            with trio.move_on_after(CLEANUP_SECONDS, shield=True):
                await client.close()

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
        if self._client is None:
            raise RuntimeError("OpenAISpeech must be entered (async with) before synthesize()")
        options: dict[str, Any] = {}
        if self.config.instructions:
            options["instructions"] = self.config.instructions
        request = self._client.audio.speech.with_streaming_response.create(
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
            speech_error = self._speech_error(error)
            if speech_error is None:
                raise
            log.warning("speech synthesis failed (%s): %s", type(error).__name__, speech_error)
            raise speech_error from error

    async def _duration(self, path: trio.Path) -> float:
        try:
            return await opus_duration(Path(path))
        except OggError as error:
            log.warning("speech service returned unusable audio: %s", error)
            raise SpeechError("the speech service did not return OGG/Opus audio.") from error

    def _speech_error(self, error: Exception) -> SpeechError | None:
        """One user-facing line for a failure of the speech service, or ``None`` for a bug."""
        import openai

        if isinstance(error, openai.APIStatusError):
            status = error.status_code
            if status in (401, 403):
                reason = f"the speech service rejected the API key (HTTP {status})"
            elif status == 429:
                reason = "the speech service is rate limiting requests (HTTP 429)"
            elif status >= 500:
                reason = f"the speech service failed (HTTP {status})"
            else:
                reason = f"the speech service refused the request (HTTP {status})"
                detail = _server_message(error.body, self.api_key)
                reason += f": {detail}" if detail else ""
        elif isinstance(error, openai.APITimeoutError):
            reason = f"the speech service did not answer within {self.config.timeout:g} s"
        elif isinstance(error, openai.APIConnectionError):
            reason = f"cannot reach the speech service at {_server(self.config.base_url)}"
        elif _is_transport_error(error):
            reason = "the speech service stopped sending audio"
        else:
            return None
        return SpeechError(f"{reason}.")


async def _create(path: trio.Path) -> AsyncIOWrapper[BinaryIO]:
    try:
        return await trio.open_file(path, "wb")
    except OSError as error:  # the workdir is missing or read-only
        raise _disk_error(error) from error


def _disk_error(error: OSError) -> SpeechError:
    return SpeechError(f"cannot write the voice note: {error.strerror or error}.")


def _server_message(body: object, api_key: Secret) -> str:
    """The server's own explanation of a refused request, as one short line without the key."""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        return ""
    line = " ".join(message.split()).rstrip(" .")
    if key := api_key.reveal():
        line = line.replace(key, "<key>")
    return line if len(line) <= 200 else line[:199] + "…"


def _server(base_url: str) -> str:
    """``host[:port]`` of ``base_url``: no credentials, path or query in a message."""
    parts = urlsplit(base_url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def _is_transport_error(error: Exception) -> bool:
    """A network failure while reading the body (the SDK does not wrap those)."""
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)
        transport = getattr(module, "TransportError", None) if module else None
        if isinstance(transport, type) and isinstance(error, transport):
            return True
    return False
