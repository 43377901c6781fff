"""``nanobot telegram check``: log in with the configured credentials and name the bot."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import trio

from nanobot_core import NanobotError


@click.group()
def telegram() -> None:
    """Commands of the Telegram channel."""


@telegram.command()
@click.option(
    "-c", "--config", "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (else $NANOBOT_CONFIG, ./nanobot.toml, the user config dir).",
)  # fmt: skip
@click.pass_context
def check(ctx: click.Context, config_path: Path | None) -> None:
    """Verify the bot token and api_id/api_hash; print the bot's username."""
    try:
        config = _telegram_config(ctx, config_path)
        username, bot_id = trio.run(_who_am_i, config)
    except NanobotError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    click.echo(f"@{username} (id {bot_id})")


def _telegram_config(ctx: click.Context, config_path: Path | None) -> Any:
    from nanobot_core.registry import Kind

    app = ctx.obj
    if app is not None and hasattr(app, "load"):
        config = app.load(config_path)  # the core CLI's loader: same lookup and messages
    else:
        config = _load_directly(config_path)
    if (Kind.CHANNEL, "telegram") not in config.plugins:
        raise NanobotError("[channels.telegram] is missing or disabled in the configuration")
    return config.plugin_config(Kind.CHANNEL, "telegram")


def _load_directly(config_path: Path | None) -> Any:
    import os

    from nanobot_core.config import find_config, load_config, read_toml
    from nanobot_core.plugins import Plugins
    from nanobot_core.registry import Registry

    path = find_config(config_path, os.environ, Path.cwd())
    if path is None:
        raise NanobotError("no config file found; `nanobot init` writes one")
    registry = Registry.collect(Plugins.load().pm)
    return load_config(read_toml(path), registry, source=path)


async def _who_am_i(config: Any) -> tuple[str, int]:
    from . import client
    from .bridge import open_bridge
    from .session import MemoryStore

    # A fresh session: two connections sharing the running bot's auth key would clash.
    async with (
        open_bridge() as bridge,
        client.open_link(config, MemoryStore(), bridge, client.make_client) as link,
    ):
        return link.username, link.me.id
