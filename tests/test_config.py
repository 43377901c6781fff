"""Config: strict structuring, key paths in every error, secrets resolved and never shown."""

from __future__ import annotations

import codecs
import math
import os
from pathlib import Path
from typing import Any

import attrs
import pytest

from nanobot_core import ConfigError, Secret, hookimpl
from nanobot_core.config import Rate, find_config, load_config, read_toml
from nanobot_core.plugins import Plugins
from nanobot_core.registry import Kind, Registry
from nanobot_core.validators import FieldError, between, not_negative, positive

SECRET = "sk-very-secret-value-123"


@attrs.frozen
class DemoConfig:
    api_key: Secret
    url: str = "http://x"
    retries: int = 2
    verbose: bool = False


class DemoPlugin:
    @hookimpl
    def register_channels(self, register: Any) -> None:
        register("demo", lambda config, host: None, config=DemoConfig)


@pytest.fixture
def demo_registry() -> Registry:
    return Registry.collect(Plugins.load(env={}, entry_points=False, extra=(DemoPlugin(),)).pm)


def errors_of(raw: dict[str, Any], registry: Registry, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(raw, registry, env=env or {})
    return str(caught.value)


def test_defaults(registry: Registry) -> None:
    config = load_config({}, registry, env={})
    assert config.agent.model == "echo/echo"
    assert config.limits.turn == Rate(30, 60)
    assert config.enabled(Kind.CHAT_MODEL) == ["echo"]


def test_unknown_key_names_its_path(registry: Registry) -> None:
    assert "agent: unknown key 'modle'" in errors_of({"agent": {"modle": "x"}}, registry)
    assert "top level: unknown key 'bogus'" in errors_of({"bogus": 1}, registry)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"agent": {"max_tool_iterations": "3"}},
            "agent.max_tool_iterations: expected an integer, got a string",
        ),
        (
            {"agent": {"max_tool_iterations": True}},
            "agent.max_tool_iterations: expected an integer, got a boolean",
        ),
        (
            {"agent": {"max_tool_iterations": 0}},
            "agent.max_tool_iterations: must be greater than 0",
        ),
        ({"limits": {"turn": "many"}}, 'limits.turn: expected "N/PERIOD"'),
        ({"agent": {"model": "gpt-4o"}}, 'agent.model: expected "<chat model>/<model id>"'),
        (
            {"agent": {"model": "nope/x"}},
            "agent.model: no installed plugin provides chat model 'nope' (installed: echo)",
        ),
        ({"channels": {"irc": {}}}, "channels.irc: no installed plugin provides channel 'irc'"),
        (
            {"channels": {"console": {"enabled": "yes"}}},
            "channels.console.enabled: expected true or false",
        ),
        ({"channels": {"console": {"colour": True}}}, "channels.console: unknown key 'colour'"),
        (
            {"voice": {"transcriber": "whisper"}},
            "voice.transcriber: no installed plugin provides transcriber 'whisper'",
        ),
    ],
)
def test_each_error_names_its_key_path(
    registry: Registry, raw: dict[str, Any], expected: str
) -> None:
    assert expected in errors_of(raw, registry)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"limits": {"scope": "planet"}},
            "limits.scope: expected one of 'channel', 'global', got 'planet'",
        ),
        (
            {"voice": {"reply": "loud"}},
            "voice.reply: expected one of 'off', 'inbound', 'always', got 'loud'",
        ),
        (
            {"voice": {"reply": True}},
            "voice.reply: expected one of 'off', 'inbound', 'always', got a boolean",
        ),
        ({"agent": 3}, "agent: expected a table"),
        ({"channels": 3}, "channels: expected a table"),
        ({"channels": {"console": 5}}, "channels.console: expected a table"),
        (
            {"providers": {"echo": {"enabled": "yes"}}},
            "providers.echo.enabled: expected true or false, got a string",
        ),
        (
            {"providers": {"echo": {"enabled": False}}},
            "providers.echo.enabled: is false, but chat model 'echo' is selected",
        ),
    ],
)
def test_wrong_values_and_shapes_are_one_exact_line(
    registry: Registry, raw: dict[str, Any], expected: str
) -> None:
    assert errors_of(raw, registry) == expected


