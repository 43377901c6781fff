"""The synthesizer through the real OpenAI SDK against the local OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import attrs
import pytest
import trio
from nanobot_tts_openai.config import OpenAISpeechConfig
from nanobot_tts_openai.markdown import to_speech
from nanobot_tts_openai.segmentation import API_LIMIT
from nanobot_tts_openai.synthesizer import CHUNK_BYTES, OpenAISpeech

from nanobot_core import AudioFile, Secret, SpeechError
from nanobot_core.testing.openai_server import OpenAIServer, Response

from .media import make_opus


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server
    assert server.errors == []


def make_config(server: OpenAIServer, **changes: object) -> OpenAISpeechConfig:
    config = OpenAISpeechConfig(base_url=server.base_url, max_retries=0, timeout=10.0)
    return attrs.evolve(config, **changes)


@pytest.fixture
async def speech(server: OpenAIServer) -> AsyncIterator[OpenAISpeech]:
    async with OpenAISpeech(make_config(server), Secret(value="test-key")) as speech:
        yield speech


@pytest.fixture
async def tone(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Two seconds of real OGG/Opus, made outside the test's workdir."""
    path = await make_opus(tmp_path_factory.mktemp("tone") / "tone.ogg", 2.0)
    return path.read_bytes()


def files_in(workdir: Path) -> list[Path]:
    return sorted(workdir.iterdir())


async def written(workdir: Path, size: int) -> None:
    """Return once a file in ``workdir`` holds at least ``size`` bytes (polls the disk)."""
    while True:
        for path in await trio.Path(workdir).iterdir():
            if (await path.stat()).st_size >= size:
                return
        await trio.sleep(0.01)


async def test_the_file_is_what_the_server_streamed(
    speech: OpenAISpeech, server: OpenAIServer, tone: bytes, tmp_path: Path
) -> None:
    server.speech.push(Response.audio(tone, chunk_size=1000))
    audio = await speech.synthesize("Hello there.", tmp_path)
    assert len(audio) == 1
    assert audio[0].mime_type == "audio/ogg"
    assert audio[0].path.parent == tmp_path
    assert audio[0].path.read_bytes() == tone
    assert audio[0].duration == pytest.approx(2.0, abs=1e-3)
    assert files_in(tmp_path) == [audio[0].path]


async def test_the_request(
    speech: OpenAISpeech, server: OpenAIServer, tone: bytes, tmp_path: Path
) -> None:
    server.speech.push(Response.audio(tone))
    await speech.synthesize("## Hi\n\n**Bold** move, `x`: [see](https://e.org).", tmp_path)
    (request,) = server.speech.requests
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.json == {
        "input": "Hi\n\nBold move, x: see.",
        "model": "gpt-4o-mini-tts",
        "voice": "alloy",
        "speed": 1.0,
        "response_format": "opus",
    }


async def test_voice_speed_and_instructions_are_sent(
    server: OpenAIServer, tone: bytes, tmp_path: Path
) -> None:
    config = make_config(
        server, model="gpt-4o-mini-tts", voice="nova", speed=1.5, instructions="Speak calmly."
    )
    server.speech.push(Response.audio(tone))
    async with OpenAISpeech(config, Secret(value="k")) as speech:
        await speech.synthesize("Hello.", tmp_path)
    (request,) = server.speech.requests
    assert request.json["model"] == "gpt-4o-mini-tts"
    assert request.json["voice"] == "nova"
    assert request.json["speed"] == 1.5
    assert request.json["instructions"] == "Speak calmly."


