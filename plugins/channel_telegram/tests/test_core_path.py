"""A text message in, an Inbound out; a reply in, a SendMessageRequest out."""

from __future__ import annotations

from pathlib import Path

from nanobot_channel_telegram import testing as tg
from nanobot_channel_telegram.testing import ALICE, FakeHost, running
from telethon import functions, types

from nanobot_core import Outbound


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
    session = tmp_path / "telegram.session"
    assert session.read_text().startswith("1")
    assert session.stat().st_mode & 0o777 == 0o600
