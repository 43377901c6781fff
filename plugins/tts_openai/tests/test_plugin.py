"""The plugin as the core sees it: entry point, ``[speech.openai]`` table, factory."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from nanobot_tts_openai.config import OpenAISpeechConfig
from nanobot_tts_openai.plugin import make_synthesizer

from nanobot_core import ConfigError, Secret, SpeechSynthesizer
from nanobot_core.config import Config, load_config
from nanobot_core.plugins import Plugins
from nanobot_core.registry import Kind, Registry


@pytest.fixture
def registry() -> Registry:
    plugins = Plugins.load({"NANOBOT_LOAD_PLUGINS": "tts_openai"})
    assert plugins.failures() == []
    return plugins.collect()


def load(registry: Registry, speech: dict[str, Any], env: dict[str, str] | None = None) -> Config:
    raw = {"voice": {"synthesizer": "openai"}, "speech": {"openai": speech}}
    return load_config(raw, registry, env=env or {})


def test_the_entry_point() -> None:
    (ep,) = [e for e in metadata.entry_points(group="nanobot") if e.name == "tts_openai"]
    assert ep.value == "nanobot_tts_openai.plugin"
    assert ep.dist is not None and ep.dist.name == "nanobot-tts-openai"


def test_registers_the_openai_speech_synthesizer(registry: Registry) -> None:
    registration = registry.get(Kind.SPEECH, "openai")
    assert registration is not None
    assert registration.config is OpenAISpeechConfig
    assert registration.plugin == "tts_openai"


def test_defaults(registry: Registry) -> None:
    config = load(registry, {}).plugin_config(Kind.SPEECH, "openai")
    assert config == OpenAISpeechConfig()
    assert (config.model, config.voice, config.speed, config.max_chars) == (
        "gpt-4o-mini-tts",
        "alloy",
        1.0,
        4000,
    )


def test_a_full_table(registry: Registry) -> None:
    table = {
        "model": "gpt-4o-mini-tts",
        "voice": "nova",
        "speed": 1.25,
        "instructions": "Speak calmly.",
        "base_url": "http://127.0.0.1:8000/v1",
        "api_key": {"env": "MY_KEY"},
        "timeout": 30,
        "max_retries": 0,
        "max_chars": 8000,
    }
    config = load(registry, table, env={"MY_KEY": "sk-test"}).plugin_config(Kind.SPEECH, "openai")
    assert config.voice == "nova"
    assert config.timeout == 30.0
    assert config.api_key.reveal() == "sk-test"
    assert "sk-test" not in repr(config)


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ({"voise": "nova"}, "speech.openai: unknown key 'voise'"),
        ({"speed": 5}, "speech.openai.speed: must be between 0.25 and 4.0, got 5.0"),
        ({"speed": "fast"}, "speech.openai.speed: expected a number"),
        ({"max_chars": 0}, "speech.openai.max_chars: must be greater than 0"),
        ({"timeout": -1}, "speech.openai.timeout: must be greater than 0"),
        ({"max_retries": -1}, "speech.openai.max_retries: must be 0 or more"),
        (
            {"base_url": "localhost:8000/v1"},
            "speech.openai.base_url: must be an http:// or https:// URL, got 'localhost:8000/v1'",
        ),
        ({"base_url": "http:///v1"}, "speech.openai.base_url: must be an http:// or https:// URL"),
        ({"api_key": {"env": "NOT_SET"}}, "speech.openai.api_key: environment variable NOT_SET"),
        (
            {"model": "tts-1", "instructions": "Speak warmly."},
            "speech.openai.instructions: model 'tts-1' does not take instructions "
            "(gpt-4o-mini-tts does): remove instructions or change model",
        ),
        (
            {"model": "tts-1-hd", "instructions": "Speak warmly."},
            "speech.openai.instructions: model 'tts-1-hd' does not take instructions",
        ),
        ({"max_audio_bytes": 0}, "speech.openai.max_audio_bytes: must be greater than 0, got 0"),
        (
            {"extra_headers": {"X-Title": 5}},
            "speech.openai.extra_headers.X-Title: expected a string, got a number",
        ),
        ({"timeout": 0}, "speech.openai.timeout: must be greater than 0, got 0"),
    ],
)
def test_bad_tables_name_their_key(registry: Registry, table: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(registry, table)
    assert error in str(raised.value)


def test_the_factory_takes_the_key_from_the_environment_when_none_is_set() -> None:
    speech = make_synthesizer(OpenAISpeechConfig(), None, env={"OPENAI_API_KEY": "sk-env"})
    assert isinstance(speech, SpeechSynthesizer)
    assert speech.api_key.reveal() == "sk-env"
    configured = OpenAISpeechConfig(api_key=Secret(value="sk-config"))
    assert make_synthesizer(
        configured, None, env={"OPENAI_API_KEY": "sk-env"}
    ).api_key.reveal() == ("sk-config")


def test_no_key_anywhere_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^speech\.openai\.api_key: not set.*OPENAI_API_KEY"):
        make_synthesizer(OpenAISpeechConfig(), None, env={})


def test_loading_the_plugin_and_building_the_synthesizer_does_not_import_the_sdk() -> None:
    code = (
        "import sys\n"
        "from nanobot_tts_openai.config import OpenAISpeechConfig\n"
        "from nanobot_tts_openai.plugin import make_synthesizer\n"
        "make_synthesizer(OpenAISpeechConfig(), None, env={'OPENAI_API_KEY': 'k'})\n"
        "assert 'openai' not in sys.modules, 'openai imported'\n"
        "assert 'nanobot_tts_openai.synthesizer' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent)