def test_every_problem_is_reported_one_per_line(registry: Registry) -> None:
    message = errors_of({"channels": {"irc": {}}, "tools": {"web": {}}}, registry)
    lines = message.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("channels.irc:") and lines[1].startswith("tools.web:")


def test_plugin_table_is_structured_into_its_class(demo_registry: Registry) -> None:
    raw = {"channels": {"demo": {"api_key": {"env": "DEMO_KEY"}, "retries": 5}}}
    config = load_config(raw, demo_registry, env={"DEMO_KEY": SECRET})
    demo = config.plugin_config(Kind.CHANNEL, "demo")
    assert demo.retries == 5
    assert demo.api_key.reveal() == SECRET
    assert SECRET not in repr(demo) and SECRET not in str(demo.api_key)


def test_plugin_table_errors(demo_registry: Registry) -> None:
    message = errors_of({"channels": {"demo": {"url": 3, "verbose": "yes"}}}, demo_registry)
    assert "channels.demo.api_key: required key missing" in message
    assert "channels.demo.url: expected a string, got a number" in message
    assert "channels.demo.verbose: expected true or false, got a string" in message


def test_disabled_plugin_section_is_not_structured(demo_registry: Registry) -> None:
    config = load_config({"channels": {"demo": {"enabled": False}}}, demo_registry, env={})
    assert config.enabled(Kind.CHANNEL) == []


def test_missing_env_secret_names_the_variable_not_a_value(demo_registry: Registry) -> None:
    message = errors_of({"channels": {"demo": {"api_key": {"env": "DEMO_KEY"}}}}, demo_registry)
    assert "channels.demo.api_key: environment variable DEMO_KEY is not set" in message


def test_file_secret_strips_the_newline(demo_registry: Registry, tmp_path: Path) -> None:
    secret_file = tmp_path / "key"
    secret_file.write_text(SECRET + "\n")
    raw = {"channels": {"demo": {"api_key": {"file": str(secret_file)}}}}
    config = load_config(raw, demo_registry, env={})
    assert config.plugin_config(Kind.CHANNEL, "demo").api_key.reveal() == SECRET


def test_secret_errors_never_contain_the_value(demo_registry: Registry, tmp_path: Path) -> None:
    raw = {"channels": {"demo": {"api_key": {"file": str(tmp_path / "missing"), "x": SECRET}}}}
    message = errors_of(raw, demo_registry)
    assert "channels.demo.api_key" in message
    assert SECRET not in message


def test_rates_parse() -> None:
    assert Rate.parse("3/5 minutes") == Rate(3, 300)
    assert Rate.parse("10/hour") == Rate(10, 3600)
    with pytest.raises(ValueError, match="N/PERIOD"):
        Rate.parse("10 per hour")


def test_lookup_order(tmp_path: Path) -> None:
    explicit, from_env, local = (tmp_path / n for n in ("a.toml", "b.toml", "nanobot.toml"))
    for path in (explicit, from_env, local):
        path.write_text("")
    env = {"NANOBOT_CONFIG": str(from_env)}
    assert find_config(explicit, env, tmp_path) == explicit
    assert find_config(None, env, tmp_path) == from_env
    assert find_config(None, {}, tmp_path) == local
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.toml"):
        find_config(tmp_path / "nope.toml", {}, tmp_path)
    with pytest.raises(ConfigError, match="config file not found"):
        find_config(None, {"NANOBOT_CONFIG": str(tmp_path / "gone.toml")}, tmp_path)


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[agent\nmodel = 1\n")
    with pytest.raises(ConfigError) as caught:
        read_toml(path)
    assert str(caught.value).startswith(f"{path}: invalid TOML")
    assert len(str(caught.value).splitlines()) == 1


def test_an_empty_path_is_refused(registry: Registry) -> None:
    message = errors_of({"storage": {"path": ""}}, registry)
    assert message == "storage.path: expected a path, got an empty string"


# --- numbers that pass a comparison by accident (NaN) or break later (inf, 2**64) -------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[runtime]\nturn_timeout = nan", "runtime.turn_timeout: must be a finite number, got nan"),
        ("[runtime]\nshutdown_grace = nan", "runtime.shutdown_grace: must be a finite number"),
        ("[runtime]\nshutdown_grace = -nan", "runtime.shutdown_grace: must be a finite number"),
        (
            "[runtime]\nrestart_delay = inf",
            "runtime.restart_delay: must be a finite number, got inf",
        ),
        (
            "[runtime]\nturn_timeout = 1e400",
            "runtime.turn_timeout: must be a finite number, got inf",
        ),
        (
            "[agent]\nhistory_messages = 18446744073709551616",
            "agent.history_messages: must be between -9223372036854775808 and"
            " 9223372036854775807, got 18446744073709551616",
        ),
        ("[runtime]\nqueue_size = -9223372036854775809", "runtime.queue_size: must be between"),
        ("[runtime]\nturn_timeout = " + "9" * 400, "runtime.turn_timeout: must be a finite number"),
        (
            '[limits]\nturn = "99999999999999999999/minute"',
            "limits.turn: a rate's count and period",
        ),
        (
            '[limits]\nturn = "3/' + "9" * 5000 + ' minutes"',
            "limits.turn: a rate's count and period",
        ),
    ],
)
def test_numbers_a_turn_cannot_use_are_refused(
    registry: Registry, tmp_path: Path, toml: str, expected: str
) -> None:
    path = tmp_path / "nanobot.toml"
    path.write_text(toml + "\n")
    message = errors_of(read_toml(path), registry)
    assert expected in message
    assert len(message.splitlines()) == 1


