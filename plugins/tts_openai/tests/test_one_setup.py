"""One OpenAI setup for chat, transcription and speech; and a speech server that misbehaves."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import nanobot_provider_openai.plugin as provider_plugin
import pytest
import trio
from nanobot_provider_openai.config import OpenAIConfig
from nanobot_tts_openai import plugin
from nanobot_tts_openai.config import OpenAISpeechConfig, inherit
from nanobot_tts_openai.plugin import make_synthesizer
from nanobot_tts_openai.synthesizer import OpenAISpeech

from nanobot_core import Attachment, AttachmentKind, ConfigError, Secret, SpeechError
from nanobot_core.testing import Harness
from nanobot_core.testing.openai_server import OpenAIServer, Response

from .media import make_opus

KEY = "sk-local-gateway-0123456789"
MiB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server
    assert server.errors == []


async def test_chat_transcription_and_speech_all_use_providers_openai(
    server: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An OPENAI_API_KEY in the environment must not send speech to api.openai.com.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key-must-not-be-used")
    tone = (await make_opus(tmp_path / "tone.ogg", 1.0)).read_bytes()
    server.speech.push(Response.audio(tone))
    server.transcriptions.push(Response.transcription("what is the weather"))
    server.chat.push(Response.chat("Sunny."))
    config = {
        "agent": {"model": "openai/test-model"},
        "voice": {"reply": "always", "synthesizer": "openai", "transcriber": "openai"},
        "providers": {
            "openai": {
                "api_key": KEY,
                "base_url": server.base_url,
                "max_retries": 0,
                "extra_headers": {"X-Gateway": "team-a"},
            }
        },
        "speech": {"openai": {"voice": "alloy"}},
    }
    voice = tmp_path / "voice.ogg"
    voice.write_bytes(tone)
    plugins = [provider_plugin, plugin]
    async with Harness.start(config, plugins=plugins, storage=tmp_path / "store") as bot:
        reply = await bot.say(attachments=[Attachment.from_path(voice, AttachmentKind.VOICE)])
    assert reply.text == "Sunny."
    assert len(reply.audio) == 1
    paths = [r.path for r in server.requests]
    assert paths == ["/v1/audio/transcriptions", "/v1/chat/completions", "/v1/audio/speech"]
    for request in server.requests:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.headers["x-gateway"] == "team-a"


def test_speech_inherits_from_providers_openai_and_says_from_where() -> None:
    provider = OpenAIConfig(
        api_key=Secret(KEY, source="env GATEWAY_KEY"),
        base_url="http://127.0.0.1:11434/v1",
        timeout=30.0,
        extra_headers={"X-Gateway": "team-a"},
    )
    keys = {"api_key", "base_url", "timeout", "extra_headers"}
    resolved = inherit(OpenAISpeechConfig(voice="nova"), provider, keys, env={})
    assert resolved.key.reveal() == KEY
    assert resolved.config.base_url == "http://127.0.0.1:11434/v1"
    assert resolved.config.timeout == 30.0
    assert resolved.config.extra_headers == {"X-Gateway": "team-a"}
    speech = OpenAISpeech(resolved.config, resolved.key, resolved.origins)
    line = speech.describe_setup()
    assert line == (
        "speech.openai: server 127.0.0.1:11434 (base_url from providers.openai), "
        "api_key from providers.openai, extra_headers X-Gateway (from providers.openai), "
        "timeout 30 s (from providers.openai)"
    )
    assert KEY not in line and "team-a" not in line


def test_speech_settings_win_and_another_origin_inherits_no_credentials() -> None:
    provider = OpenAIConfig(
        api_key=Secret("sk-groq-key-0123456789"),
        base_url="https://api.groq.com/openai/v1",
        extra_headers={"X-Gateway": "team-a"},
    )
    keys = {"api_key", "base_url", "extra_headers"}
    config = OpenAISpeechConfig(base_url="https://api.openai.com/v1")
    resolved = inherit(config, provider, keys, env={"OPENAI_API_KEY": "sk-openai-from-env"})
    assert resolved.key.reveal() == "sk-openai-from-env"  # Groq's key is not sent to OpenAI
    assert resolved.config.extra_headers == {}
    assert resolved.origins["api_key"] == "env OPENAI_API_KEY"
    with pytest.raises(ConfigError) as caught:
        inherit(config, provider, keys, env={})
    assert str(caught.value) == (
        "speech.openai.api_key: not set (nor providers.openai.api_key), "
        "and OPENAI_API_KEY is not in the environment"
    )


def test_same_origin_base_url_still_inherits_the_key() -> None:
    provider = OpenAIConfig(api_key=Secret(KEY), base_url="http://gw.local:8080/openai/v1")
    config = OpenAISpeechConfig(base_url="http://gw.local:8080/speech/v1")
    resolved = inherit(config, provider, {"api_key", "base_url"}, env={})
    assert resolved.key.reveal() == KEY


def nanobot_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "NANOBOT_CONFIG")}


async def test_nanobot_check_says_where_each_setting_came_from(tmp_path: Path) -> None:
    config = tmp_path / "nanobot.toml"
    config.write_text(
        "[agent]\n"
        'model = "openai/m"\n'
        "[voice]\n"
        'synthesizer = "openai"\n'
        "[storage]\n"
        f'path = "{tmp_path / "store"}"\n'
        "[providers.openai]\n"
        'api_key = { env = "GATEWAY_KEY" }\n'
        'base_url = "http://127.0.0.1:11434/v1"\n'
        'extra_headers = { "X-Gateway" = "team-secret" }\n'
        "[speech.openai]\n"
        'voice = "alloy"\n'
    )
    result = await trio.run_process(
        [sys.executable, "-m", "nanobot_core", "check", "-c", str(config)],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env={**nanobot_env(), "GATEWAY_KEY": KEY},
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert (
        "  providers.openai: server 127.0.0.1:11434, api_key from env GATEWAY_KEY, "
        "extra_headers X-Gateway, timeout 60 s"
    ) in out
    assert (
        "  speech.openai: server 127.0.0.1:11434 (base_url from providers.openai), "
        "api_key from providers.openai, extra_headers X-Gateway (from providers.openai), "
        "timeout 60 s (default)"
    ) in out
    assert KEY not in out + result.stderr.decode() and "team-secret" not in out


def test_providers_openai_used_only_by_speech_is_still_checked() -> None:
    class Host:
        config: Any

    from nanobot_core.config import load_config
    from nanobot_core.plugins import Plugins
    from nanobot_core.registry import Registry

    loaded = Plugins.load(env={}, entry_points=False, extra=(provider_plugin, plugin))
    registry = Registry.collect(loaded.pm)
    raw = {
        "voice": {"synthesizer": "openai"},
        "providers": {"openai": {"api_key": KEY, "timeout": 0}},
        "speech": {"openai": {}},
    }
    host = Host()
    host.config = load_config(raw, registry, env={})
    with pytest.raises(ConfigError, match=r"^providers\.openai\.timeout: must be greater than 0"):
        make_synthesizer(OpenAISpeechConfig(), host, env={})
    host.config = load_config({**raw, "providers": {"openai": {"api_key": KEY}}}, registry, env={})
    assert make_synthesizer(OpenAISpeechConfig(), host, env={}).api_key.reveal() == KEY


def speech_for(server: OpenAIServer, **changes: Any) -> OpenAISpeech:
    config = OpenAISpeechConfig(base_url=server.base_url, max_retries=0, timeout=10.0)
    return OpenAISpeech(attrs.evolve(config, **changes), Secret("k"))


async def test_an_endless_speech_stream_stops_at_max_audio_bytes(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.speech.push(Response.endless(content_type="audio/ogg"))
    async with speech_for(server, max_audio_bytes=2 * MiB) as speech:
        with trio.fail_after(10), pytest.raises(SpeechError) as caught:
            await speech.synthesize("Hello.", tmp_path)
    assert str(caught.value) == (
        f"127.0.0.1:{server.port} sent a speech response over 2 MiB; it was abandoned "
        "(the limit is speech.openai.max_audio_bytes)."
    )
    assert list(await trio.Path(tmp_path).iterdir()) == []  # the partial voice note is gone


async def test_a_trickling_speech_stream_meets_the_deadline(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.speech.push(Response.endless(content_type="audio/ogg", chunk_size=100, chunk_delay=0.05))
    async with speech_for(server, timeout=0.5) as speech:
        with trio.fail_after(5), pytest.raises(SpeechError, match=r"within 0\.5 s\.$"):
            await speech.synthesize("Hello.", tmp_path)
    assert list(await trio.Path(tmp_path).iterdir()) == []


async def test_speech_extra_headers_are_sent(server: OpenAIServer, tmp_path: Path) -> None:
    tone = (await make_opus(tmp_path / "tone.ogg", 0.5)).read_bytes()
    server.speech.push(Response.audio(tone))
    work = tmp_path / "work"
    work.mkdir()
    async with speech_for(server, extra_headers={"X-Title": "nanobot"}) as speech:
        await speech.synthesize("Hello.", work)
    assert server.speech.requests[0].headers["x-title"] == "nanobot"


async def test_a_redirect_to_another_origin_gets_no_speech(
    server: OpenAIServer, tmp_path: Path
) -> None:
    with OpenAIServer() as elsewhere:
        server.speech.push(Response.redirect(f"{elsewhere.base_url}/audio/speech"))
        async with speech_for(server) as speech:
            with pytest.raises(SpeechError, match="redirected the speech request"):
                await speech.synthesize("Hello.", tmp_path)
        assert elsewhere.requests == []
