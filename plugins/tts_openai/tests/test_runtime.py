"""The plugin inside the real runtime: voice replies, the text fallback, the speech limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nanobot_tts_openai import plugin

from nanobot_core import Activity
from nanobot_core.testing import Harness, ScriptedChatModel, objects_plugin
from nanobot_core.testing.openai_server import OpenAIServer, Response

from .media import make_opus


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


def bot_config(server: OpenAIServer, **limits: str) -> dict[str, Any]:
    return {
        "agent": {"model": "scripted/x"},
        "voice": {"reply": "always", "synthesizer": "openai"},
        "speech": {"openai": {"base_url": server.base_url, "api_key": "k", "max_retries": 0}},
        "limits": limits,
    }


def plugins(*replies: str) -> list[object]:
    return [plugin, objects_plugin(chat_models=[("scripted", ScriptedChatModel(list(replies)))])]


async def test_a_voice_reply(server: OpenAIServer, tmp_path: Path) -> None:
    tone = (await make_opus(tmp_path / "tone.ogg", 1.5)).read_bytes()
    server.speech.push(Response.audio(tone))
    config = bot_config(server)
    async with Harness.start(config, plugins=plugins("Hello **there**."), storage=tmp_path) as bot:
        reply = await bot.say("hi")
    assert reply.text == "Hello **there**."
    (audio,) = reply.audio
    assert audio.mime_type == "audio/ogg"
    assert audio.duration == pytest.approx(1.5, abs=1e-3)
    assert server.speech.requests[0].json["input"] == "Hello there."
    assert ("chat", Activity.RECORDING) in bot.channel.activities


async def test_a_server_error_still_sends_the_text(server: OpenAIServer, tmp_path: Path) -> None:
    server.speech.push(Response.error(400, "Invalid voice 'robot'."))
    async with Harness.start(bot_config(server), plugins=plugins("Hi."), storage=tmp_path) as bot:
        reply = await bot.say("hi")
    assert reply.audio == ()
    assert reply.text.startswith("Hi.\n\n(no voice reply: ")
    assert "refused the speech request (400: Invalid voice 'robot')." in reply.text


async def test_only_code_is_sent_as_text_without_a_request(
    server: OpenAIServer, tmp_path: Path
) -> None:
    code = "```\nprint(1)\n```"
    async with Harness.start(bot_config(server), plugins=plugins(code), storage=tmp_path) as bot:
        reply = await bot.say("hi")
    assert reply.audio == ()
    assert reply.text.startswith(code)
    assert "no words to read aloud" in reply.text
    assert server.speech.requests == []


async def test_the_speech_rate_limit_applies(server: OpenAIServer, tmp_path: Path) -> None:
    tone = (await make_opus(tmp_path / "tone.ogg", 1.0)).read_bytes()
    server.speech.default = Response.audio(tone)
    config = bot_config(server, speech="1/minute")
    async with Harness.start(config, plugins=plugins("One.", "Two."), storage=tmp_path) as bot:
        first = await bot.say("hi")
        second = await bot.say("again")
    assert len(first.audio) == 1
    assert second.audio == ()
    assert "(no voice reply: " in second.text
    assert len(server.speech.requests) == 1
