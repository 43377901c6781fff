"""``[channels.telegram]``: credentials, who may talk to the bot, and the channel's limits."""

from __future__ import annotations

from typing import Any, Literal

from attrs import field, frozen

from nanobot_core import AccessPolicy, Secret
from nanobot_core.validators import not_negative, positive

MiB = 1024 * 1024


@frozen
class ProxyConfig:
    """A SOCKS or HTTP proxy for the connection to Telegram (needs ``python-socks``)."""

    type: Literal["socks5", "socks4", "http"]
    host: str
    port: int
    username: str | None = None
    password: Secret | None = None
    rdns: bool = True

    def as_telethon(self) -> dict[str, Any]:
        proxy: dict[str, Any] = {
            "proxy_type": self.type,
            "addr": self.host,
            "port": self.port,
            "rdns": self.rdns,
        }
        if self.username is not None:
            proxy["username"] = self.username
        if self.password is not None:
            proxy["password"] = self.password.reveal()
        return proxy


@frozen
class TelegramConfig:
    """The channel's settings. ``allow_from`` and ``admins`` are numeric Telegram user ids."""

    api_id: int = field(validator=positive)
    api_hash: Secret
    bot_token: Secret
    allow_from: tuple[int, ...] = ()
    admins: tuple[int, ...] = ()
    groups: bool = False
    """Serve group chats the bot was added to (allowed users only); off: private chats only."""
    proxy: ProxyConfig | None = None
    max_download_bytes: int = field(default=20 * MiB, validator=positive)
    """Media larger than this is refused from its declared size, before any download."""
    refusal_period: float = field(default=3600.0, validator=positive)
    """Seconds between two "not allowed" replies to the same unknown user."""
    flood_wait_max: float = field(default=60.0, validator=not_negative)
    """Longest flood wait (seconds) honoured before a send is given up and logged."""
    send_interval: float = field(default=1.0, validator=not_negative)
    """Minimum seconds between two messages to one chat (Telegram allows about one a second)."""
    album_window: float = field(default=1.0, validator=positive)
    """Seconds to wait for the rest of an album after its first item."""
    typing_interval: float = field(default=4.0, validator=positive)
    """Seconds between re-sends of "typing…"; Telegram hides it after about 5 s."""

    def access_policy(self) -> AccessPolicy:
        return AccessPolicy(allow_from=self.allow_from, admins=self.admins)
