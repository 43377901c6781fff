"""The plugin inside the real runtime (nanobot_core.testing.Harness): turns, tools, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nanobot_provider_openai.plugin as plugin
import pytest

from nanobot_core.testing import Harness
from nanobot_core.testing.openai_server import OpenAIServer, Response


def settings(server: OpenAIServer, **provider: Any) -> dict[str, Any]:
    table = {"api_key": "sk-runtime-test-key", "base_url": server.base_url, "max_retries": 0}
    return {
        "agent": {"model": "openai/test-model", "system_prompt": "Be brief."},
        "providers": {"openai": {**table, **provider}},
    }


@pytest.fixture
async def bot(server: OpenAIServer, tmp_path: Path) -> AsyncIterator[Harness]:
    async with Harness.start(settings(server), plugins=[plugin], storage=tmp_path) as h:
        yield h


async def test_a_turn_reaches_the_server_and_the_reply_the_user(
    server: OpenAIServer, bot: Harness
) -> None:
    server.chat.push(Response.chat("Hello!"), Response.chat("Still here."))
    assert (await bot.say("hi")).text == "Hello!"
    assert (await bot.say("and now?")).text == "Still here."
    first, second = server.chat.requests
    assert first.json["model"] == "test-model"
    assert first.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    # history from the session store, over the same connection
    assert second.json["messages"][1:] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "and now?"},
    ]
    assert second.connection_id == first.connection_id


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (Response.error(401), "rejected the API key (401): check providers.openai.api_key"),
        (Response.error(429, "slow down", retry_after=20), "(429: slow down); retry in 20 s"),
        (Response.error(503, "overloaded"), "failed with a server error (503: overloaded)"),
        (Response.error(404, "no such model"), "did not find what the chat request named"),
        (Response.raw("<html>"), "sent a response that is not JSON"),
        (Response.truncated(), "the connection broke off before a complete answer arrived"),
    ],
)
async def test_provider_failures_reach_the_user_and_the_runtime_keeps_serving(
    server: OpenAIServer, bot: Harness, response: Response, expected: str
) -> None:
    server.chat.push(response)
    failed = await bot.say("hi")
    assert expected in failed.text
    assert "\n" not in failed.text
    assert "sk-runtime-test-key" not in failed.text
    assert "Traceback" not in failed.text
    assert (await bot.say("again")).text == "ok"


async def test_timeout_reaches_the_user(server: OpenAIServer, tmp_path: Path) -> None:
    server.chat.push(Response.hang())
    config = settings(server, timeout=0.3)
    async with Harness.start(config, plugins=[plugin], storage=tmp_path) as bot:
        failed = await bot.say("hi")
        assert f"127.0.0.1:{server.port} did not answer within 0.3 s" in failed.text
        assert (await bot.say("again")).text == "ok"
