"""Replies: splitting, formatting fallback, voice notes, chat actions, flood waits."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest
import trio
from nanobot_channel_telegram import testing as tg
from nanobot_channel_telegram.testing import ADMIN, ALICE, FakeHost, Running, make_config, running
from telethon import functions, types

from nanobot_core import Activity, AudioFile, Outbound

SendMessage = functions.messages.SendMessageRequest


async def _seen(bot: Running, *users: int) -> None:
    """Telegram only lets a bot write to users it has met: each says hello first."""
    for user_id in users:
        await bot.receive(tg.message(user_id, "hello"))


async def test_a_long_reply_is_split_under_the_limit(host: FakeHost) -> None:
    paragraph = "A sentence that goes on. " * 40 + "\n\n"
    text = paragraph * 12 + "```python\n" + "print('x')\n" * 30 + "```"
    async with running(host, make_config(send_interval=0)) as bot:
        await _seen(bot, ALICE)
        await bot.channel.send(Outbound("telegram", str(ALICE), text))
    sent = bot.fake.sent(SendMessage)
    assert len(sent) >= 3
    assert all(len(r.message.encode("utf-16-le")) // 2 <= 4096 for r in sent)
    (pre,) = [e for r in sent for e in r.entities or () if isinstance(e, types.MessageEntityPre)]
    assert pre.language == "python"
    assert "".join(r.message for r in sent).count("print('x')") == 30


async def test_rejected_formatting_falls_back_to_plain_text(
    host: FakeHost, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="nanobot.telegram")
    async with running(host) as bot:
        await _seen(bot, ALICE)
        bot.fake.fail(lambda r: isinstance(r, SendMessage) and bool(r.entities),
                      "ENTITY_BOUNDS_INVALID")  # fmt: skip
        await bot.channel.send(Outbound("telegram", str(ALICE), "Use `ls -l` **now**"))
    first, second = bot.fake.sent(SendMessage)
    assert first.entities and not second.entities
    assert first.message == second.message == "Use ls -l now"
    assert "formatting rejected (EntityBoundsInvalidError)" in caplog.text


async def test_voice_notes_carry_the_voice_attribute_and_duration(
    host: FakeHost, tmp_path: Path
) -> None:
    ogg = tmp_path / "reply.ogg"
    ogg.write_bytes(b"OggS" + bytes(4000))
    async with running(host) as bot:
        await _seen(bot, ALICE)
        audio = (AudioFile(ogg, duration=3.4), AudioFile(ogg, duration=61.6))
        reply = Outbound("telegram", str(ALICE), "Here you go", audio=audio)
        await bot.channel.send(reply)
    kinds = [type(r) for r in bot.fake.requests if isinstance(
        r, SendMessage | functions.messages.SendMediaRequest)]  # fmt: skip
    assert kinds == [SendMessage, functions.messages.SendMediaRequest,
                     functions.messages.SendMediaRequest]  # fmt: skip
    durations = []
    for request in bot.fake.sent(functions.messages.SendMediaRequest):
        media = request.media
        assert isinstance(media, types.InputMediaUploadedDocument)
        assert media.mime_type == "audio/ogg"
        (audio,) = [a for a in media.attributes if isinstance(a, types.DocumentAttributeAudio)]
        assert audio.voice is True
        durations.append(audio.duration)
    assert durations == [3, 62]


async def test_chat_action_stays_visible_while_a_slow_turn_runs(
    host: FakeHost, autojump_clock: trio.testing.MockClock
) -> None:
    def actions(bot: Running) -> list[str]:
        return [type(r.action).__name__ for r in bot.fake.sent(functions.messages.SetTypingRequest)]

    async with running(host) as bot:
        await _seen(bot, ALICE)
        await bot.channel.set_activity(str(ALICE), Activity.TYPING)
        await trio.sleep(13)  # the slow part of the turn
        assert actions(bot) == ["SendMessageTypingAction"] * 4  # at 0, 4, 8 and 12 s
        await bot.channel.set_activity(str(ALICE), Activity.RECORDING)
        await trio.sleep(5)
        await bot.channel.set_activity(str(ALICE), None)
        shown = len(actions(bot))
        await trio.sleep(30)
        assert len(actions(bot)) == shown
    assert actions(bot)[4:] == ["SendMessageRecordAudioAction"] * 2


async def test_a_flood_wait_delays_only_its_own_chat(
    host: FakeHost, autojump_clock: trio.testing.MockClock
) -> None:
    alice_peer = types.InputPeerUser(ALICE, ALICE * 7 + 1)
    async with running(host) as bot:
        await _seen(bot, ALICE, ADMIN)
        bot.fake.fail(lambda r: isinstance(r, SendMessage) and r.peer == alice_peer,
                      "FLOOD_WAIT_30", code=420)  # fmt: skip
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(bot.channel.send, Outbound("telegram", str(ALICE), "for alice"))
            await trio.sleep(1)
            nursery.start_soon(bot.channel.send, Outbound("telegram", str(ADMIN), "for admin"))
    answered = zip(bot.fake.requests, bot.fake.answered_at, strict=True)
    sends = [(r.message, t - start) for r, t in answered if isinstance(r, SendMessage)]
    assert [m for m, _ in sends] == ["for alice", "for admin", "for alice"]
    (_, refused_at), (_, admin_at), (_, alice_at) = sends
    assert admin_at < 30 <= alice_at - refused_at


async def test_a_flood_wait_beyond_the_cap_is_logged_for_the_operator(
    host: FakeHost, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(host, make_config(flood_wait_max=60)) as bot:
        await _seen(bot, ALICE)
        bot.fake.fail(lambda r: isinstance(r, SendMessage), "FLOOD_WAIT_3600", code=420)
        await bot.channel.send(Outbound("telegram", str(ALICE), "hello"))
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "wait 3600 s before sending to chat" in warning.getMessage()
    assert len(bot.fake.sent(SendMessage)) == 1


async def test_sends_to_one_chat_are_paced(
    host: FakeHost, autojump_clock: trio.testing.MockClock
) -> None:
    async with running(host, make_config(send_interval=1.0)) as bot:
        await _seen(bot, ALICE)
        for n in range(3):
            await bot.channel.send(Outbound("telegram", str(ALICE), f"message {n}"))
    times = [t for r, t in zip(bot.fake.requests, bot.fake.answered_at, strict=True)
             if isinstance(r, SendMessage)]  # fmt: skip
    assert [b - a >= 1.0 for a, b in itertools.pairwise(times)] == [True, True]


async def test_concurrent_sends_to_one_chat_are_paced_too(
    host: FakeHost, autojump_clock: trio.testing.MockClock
) -> None:
    async with running(host, make_config(send_interval=1.0)) as bot:
        await _seen(bot, ALICE)
        async with trio.open_nursery() as nursery:
            for n in range(3):
                nursery.start_soon(bot.channel.send, Outbound("telegram", str(ALICE), f"m{n}"))
    times = sorted(t for r, t in zip(bot.fake.requests, bot.fake.answered_at, strict=True)
                   if isinstance(r, SendMessage))  # fmt: skip
    assert [b - a >= 1.0 for a, b in itertools.pairwise(times)] == [True, True]
