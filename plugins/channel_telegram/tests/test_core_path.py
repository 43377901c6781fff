"""A text message in, an Inbound out; a reply in, a SendMessageRequest out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio
from nanobot_channel_telegram import testing as tg
from nanobot_channel_telegram.channel import TelegramChannel
from nanobot_channel_telegram.client import make_client
from nanobot_channel_telegram.testing import ALICE, FakeHost, running
from telethon import functions, types

from nanobot_core import Outbound, Secret


async def test_text_message_becomes_an_inbound_and_the_reply_is_sent(host: FakeHost) -> None:
    async with running(host) as bot:
        await bot.receive(tg.message(ALICE, "hello there", message_id=42))

        assert [(i.channel, i.chat_id, i.user_id, i.text, i.message_id) for i in host.inbounds] == [
            ("telegram", str(ALICE), str(ALICE), "hello there", "42")
        ]
        await bot.channel.send(Outbound("telegram", str(ALICE), "**Hi** Ada", reply_to="42"))

    (request,) = bot.fake.sent(functions.messages.SendMessageRequest)
    assert request.message == "Hi Ada"
    assert request.peer == types.InputPeerUser(ALICE, ALICE * 7 + 1)
    assert [e.to_dict() for e in request.entities] == [
        {"_": "MessageEntityBold", "offset": 0, "length": 2}
    ]
    assert request.reply_to.reply_to_msg_id == 42


async def test_login_uses_the_bot_token_and_keeps_the_session_private(
    host: FakeHost, tmp_path: Path
) -> None:
    async with running(host) as bot:
        assert bot.channel.link.username == "nanotest_bot"
    (login,) = bot.fake.sent(functions.auth.ImportBotAuthorizationRequest)
    assert login.bot_auth_token == tg.BOT_TOKEN
    session = tmp_path / f"telegram-{tg.BOT_ID}.session"
    assert json.loads(session.read_text())["session"].startswith("1")  # a StringSession
    assert session.stat().st_mode & 0o777 == 0o600


async def test_a_restart_reuses_the_saved_session(host: FakeHost) -> None:
    fake = tg.FakeTelegram()
    for _ in range(2):
        channel = TelegramChannel(tg.make_config(), host, make=_installing(fake))
        async with trio.open_nursery() as nursery:
            await nursery.start(channel.run)
            assert channel.link.me.id == tg.BOT_ID
            nursery.cancel_scope.cancel()
    assert len(fake.sent(functions.auth.ImportBotAuthorizationRequest)) == 1


async def test_a_new_bot_token_logs_in_as_the_new_bot(host: FakeHost) -> None:
    fake = tg.FakeTelegram()
    other_token = "7000000002:OTHER-token"
    ids = []
    for token in (tg.BOT_TOKEN, other_token):
        fake.bot_token = token
        config = tg.make_config(bot_token=Secret(value=token))
        channel = TelegramChannel(config, host, make=_installing(fake))
        async with trio.open_nursery() as nursery:
            await nursery.start(channel.run)
            ids.append(channel.link.me.id)
            nursery.cancel_scope.cancel()
    assert ids == [tg.BOT_ID, 7_000_000_002]
    logins = fake.sent(functions.auth.ImportBotAuthorizationRequest)
    assert [r.bot_auth_token for r in logins] == [tg.BOT_TOKEN, other_token]


def _installing(fake: tg.FakeTelegram) -> Callable[[Any, Any], Any]:
    return lambda session, config: fake.install(make_client(session, config))
