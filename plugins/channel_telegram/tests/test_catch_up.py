"""Catch-up: the update state kept with the session, and what arrived while the bot was down."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import trio
import trio.testing
from nanobot_channel_telegram import testing as tg
from nanobot_channel_telegram.channel import STALE, STATE_INTERVAL
from nanobot_channel_telegram.session import SessionStore, UpdateState
from nanobot_channel_telegram.testing import ALICE, FakeHost, running
from telethon import functions

NOW = datetime.datetime.now(datetime.UTC)


def saved_state(tmp_path: Path) -> dict[str, int]:
    data = json.loads((tmp_path / f"telegram-{tg.BOT_ID}.session").read_text())
    return {key: data["updates"][key] for key in ("pts", "qts", "seq")}


async def test_messages_sent_while_down_are_caught_up_on_start(
    host: FakeHost, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    fake = tg.FakeTelegram()
    async with running(host, fake=fake):
        await trio.sleep(3 * STATE_INTERVAL)  # the state is saved as it runs
    assert saved_state(tmp_path) == {"pts": 1, "qts": 0, "seq": 1}
    before = len(fake.sent(functions.updates.GetDifferenceRequest))

    fake.miss(
        tg.message(ALICE, "while you were away", message_id=500, date=NOW),
        tg.message(ALICE, "last week", message_id=501, date=NOW - datetime.timedelta(days=7)),
    )
    async with running(host, fake=fake) as bot:
        await trio.sleep(1)
        await bot.settle()
        await trio.sleep(3 * STATE_INTERVAL)
    asked = fake.sent(functions.updates.GetDifferenceRequest)[before]
    assert asked.pts == 1  # where the first run left off
    assert [(i.text, i.message_id) for i in host.inbounds] == [("while you were away", "500")]
    assert bot.texts() == [STALE]  # too old for the replay window: asked again
    assert saved_state(tmp_path)["pts"] == 3


async def test_a_state_file_from_0_1_or_damaged_starts_without_catching_up(
    host: FakeHost, tmp_path: Path
) -> None:
    path = tmp_path / "telegram.session"
    path.write_text("1AbCdEf")
    store = SessionStore(path)
    assert (await store.load(), store.update_state) == ("1AbCdEf", None)
    path.write_text('{"session": "1AbCdEf", "updates": {"pts": "x"}}')
    assert (await store.load(), store.update_state) == ("1AbCdEf", None)
    state = UpdateState(pts=5, qts=0, date=1_700_000_000, seq=2, channels={77: 9})
    await store.save("", state)
    again = SessionStore(path)
    assert (await again.load(), again.update_state) == ("1AbCdEf", state)