async def test_long_text_becomes_several_voice_notes_in_order(
    server: OpenAIServer, tmp_path: Path
) -> None:
    paragraphs = [
        " ".join(f"Paragraph {p} sentence {s} says something." for s in range(90)) for p in range(3)
    ]
    text = "\n\n".join(paragraphs)
    assert len(text) > 2 * API_LIMIT
    tones = [(await make_opus(tmp_path / f"t{n}.ogg", n)).read_bytes() for n in (1, 2, 3)]
    workdir = tmp_path / "work"
    workdir.mkdir()
    server.speech.push(*(Response.audio(t) for t in tones))
    async with OpenAISpeech(make_config(server, max_chars=20_000), Secret(value="k")) as speech:
        audio = await speech.synthesize(text, workdir)

    inputs = [r.json["input"] for r in server.speech.requests]
    assert len(inputs) == 3
    assert all(len(i) <= API_LIMIT for i in inputs)
    assert " ".join(inputs).split() == text.split()
    assert [a.path.read_bytes() for a in audio] == tones
    assert [a.duration for a in audio] == pytest.approx([1.0, 2.0, 3.0], abs=1e-3)
    assert files_in(workdir) == sorted(a.path for a in audio)


async def test_cancellation_mid_stream_leaves_no_partial_file(
    speech: OpenAISpeech, server: OpenAIServer, tmp_path: Path
) -> None:
    server.speech.push(Response.audio(total=10 * CHUNK_BYTES, stall_after=3 * CHUNK_BYTES))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(speech.synthesize, "Hello.", tmp_path)
        await written(tmp_path, 2 * CHUNK_BYTES)  # the server stalls after 3 chunks
        nursery.cancel_scope.cancel()
    assert files_in(tmp_path) == []


async def test_a_stalled_stream_times_out_without_a_partial_file(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.speech.push(Response.audio(total=10 * CHUNK_BYTES, stall_after=3 * CHUNK_BYTES))
    async with OpenAISpeech(make_config(server, timeout=0.5), Secret(value="k")) as speech:
        with pytest.raises(SpeechError, match=r"did not finish its speech answer within 0\.5 s"):
            await speech.synthesize("Hello.", tmp_path)
    assert files_in(tmp_path) == []


async def test_a_connection_closed_mid_body_is_a_speech_error(
    speech: OpenAISpeech, server: OpenAIServer, tmp_path: Path
) -> None:
    server.speech.push(Response.truncated(b"OggS" * 1000))
    with pytest.raises(SpeechError, match="the connection broke off before a complete answer"):
        await speech.synthesize("Hello.", tmp_path)
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            Response.error(400, "Invalid voice 'robot'. Use one of: alloy, nova."),
            r"^127\.0\.0\.1:\d+ refused the speech request "
            r"\(400: Invalid voice 'robot'\. Use one of: alloy, nova\)\.$",
        ),
        (
            Response.error(404, "The model 'tts-9' does not exist"),
            r"\(404: The model 'tts-9' does not exist\): check the model id and "
            r"speech\.openai\.base_url\.$",
        ),
        (Response.error(500), r"^127\.0\.0\.1:\d+ failed with a server error \(500: .*\)\.$"),
        (Response.error(503), r"^127\.0\.0\.1:\d+ failed with a server error \(503: .*\)\.$"),
        (
            Response.error(401, "Incorrect API key provided: sk-abc***xyz"),
            r"^127\.0\.0\.1:\d+ rejected the API key \(401\): check speech\.openai\.api_key\.$",
        ),
        (Response.error(429), r"is rate limiting speech requests \(429"),
    ],
)
async def test_server_errors_become_one_line_speech_errors(
    speech: OpenAISpeech,
    server: OpenAIServer,
    tmp_path: Path,
    response: Response,
    message: str,
) -> None:
    server.speech.push(response)
    with pytest.raises(SpeechError, match=message):
        await speech.synthesize("Hello.", tmp_path)
    assert len(server.speech.requests) == 1
    assert files_in(tmp_path) == []


async def test_a_refusal_that_quotes_the_key_does_not_show_it(
    server: OpenAIServer, tmp_path: Path
) -> None:
    key = "sk-proj-0123456789abcdef"
    server.speech.push(Response.error(400, f"Invalid voice for key {key}.", code="bad_voice"))
    async with OpenAISpeech(make_config(server), Secret(value=key)) as speech:
        with pytest.raises(SpeechError) as caught:
            await speech.synthesize("Hello.", tmp_path)
    assert str(caught.value) == (
        f"127.0.0.1:{server.port} refused the speech request (400: Invalid voice for key <key>)."
    )


