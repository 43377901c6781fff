"""Fixtures: the OpenAI-compatible test server and the plugin's objects pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from nanobot_provider_openai import OpenAIChatModel, OpenAIConfig, OpenAITranscriber

from nanobot_core import Secret
from nanobot_core.testing.openai_server import OpenAIServer

KEY = "sk-test-0123456789abcdef"


def make_config(server: OpenAIServer, **overrides: Any) -> OpenAIConfig:
    settings: dict[str, Any] = {
        "api_key": Secret(KEY, source="test"),
        "base_url": server.base_url,
        "max_retries": 0,
        "timeout": 10.0,
    }
    settings.update(overrides)
    return OpenAIConfig(**settings)


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as s:
        yield s
        assert s.errors == []


@pytest.fixture
async def model(server: OpenAIServer) -> AsyncIterator[OpenAIChatModel]:
    config = make_config(server)
    async with OpenAIChatModel(config, config.api_key) as m:  # type: ignore[arg-type]
        yield m


@pytest.fixture
async def transcriber(server: OpenAIServer) -> AsyncIterator[OpenAITranscriber]:
    config = make_config(server)
    async with OpenAITranscriber(config, config.api_key) as t:  # type: ignore[arg-type]
        yield t
