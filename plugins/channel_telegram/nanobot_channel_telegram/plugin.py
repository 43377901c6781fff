"""Entry point ``telegram``: registers channel ``telegram`` and ``nanobot telegram`` commands.

telethon and trio-asyncio are imported only when the channel is built or a
command runs, so ``nanobot --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nanobot_core import hookimpl

from .config import TelegramConfig

if TYPE_CHECKING:
    import click

    from nanobot_core.registry import Register


def _factory(config: TelegramConfig, host: Any) -> Any:
    from .channel import TelegramChannel

    return TelegramChannel(config, host, replay_window=host.config.runtime.replay_window)


@hookimpl
def register_channels(register: Register) -> None:
    register("telegram", _factory, config=TelegramConfig)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .cli import telegram

    cli.add_command(telegram)
