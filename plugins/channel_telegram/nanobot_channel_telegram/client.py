"""The bot account: telethon's client, logged in, spoken to from trio.

``TelegramLink`` is the plugin's only user of telethon's client API; the rest
of the plugin calls its trio methods. It is opened by ``open_link`` inside a
bridge (see ``bridge``), with the session kept by a ``SessionStore``.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio
from telethon import TelegramClient, errors, functions, types  # type: ignore[import-untyped]
from telethon.sessions import StringSession  # type: ignore[import-untyped]

from nanobot_core import ConfigError, NanobotError

from .bridge import Bridge
from .config import TelegramConfig
from .session import SessionStore, UpdateState

log = logging.getLogger("nanobot.telegram")

ClientFactory = Callable[[StringSession, TelegramConfig], TelegramClient]

ACTIONS = {
    "typing": types.SendMessageTypingAction(),
    "record-audio": types.SendMessageRecordAudioAction(),
}


class _NoSharedFloodMemory(dict[int, float]):
    """telethon remembers a flood wait per request *type* and then delays that request
    for every chat. Telegram's send limits are per chat and the plugin waits per chat
    itself, so this memory must stay empty."""

    def __setitem__(self, key: int, value: float) -> None:
        return None


def make_client(session: StringSession, config: TelegramConfig) -> TelegramClient:
    """A real client: it raises every flood wait (the plugin waits per chat) and
    delivers updates one at a time, in order (the plugin queues them per chat).

    It catches up on start (asks Telegram for what arrived while it was down)
    when the session carries an update state from an earlier run.
    """
    return TelegramClient(
        session,
        config.api_id,
        config.api_hash.reveal(),
        proxy=config.proxy.as_telethon() if config.proxy else None,
        flood_sleep_threshold=0,
        sequential_updates=True,
        base_logger="nanobot.telegram.telethon",
        catch_up=bool(list(session.get_update_states())),
    )


class TelegramLink:
    """A logged-in bot, used from trio."""

    def __init__(self, client: TelegramClient, bridge: Bridge, me: types.User) -> None:
        self.client = client
        self.bridge = bridge
        self.me = me

    @property
    def username(self) -> str:
        return self.me.username or str(self.me.id)

    async def call(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        return await self.bridge.call(fn, *args, **kwargs)

    async def send_text(
        self, peer: types.TypeInputPeer, text: str, entities: list[Any], reply_to: int | None
    ) -> None:
        await self.call(
            self.client.send_message,
            peer,
            text,
            formatting_entities=entities or None,
            parse_mode=None,
            link_preview=False,
            reply_to=reply_to,
        )

    async def send_voice(
        self, peer: types.TypeInputPeer, data: bytes, duration: float | None, mime_type: str
    ) -> None:
        attributes = [types.DocumentAttributeAudio(duration=round(duration or 0), voice=True)]
        await self.call(
            self.client.send_file,
            peer,
            data,
            voice_note=True,
            attributes=attributes,
            mime_type=mime_type,
        )

    async def send_action(self, peer: types.TypeInputPeer, action: str) -> None:
        await self.call(self.client, functions.messages.SetTypingRequest(peer, ACTIONS[action]))

    async def download(self, message: types.Message, sink: Any) -> Any:
        return await self.call(self.client.download_media, message, file=sink)

    def update_state(self) -> UpdateState | None:
        """Where the update sequence stands now; ``None`` before telethon has one.

        telethon keeps it in its private ``MessageBox``; the plugin pins telethon.
        """
        box = self.client._message_box
        if box.is_empty():
            return None
        account, channels = box.session_state()
        return UpdateState(
            pts=account["pts"], qts=account["qts"], date=int(account["date"].timestamp()),
            seq=account["seq"], channels=dict(channels),
        )  # fmt: skip

    async def wait_disconnected(self) -> None:
        """Return when telethon gives up reconnecting (then raise what it raised)."""

        async def wait() -> None:
            await self.client.disconnected

        await self.call(wait)


@asynccontextmanager
async def open_link(
    config: TelegramConfig,
    store: SessionStore,
    bridge: Bridge,
    make: ClientFactory = make_client,
    prepare: Callable[[TelegramClient], None] | None = None,
) -> AsyncIterator[TelegramLink]:
    """Connect, log in with the bot token, and disconnect (shielded) on the way out.

    ``prepare`` gets the client before it connects (to add event handlers, so
    that what it catches up on start reaches them).
    """
    session = StringSession(await store.load() or None)
    if store.update_state is not None:
        _restore(session, store.update_state)
    client = make(session, config)
    if prepare is not None:
        prepare(client)
    client._flood_waited_requests = _NoSharedFloodMemory()  # private; telethon is pinned
    try:
        me = await _log_in(client, config, bridge)
        await store.save(session.save())
        yield TelegramLink(client, bridge, me)
    finally:
        with trio.move_on_after(5, shield=True):
            await store.save(session.save())
            await bridge.call(_disconnect, client)


def _restore(session: StringSession, state: UpdateState) -> None:
    """Give telethon the saved update state, as its own SQLite session would (entity 0)."""
    date = datetime.datetime.fromtimestamp(state.date, tz=datetime.UTC)
    session.set_update_state(0, types.updates.State(state.pts, state.qts, date, state.seq, 0))
    for channel_id, pts in state.channels.items():
        session.set_update_state(channel_id, types.updates.State(pts, 0, date, 0, 0))


async def _disconnect(client: TelegramClient) -> None:
    await client.disconnect()


async def _log_in(client: TelegramClient, config: TelegramConfig, bridge: Bridge) -> types.User:
    try:
        await bridge.call(client.connect)
        if not await bridge.call(client.is_user_authorized):
            await bridge.call(client.sign_in, bot_token=config.bot_token.reveal())
        me = await bridge.call(client.get_me)
    except (errors.AccessTokenInvalidError, errors.AccessTokenExpiredError):
        raise ConfigError(
            "channels.telegram.bot_token: Telegram rejected the bot token "
            "(mistyped or revoked; ask @BotFather)"
        ) from None
    except (
        errors.ApiIdInvalidError,
        errors.ConnectionApiIdInvalidError,
        errors.ApiIdPublishedFloodError,
    ):
        raise ConfigError(
            "channels.telegram.api_id: Telegram rejected api_id/api_hash (see my.telegram.org)"
        ) from None
    except errors.FloodWaitError as error:
        raise NanobotError(
            f"Telegram asks to wait {error.seconds} s before the bot logs in again"
        ) from None
    except (ConnectionError, OSError) as error:
        raise NanobotError(f"cannot reach Telegram: {error}") from None
    if me is None or not me.bot:
        raise ConfigError(
            "channels.telegram: the saved session is not a bot account; delete it and retry"
        )
    return me
