"""Registration, config structuring, login errors and the ``nanobot telegram`` command."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import trio
from click.testing import CliRunner
from nanobot_channel_telegram import client, plugin
from nanobot_channel_telegram.channel import TelegramChannel
from nanobot_channel_telegram.client import make_client
from nanobot_channel_telegram.config import TelegramConfig
from nanobot_channel_telegram.testing import (
    API_HASH,
    API_ID,
    BOT_ID,
    BOT_TOKEN,
    FakeHost,
    FakeTelegram,
    make_config,
)
from telethon import functions

from nanobot_core import ConfigError, NanobotError, Secret
from nanobot_core.config import make_converter, structure


def test_registers_the_telegram_channel_and_command() -> None:
    registered = []
    plugin.register_channels(lambda name, factory, config=None: registered.append((name, config)))
    assert registered == [("telegram", TelegramConfig)]
    cli = click.Group("nanobot")
    plugin.register_commands(cli)
    assert sorted(cli.commands["telegram"].commands) == ["check"]


def test_config_structures_from_toml_values_with_secrets_from_the_environment() -> None:
    raw = {
        "api_id": 12345,
        "api_hash": {"env": "TG_HASH"},
        "bot_token": {"env": "TG_TOKEN"},
        "allow_from": [111],
        "admins": [222],
        "groups": True,
        "proxy": {"type": "socks5", "host": "127.0.0.1", "port": 1080},
    }
    converter = make_converter({"TG_HASH": "h" * 32, "TG_TOKEN": "1:abc"})
    config, errors = structure(converter, raw, TelegramConfig, "channels.telegram")
    assert errors == []
    assert config.bot_token.reveal() == "1:abc"
    assert config.access_policy().check("111").value == "user"
    assert config.access_policy().check("222").value == "admin"
    assert config.access_policy().check("333").value == "denied"
    assert config.proxy.as_telethon()["addr"] == "127.0.0.1"


def test_config_errors_name_their_key() -> None:
    raw = {"api_id": "12345", "api_hash": "x", "bot_token": "y", "allow_from": ["me"], "colour": 1}
    _, errors = structure(make_converter({}), raw, TelegramConfig, "channels.telegram")
    assert errors == [
        "channels.telegram.api_id: expected an integer, got a string",
        "channels.telegram.allow_from[0]: expected an integer, got a string",
        "channels.telegram: unknown key 'colour'",
    ]


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("api_id", 0, "channels.telegram.api_id: must be greater than 0, got 0"),
        ("max_download_bytes", -1, "channels.telegram.max_download_bytes: must be greater than 0"),
        ("flood_wait_max", -5, "channels.telegram.flood_wait_max: must be 0 or more, got -5"),
    ],
)
def test_out_of_range_values_name_their_key(key: str, value: int, error: str) -> None:
    raw = {"api_id": 12345, "api_hash": "x", "bot_token": "1:y", key: value}
    _, errors = structure(make_converter({}), raw, TelegramConfig, "channels.telegram")
    (line,) = errors
    assert line.startswith(error)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bot_token": Secret(value="1:wrong")}, "channels.telegram.bot_token"),
        ({"api_id": 999}, "channels.telegram.api_id"),
    ],
)
async def test_bad_credentials_are_one_clear_line(
    host: FakeHost, overrides: dict, message: str
) -> None:
    fake = FakeTelegram()
    channel = TelegramChannel(
        make_config(**overrides), host, make=lambda s, c: fake.install(make_client(s, c))
    )
    with pytest.raises(ConfigError, match=message) as caught:
        await channel.run()
    assert "wrong" not in str(caught.value)


@pytest.mark.parametrize(
    ("error", "code", "raised", "message"),
    [
        ("ACCESS_TOKEN_EXPIRED", 400, ConfigError, "channels.telegram.bot_token: .* revoked"),
        ("CONNECTION_API_ID_INVALID", 400, ConfigError, "channels.telegram.api_id"),
        ("FLOOD_WAIT_120", 420, NanobotError, "wait 120 s before the bot logs in again"),
    ],
)
async def test_login_refusals_are_one_clear_line(
    host: FakeHost, error: str, code: int, raised: type[Exception], message: str
) -> None:
    fake = FakeTelegram()
    login = functions.auth.ImportBotAuthorizationRequest
    fake.fail(lambda r: isinstance(r, login), error, code=code)
    channel = TelegramChannel(
        make_config(), host, make=lambda s, c: fake.install(make_client(s, c))
    )
    with pytest.raises(raised, match=message) as caught:
        await channel.run()
    assert type(caught.value) is raised
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def _config_file(tmp_path: Path, token: str) -> Path:
    path = tmp_path / "nanobot.toml"
    path.write_text(
        f"[storage]\npath = {str(tmp_path / 'data')!r}\n\n[channels.telegram]\n"
        f"api_id = {API_ID}\napi_hash = {API_HASH!r}\nbot_token = {token!r}\n"
    )
    return path


@pytest.mark.parametrize(
    ("token", "exit_code", "output"),
    [
        (BOT_TOKEN, 0, f"@nanotest_bot (id {BOT_ID})\n"),
        ("7000000001:SECRETPART", 1, "error: channels.telegram.bot_token: Telegram rejected"),
    ],
)
def test_check_logs_in_and_names_the_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str, exit_code: int, output: str
) -> None:
    fake = FakeTelegram()
    monkeypatch.setattr(client, "make_client", lambda s, c: fake.install(make_client(s, c)))
    cli = click.Group("nanobot")
    plugin.register_commands(cli)
    result = CliRunner().invoke(
        cli, ["telegram", "check", "-c", str(_config_file(tmp_path, token))]
    )
    assert (result.exit_code, result.output[: len(output)]) == (exit_code, output)
    assert "SECRETPART" not in result.output
    assert len(fake.sent(functions.auth.ImportBotAuthorizationRequest)) == 1
    assert not (tmp_path / "data").exists() or not list((tmp_path / "data").glob("*.session"))


def test_check_without_a_telegram_table_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "nanobot.toml"
    config.write_text("[channels.console]\n")
    cli = click.Group("nanobot")
    plugin.register_commands(cli)
    result = CliRunner().invoke(cli, ["telegram", "check", "-c", str(config)])
    assert result.exit_code == 1
    assert "[channels.telegram] is missing" in result.output


async def test_a_lost_connection_ends_run_so_the_runtime_restarts_it(host: FakeHost) -> None:
    fake = FakeTelegram()
    channel = TelegramChannel(
        make_config(), host, make=lambda s, c: fake.install(make_client(s, c))
    )
    with pytest.RaisesGroup(ConnectionError, flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            await nursery.start(channel.run)
            channel.link.client._sender.drop(ConnectionError("network gone"))
    assert channel._link is None
