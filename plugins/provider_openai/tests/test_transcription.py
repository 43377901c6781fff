"""The transcriber: the file streams from disk as a multipart upload; limits are checked first."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest
from nanobot_provider_openai import OpenAITranscriber
from nanobot_provider_openai.transcription import MAX_BYTES

from nanobot_core import MediaError, ProviderAuthError, ProviderError
from nanobot_core.testing.openai_server import OpenAIServer, Response

from .conftest import make_config


def audio_file(directory: Path, name: str, size: int) -> Path:
    path = directory / name
    path.write_bytes(os.urandom(size))
    return path


async def test_upload(server: OpenAIServer, transcriber: OpenAITranscriber, tmp_path: Path) -> None:
    voice = audio_file(tmp_path, "voice.ogg", 300_000)
    server.transcriptions.push(Response.transcription("  Hello, world.\n"))
    assert await transcriber.transcribe(voice) == "Hello, world."
    (request,) = server.transcriptions.requests
    assert request.fields == {"model": "whisper-1"}
    (uploaded,) = request.files
    assert uploaded.field == "file"
    assert uploaded.filename == "voice.ogg"
    assert uploaded.size == 300_000
    assert uploaded.sha256 == hashlib.sha256(voice.read_bytes()).hexdigest()
    assert request.headers["authorization"].startswith("Bearer ")


async def test_language_model_and_file_name(server: OpenAIServer, tmp_path: Path) -> None:
    config = make_config(
        server, transcription_model="gpt-4o-mini-transcribe", transcription_language="fr"
    )
    voice = audio_file(tmp_path, "note.oga", 1000)
    async with OpenAITranscriber(config, config.api_key) as transcriber:  # type: ignore[arg-type]
        await transcriber.transcribe(voice)  # the config's language
        await transcriber.transcribe(voice, language="de-DE")  # the call's wins, as ISO 639-1
    first, second = server.transcriptions.requests
    assert first.fields == {"model": "gpt-4o-mini-transcribe", "language": "fr"}
    assert second.fields == {"model": "gpt-4o-mini-transcribe", "language": "de"}
    # .oga is OGG under another name; the API decides by extension
    assert first.files[0].filename == "note.ogg"


async def test_too_big_is_refused_before_upload(
    server: OpenAIServer, transcriber: OpenAITranscriber, tmp_path: Path
) -> None:
    big = tmp_path / "long.ogg"
    with big.open("wb") as f:
        f.truncate(MAX_BYTES + 1)  # sparse: no 25 MB written
    with pytest.raises(
        MediaError, match=r"^the audio is 25.0 MB; transcription accepts at most 25 MB$"
    ):
        await transcriber.transcribe(big)
    assert server.requests == []


async def test_exactly_the_limit_is_accepted(
    server: OpenAIServer, transcriber: OpenAITranscriber, tmp_path: Path
) -> None:
    path = tmp_path / "limit.ogg"
    with path.open("wb") as f:
        f.truncate(MAX_BYTES)
    tracemalloc.start()
    try:
        assert await transcriber.transcribe(path) == "transcribed text"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert server.transcriptions.requests[0].files[0].size == MAX_BYTES
    # streamed from disk in pieces, never held whole in memory
    assert peak < MAX_BYTES / 10


async def test_missing_and_empty_files(
    server: OpenAIServer, transcriber: OpenAITranscriber, tmp_path: Path
) -> None:
    with pytest.raises(MediaError, match=r"^cannot read the audio file: No such file"):
        await transcriber.transcribe(tmp_path / "nope.ogg")
    empty = tmp_path / "empty.ogg"
    empty.touch()
    with pytest.raises(MediaError, match=r"^the audio file is empty$"):
        await transcriber.transcribe(empty)
    assert server.requests == []


async def test_provider_errors_are_translated(
    server: OpenAIServer, transcriber: OpenAITranscriber, tmp_path: Path
) -> None:
    voice = audio_file(tmp_path, "voice.ogg", 100)
    server.transcriptions.push(Response.error(401))
    with pytest.raises(ProviderAuthError, match="rejected the API key"):
        await transcriber.transcribe(voice)
    server.transcriptions.push(Response.json({"no": "text"}))
    with pytest.raises(ProviderError) as caught:
        await transcriber.transcribe(voice)
    assert type(caught.value) is ProviderError
    assert str(caught.value) == (
        f"127.0.0.1:{server.port} sent a transcription without text:"
        " is providers.openai.base_url an OpenAI-compatible API?"
    )
    # the client still works and reused its connection
    assert await transcriber.transcribe(voice) == "transcribed text"
    assert server.connection_count == 1