async def test_a_later_segment_failing_removes_the_earlier_ones(
    server: OpenAIServer, tone: bytes, tmp_path: Path
) -> None:
    text = "\n\n".join(["word " * 700] * 2)
    server.speech.push(Response.audio(tone), Response.error(500))
    async with OpenAISpeech(make_config(server, max_chars=20_000), Secret(value="k")) as speech:
        with pytest.raises(SpeechError, match=r"server error \(500"):
            await speech.synthesize(text, tmp_path)
    assert len(server.speech.requests) == 2
    assert files_in(tmp_path) == []


async def test_audio_that_is_not_ogg_opus(
    speech: OpenAISpeech, server: OpenAIServer, tmp_path: Path
) -> None:
    server.speech.push(Response.audio(total=50_000, content_type="audio/mpeg"))
    with pytest.raises(SpeechError, match="did not return OGG/Opus audio"):
        await speech.synthesize("Hello.", tmp_path)
    assert files_in(tmp_path) == []


async def test_a_workdir_that_cannot_be_written_is_a_speech_error(
    speech: OpenAISpeech, server: OpenAIServer, tone: bytes, tmp_path: Path
) -> None:
    server.speech.push(Response.audio(tone))
    with pytest.raises(SpeechError) as caught:
        await speech.synthesize("Hello.", tmp_path / "gone")
    assert str(caught.value) == "cannot write the voice note: No such file or directory."
    assert isinstance(caught.value.__cause__, FileNotFoundError)


async def test_an_unreachable_server(tmp_path: Path) -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # credentials in the URL never reach the message (the user and the log see it)
    url = f"http://user:hunter2@127.0.0.1:{port}/v1?token=hunter3"
    config = OpenAISpeechConfig(base_url=url, max_retries=0)
    async with OpenAISpeech(config, Secret(value="k")) as speech:
        with pytest.raises(SpeechError) as caught:
            await speech.synthesize("Hello.", tmp_path)
    assert str(caught.value) == (
        f"127.0.0.1:{port}: cannot connect (connection refused or host unreachable)."
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("  \n\n ", "empty"),
        ("```python\nprint('hello world')\n```", "no words to read aloud"),
        ("```\na\n```\n\n~~~\nb\n~~~", "no words to read aloud"),
        ("👍🎉🔥", "no words to read aloud"),
        ("**!!!** — ...", "no words to read aloud"),
        ("word " * 801, r"too long to read aloud \(4,004 characters; the limit is 4,000\)"),
    ],
)
async def test_nothing_to_say_makes_no_request(
    speech: OpenAISpeech, server: OpenAIServer, tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(SpeechError, match=message):
        await speech.synthesize(text, tmp_path)
    assert server.speech.requests == []
    assert files_in(tmp_path) == []


async def test_max_chars_counts_the_spoken_text(
    server: OpenAIServer, tone: bytes, tmp_path: Path
) -> None:
    text = "Here:\n```\n" + "x = 1\n" * 1000 + "```\nDone."
    assert len(text) > 4000
    server.speech.push(Response.audio(tone))
    async with OpenAISpeech(make_config(server), Secret(value="k")) as speech:
        (audio,) = await speech.synthesize(text, tmp_path)
    assert server.speech.requests[0].json["input"] == to_speech(text)
    assert isinstance(audio, AudioFile)


async def test_synthesize_needs_the_client_opened(server: OpenAIServer, tmp_path: Path) -> None:
    speech = OpenAISpeech(make_config(server), Secret(value="k"))
    with pytest.raises(RuntimeError, match="async with"):
        await speech.synthesize("Hello.", tmp_path)
    async with speech:
        pass
    with pytest.raises(RuntimeError, match="async with"):
        await speech.synthesize("Hello.", tmp_path)
