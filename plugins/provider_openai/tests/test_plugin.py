"""Registration, configuration and the key: what `nanobot check` relies on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from nanobot_provider_openai import OpenAIChatModel, OpenAIConfig, OpenAITranscriber
from nanobot_provider_openai.client import translate
from nanobot_provider_openai.plugin import make_chat_model, make_transcriber

from nanobot_core import ConfigError, Secret
from nanobot_core.config import load_config
from nanobot_core.plugins import Plugins
from nanobot_core.registry import Kind, Registry


def registry() -> Registry:
    loaded = Plugins.load(env={"NANOBOT_LOAD_PLUGINS": "openai"}, entry_points=True)
    assert loaded.failures() == []
    return Registry.collect(loaded.pm)


def load(raw: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    config = load_config(
        {"agent": {"model": "openai/gpt-4o-mini"}, "voice": {"transcriber": "openai"}, **raw},
        registry(),
        env=env or {},
    )
    return config.plugin_config(Kind.CHAT_MODEL, "openai")


def test_entry_point_registers_chat_model_and_transcriber() -> None:
    found = registry()
    chat = found.get(Kind.CHAT_MODEL, "openai")
    transcriber = found.get(Kind.TRANSCRIBER, "openai")
    assert chat is not None and chat.config is OpenAIConfig
    assert transcriber is not None and transcriber.config is OpenAIConfig


def test_full_table_is_structured() -> None:
    config = load(
        {
            "providers": {
                "openai": {
                    "api_key": {"env": "MY_KEY"},
                    "base_url": "http://localhost:11434/v1",
                    "timeout": 30,
                    "max_retries": 0,
                    "temperature": 0.5,
                    "max_tokens": 1000,
                    "extra_headers": {"HTTP-Referer": "https://example.org"},
                    "transcription_model": "whisper-large-v3",
                    "transcription_language": "de",
                }
            }
        },
        env={"MY_KEY": "sk-secret-value"},
    )
    assert config.api_key.reveal() == "sk-secret-value"
    assert config.timeout == 30.0
    assert config.extra_headers == {"HTTP-Referer": "https://example.org"}
    assert config.server == "localhost:11434"
    assert "sk-secret-value" not in repr(config)


def test_header_values_stay_out_of_repr() -> None:
    config = OpenAIConfig(extra_headers={"Helicone-Auth": "Bearer sk-helicone-secret"})
    assert "sk-helicone-secret" not in repr(config)
    assert "Helicone-Auth" in repr(config)


def test_only_json_errors_are_reported_as_not_json() -> None:
    endpoint = OpenAIConfig().endpoint(Secret("k"))
    not_json = json.JSONDecodeError("Expecting value", "<html>", 0)
    assert "not JSON" in str(translate(not_json, endpoint, "chat"))
    # any other ValueError is a bug to propagate, not the server's fault
    encoding = UnicodeEncodeError("ascii", "é", 0, 1, "ordinal not in range(128)")
    assert translate(encoding, endpoint, "chat") is None


def test_defaults() -> None:
    config = load({})
    assert config == OpenAIConfig()
    assert config.base_url == "https://api.openai.com/v1"
    assert (config.timeout, config.max_retries) == (60.0, 2)


@pytest.mark.parametrize(
    ("table", "line"),
    [
        (
            {"base_url": "localhost:11434"},
            "providers.openai.base_url: must be an http:// or https:// URL, got 'localhost:11434'",
        ),
        ({"timeout": 0}, "providers.openai.timeout: must be greater than 0, got 0"),
        ({"max_retries": -1}, "providers.openai.max_retries: must be 0 or more, got -1"),
        ({"max_retries": "2"}, "providers.openai.max_retries: expected an integer, got a string"),
        ({"temperature": 3}, "providers.openai.temperature: must be between 0 and 2, got 3.0"),
        ({"max_tokens": 0}, "providers.openai.max_tokens: must be 1 or more, got 0"),
        (
            {"extra_headers": {"X Title": "nanobot"}},
            "providers.openai.extra_headers: 'X Title' is not a valid header name",
        ),
        (
            {"extra_headers": {"X-Title": "two\nlines"}},
            "providers.openai.extra_headers: the value of 'X-Title' must be printable ASCII",
        ),
        (
            {"extra_headers": {"X-Title": "café"}},
            "providers.openai.extra_headers: the value of 'X-Title' must be printable ASCII",
        ),
        (
            {"extra_headers": {"X-Title": 5}},
            "providers.openai.extra_headers.X-Title: expected a string, got a number",
        ),
        (
            {"max_response_bytes": 0},
            "providers.openai.max_response_bytes: must be greater than 0, got 0",
        ),
        (
            {"max_tokens": 100, "max_completion_tokens": 100},
            "providers.openai.max_completion_tokens: set either max_tokens or "
            "max_completion_tokens, not both",
        ),
        (
            {"echo_reasoning": ["thoughts"]},
            "providers.openai.echo_reasoning: 'thoughts' is not one of 'reasoning_details', "
            "'reasoning_content', 'reasoning'",
        ),
        ({"modle": "x"}, "providers.openai: unknown key 'modle'"),
        ({"api_key": {"env": "NOPE"}}, "providers.openai.api_key: environment variable NOPE"),
    ],
)
def test_bad_values_name_their_key(table: dict[str, Any], line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load({"providers": {"openai": table}})
    assert line in str(caught.value)


def test_missing_key_names_both_places(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for factory in (make_chat_model, make_transcriber):
        with pytest.raises(ConfigError) as caught:
            factory(OpenAIConfig(), None)
        assert str(caught.value) == (
            "providers.openai.api_key: not set, and OPENAI_API_KEY is not in the environment"
        )


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-123456")
    model = make_chat_model(OpenAIConfig(), None)
    assert isinstance(model, OpenAIChatModel)
    assert model.key.reveal() == "sk-from-env-123456"
    assert model.key.source == "env OPENAI_API_KEY"
    assert "sk-from-env" not in repr(model)
    transcriber = make_transcriber(OpenAIConfig(), None)
    assert isinstance(transcriber, OpenAITranscriber)


def test_configured_key_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-123456")
    model = make_chat_model(OpenAIConfig(api_key=Secret("none")), None)
    assert model.key.reveal() == "none"


async def test_use_outside_async_with_is_a_clear_bug() -> None:
    model = make_chat_model(OpenAIConfig(api_key=Secret("k")), None)
    with pytest.raises(RuntimeError, match=r"^OpenAIChatModel is used outside `async with`$"):
        await model.complete(None)  # type: ignore[arg-type]
    transcriber = make_transcriber(OpenAIConfig(api_key=Secret("k")), None)
    with pytest.raises(RuntimeError, match=r"^OpenAITranscriber is used outside `async with`$"):
        await transcriber.transcribe(Path("voice.ogg"))


def test_plugin_import_does_not_import_the_sdk() -> None:
    code = (
        "import sys, nanobot_provider_openai.plugin; "
        "print('openai' in sys.modules, 'httpx2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