@attrs.frozen
class ValidatedConfig:
    seconds: float = attrs.field(default=1.0, validator=positive)
    pause: float = attrs.field(default=0.0, validator=not_negative)
    speed: float = attrs.field(default=1.0, validator=between(0.5, 2.0))


@pytest.mark.parametrize("name", ["seconds", "pause", "speed"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_shared_validators_refuse_nan_and_infinity(name: str, value: float) -> None:
    """Plugins that build their configs themselves (or with another converter) are covered too."""
    with pytest.raises(FieldError, match=f"must be a finite number, got {value}") as caught:
        ValidatedConfig(**{name: value})
    assert caught.value.field_name == name


def test_video_max_duration_nan_is_refused_by_its_validator() -> None:
    video = pytest.importorskip("nanobot_video_ffmpeg.config")
    with pytest.raises(FieldError, match="must be a finite number"):
        video.VideoConfig(max_duration=math.nan)


# --- the file itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b'[agent]\nmodel = "echo/\xff"\n',
            "line 2: not UTF-8 text (byte 0xff); save the file as UTF-8",
        ),
        ("[agent]\n".encode("utf-16"), "the file is UTF-16; save it as UTF-8"),
        (codecs.BOM_UTF16_BE + "[agent]\n".encode("utf-16-be"), "UTF-16"),
        (b"a = " + b"[" * 100_000 + b"]" * 100_000, "nested more than 32 levels deep"),
        (b"a = " + b"[" * 40 + b"]" * 40, "a[0][0]"),
        (b"[" + b".".join([b"t"] * 40) + b"]\n", "nested more than 32 levels deep"),
        (b"x = 1" + b"0" * 5000, "invalid TOML"),
        (b"#" * 1_000_001, "is larger than 1,000,000 bytes"),
    ],
)
def test_a_config_file_that_cannot_be_read_is_one_line(
    tmp_path: Path, data: bytes, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as caught:
        read_toml(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(codecs.BOM_UTF8 + b'[agent]\nmodel = "echo/\xc3\xa9"\n')
    assert read_toml(path) == {"agent": {"model": "echo/é"}}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_config_fifo_is_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_toml(fifo)


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .* is a directory"):
        find_config(tmp_path, {}, tmp_path)


# --- paths are relative to the config file's folder -------------------------------------------


def test_relative_paths_are_taken_from_the_config_files_folder(
    demo_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "key.txt").write_text(SECRET + "\n")
    source = folder / "nanobot.toml"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    raw = {
        "storage": {"path": "data/../store"},
        "channels": {"demo": {"api_key": {"file": "key.txt"}}},
    }
    config = load_config(raw, demo_registry, env={}, source=source)
    assert config.storage.path == folder / "store"
    assert config.plugin_config(Kind.CHANNEL, "demo").api_key.reveal() == SECRET
    home = load_config({"storage": {"path": "~/x"}}, demo_registry, env={}, source=source)
    assert home.storage.path == tmp_path / "home" / "x"
    absolute = load_config({"storage": {"path": str(tmp_path)}}, demo_registry, source=source)
    assert absolute.storage.path == tmp_path
