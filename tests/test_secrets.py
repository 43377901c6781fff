"""Secrets never reach logs, errors or ``nanobot check`` output, even from a careless plugin."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from nanobot_core import ConfigError, Secret, hookimpl
from nanobot_core.cli import App, cli
from nanobot_core.logs import RedactingFormatter, secrets_in
from nanobot_core.plugins import Plugins

SECRET = "tok-1234567890-abcdef"


@attrs.frozen
class LeakyConfig:
    token: Secret
    fail: bool = False


@attrs.define(eq=False)
class LeakyChannel:
    async def run(self, **kwargs: Any) -> None:  # pragma: no cover - never started
        pass


def make_leaky(config: LeakyConfig, host: Any) -> Any:
    logging.getLogger("leaky").warning("connecting with token %s", config.token.reveal())
    if config.fail:
        raise ConfigError(f"channels.leaky.token: {config.token.reveal()} was refused")
    raise RuntimeError(f"crashed while using {config.token.reveal()}")


class LeakyPlugin:
    @hookimpl
    def register_channels(self, register: Any) -> None:
        register("leaky", make_leaky, config=LeakyConfig)


def run_cli(tmp_path: Path, toml: str, *args: str) -> Any:
    path = tmp_path / "nanobot.toml"
    path.write_text(toml)
    app = App(
        plugins=Plugins.load(env={}, entry_points=False, extra=(LeakyPlugin(),)),
        env={"LEAKY_TOKEN": SECRET, "HOME": str(tmp_path)},
    )
    runner = CliRunner()
    return runner.invoke(cli, ["--log-level", "INFO", *args, "-c", str(path)], obj=app)


@pytest.mark.parametrize("fail", ["true", "false"])
def test_check_output_never_shows_a_secret(tmp_path: Path, fail: str) -> None:
    toml = f'[channels.leaky]\ntoken = {{ env = "LEAKY_TOKEN" }}\nfail = {fail}\n'
    result = run_cli(tmp_path, toml, "check")
    assert result.exit_code == 1
    assert "leaky" in result.output.split("error: ", 1)[1]
    assert "***" in result.output
    assert SECRET not in result.output


def test_inline_secret_in_an_error_is_not_echoed(tmp_path: Path) -> None:
    toml = f'[channels.leaky]\ntoken = "{SECRET}"\nfail = "yes"\n'
    result = run_cli(tmp_path, toml, "check")
    assert result.exit_code == 1
    assert "channels.leaky.fail: expected true or false, got a string" in result.output
    assert SECRET not in result.output


def test_formatter_redacts_messages_and_tracebacks() -> None:
    formatter = RedactingFormatter("%(message)s", [SECRET])
    try:
        raise ValueError(f"bad {SECRET}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "using %s", (SECRET,), None)
        import sys

        record.exc_info = sys.exc_info()
    text = formatter.format(record)
    assert "using ***" in text and "ValueError: bad ***" in text
    assert SECRET not in text


def test_secrets_are_found_inside_nested_config() -> None:
    @attrs.frozen
    class Inner:
        key: Secret

    @attrs.frozen
    class Outer:
        inner: Inner
        others: list[Secret]
        plain: str = "x"

    outer = Outer(Inner(Secret(value="a")), [Secret(value="b")])
    assert sorted(secrets_in(outer)) == ["a", "b"]
    assert "a" not in repr(outer.inner.key) and str(outer.others[0]) == "<secret from inline>"


def test_secret_repr_never_shows_the_value() -> None:
    secret = Secret(value=SECRET, source="env X")
    assert SECRET not in f"{secret!r} {secret!s} {attrs.asdict(Inner2(secret))!r}"


@attrs.frozen
class Inner2:
    key: Secret
