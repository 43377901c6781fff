"""The Telegram channel inside the real runtime: a message in, the runtime's reply out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
from nanobot_channel_telegram import testing as tg
from nanobot_channel_telegram.channel import REFUSAL, TelegramChannel
from nanobot_channel_telegram.client import make_client
from telethon import functions

from nanobot_core.testing import Harness


async def test_messages_go_through_the_runtime_and_replies_come_back(tmp_path: Path) -> None:
    fake = tg.FakeTelegram()

    def channel(host: Any) -> TelegramChannel:
        return TelegramChannel(
            tg.make_config(),
            host,
            make=lambda session, config: fake.install(make_client(session, config)),
        )

    async with Harness.start({}, storage=tmp_path, channels={"telegram": channel}) as bot:
        telegram = bot.channels["telegram"]
        assert isinstance(telegram, TelegramChannel)
        # Running only needs the channel and the fake server; the host is the runtime
        running = tg.Running(telegram, fake, host=None)  # type: ignore[arg-type]
        for sender, text, message_id in (
            (tg.ALICE, "hello runtime", 7),
            (999, "let me in", 8),
            (tg.ALICE, "/reset", 9),
        ):
            before = len(running.texts())
            await running.receive(tg.message(sender, text, message_id=message_id))
            with trio.fail_after(10):
                # replies come back through telethon's asyncio side: no trio event to wait on
                while len(running.texts()) == before:  # noqa: ASYNC110
                    await trio.sleep(0.01)

    texts = running.texts()
    assert texts[0] == "echo: hello runtime"
    assert texts[1] == REFUSAL.format(user_id=999)
    assert texts[2].startswith("Conversation cleared")
    requests = fake.sent(functions.messages.SendMessageRequest)
    assert requests[0].reply_to.reply_to_msg_id == 7


async def test_after_a_restart_missed_messages_are_answered_each_once(tmp_path: Path) -> None:
    fake = tg.FakeTelegram()
    made: list[TelegramChannel] = []

    def channel(host: Any) -> TelegramChannel:
        made.append(
            TelegramChannel(
                tg.make_config(),
                host,
                make=lambda session, config: fake.install(make_client(session, config)),
            )
        )
        return made[-1]

    async def replies(count: int) -> list[str]:
        with trio.fail_after(10):
            while len(running.texts()) < count:  # noqa: ASYNC110
                await trio.sleep(0.01)
        return running.texts()

    first = tg.message(tg.ALICE, "answered before the restart", message_id=7)
    async with Harness.start({}, storage=tmp_path, channels={"telegram": channel}):
        running = tg.Running(made[-1], fake, host=None)  # type: ignore[arg-type]
        await running.receive(first)
        await replies(1)
    # Telegram delivers 7 again (the saved state is older than it) and 8, sent while down
    fake.miss(first, tg.message(tg.ALICE, "sent while down", message_id=8))
    async with Harness.start({}, storage=tmp_path, channels={"telegram": channel}):
        texts = await replies(2)
        await trio.sleep(0.5)  # room for a wrong second answer to 7
    assert (
        running.texts() == texts == ["echo: answered before the restart", "echo: sent while down"]
    )
