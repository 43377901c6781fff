"""The durable inbox: recorded before ACCEPTED, answered once, replayed after a restart."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from nanobot_core import (
    AccessPolicy,
    Attachment,
    AttachmentKind,
    ChatReply,
    ChatRequest,
    Inbound,
    Outbound,
)
from nanobot_core.inbox import KEEP_DONE, SqliteInbox
from nanobot_core.runtime import RESTARTED, RESTARTED_FILES
from nanobot_core.sessions import FILE_NAME, SessionStore
from nanobot_core.testing import Harness, RecordingChannel, objects_plugin
from nanobot_core.turn import INTERRUPTED


@attrs.define(eq=False)
class HoldModel:
    """Answers ``re: TEXT``; a text in ``hold`` blocks until the turn is cancelled."""

    hold: set[str] = attrs.field(factory=set)
    calls: list[str] = attrs.field(factory=list)
    holding: trio.Event = attrs.field(factory=trio.Event)

    async def complete(self, request: ChatRequest) -> ChatReply:
        text = request.messages[-1].text
        self.calls.append(text)
        if text in self.hold:
            self.holding.set()
            await trio.sleep_forever()
        return ChatReply(text=f"re: {text}")


def setup(model: HoldModel, **runtime: Any) -> tuple[dict[str, Any], list[object]]:
    config = {"agent": {"model": "hold/m"}, "runtime": runtime, "limits": {"turn": "1000/minute"}}
    return config, [objects_plugin(chat_models=[("hold", model)])]


def rows(storage: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(storage / FILE_NAME) as db:
        return db.execute(sql).fetchall()


def history(storage: Path) -> list[str]:
    return [text for (text,) in rows(storage, "SELECT text FROM messages ORDER BY id")]


async def test_a_message_is_recorded_before_submit_returns(storage: Path) -> None:
    model = HoldModel(hold={"slow"})
    config, plugins = setup(model)
    async with Harness.start(config, plugins=plugins, storage=storage) as bot:
        assert await bot.submit("slow", message_id="7") == "accepted"
        # another process reads the file: the entry is there, committed
        assert rows(storage, "SELECT message_id, text, state FROM inbox") == [
            ("7", "slow", "accepted")
        ]


async def test_a_second_delivery_of_one_message_is_answered_once(storage: Path) -> None:
    model = HoldModel()
    config, plugins = setup(model)
    async with Harness.start(config, plugins=plugins, storage=storage) as bot:
        assert (await bot.say("hello", message_id="41")).text == "re: hello"
        assert await bot.submit("hello", message_id="41") == "accepted"
        assert (await bot.say("next", message_id="42")).text == "re: next"
    assert [o.text for o in bot.channel.sent] == ["re: hello", "re: next"]
    assert model.calls == ["hello", "next"]
    assert rows(storage, "SELECT message_id, state FROM inbox ORDER BY id") == [
        ("41", "done"),
        ("42", "done"),
    ]


async def test_the_same_message_id_in_two_chats_is_two_messages(storage: Path) -> None:
    """Telegram numbers messages per chat: id 5 in one chat is not id 5 in another."""
    model = HoldModel()
    config, plugins = setup(model)
    with trio.fail_after(10):  # a message taken for a duplicate is never answered
        async with Harness.start(config, plugins=plugins, storage=storage) as bot:
            assert (await bot.say("from c", chat_id="c", message_id="5")).text == "re: from c"
            assert (await bot.say("from d", chat_id="d", message_id="5")).text == "re: from d"
    assert model.calls == ["from c", "from d"]


async def test_queued_messages_are_run_again_after_a_restart_in_their_order(
    storage: Path,
) -> None:
    model = HoldModel(hold={"first"})
    config, plugins = setup(model)
    async with Harness.start(config, plugins=plugins, storage=storage) as bot:
        for i, text in enumerate(["first", "second", "third"]):
            await bot.submit(text, chat_id="c", message_id=str(i))
        await model.holding.wait()
        await bot.submit("other chat", chat_id="d", message_id="9")
        await bot.channel.wait_for(1)
    # "first" was cut short by the shutdown and said so; the queued ones were never run
    assert [o.text for o in bot.channel.sent] == ["re: other chat", INTERRUPTED]
    model.hold.clear()
    async with Harness.start(config, plugins=plugins, storage=storage) as bot:
        replies = await bot.channel.wait_for(2)
    assert [(o.chat_id, o.text, o.reply_to) for o in replies] == [
        ("c", "re: second", "1"),
        ("c", "re: third", "2"),
    ]
    assert model.calls == ["first", "other chat", "second", "third"]
    assert rows(storage, "SELECT count(*) FROM inbox WHERE state != 'done'") == [(0,)]


async def test_messages_older_than_the_replay_window_are_asked_for_again(
    storage: Path,
) -> None:
    model = HoldModel(hold={"first"})
    config, plugins = setup(model, replay_window=60)
    async with Harness.start(config, plugins=plugins, storage=storage) as bot:
        await bot.submit("first", message_id="1")
        await bot.submit("stale", message_id="2")
        await bot.submit("fresh", message_id="3")
        await model.holding.wait()
    with sqlite3.connect(storage / FILE_NAME) as db:  # "stale" waited 61 s while down
        db.execute("UPDATE inbox SET accepted = accepted - 61 WHERE message_id = '2'")
    async with Harness.start(config, plugins=plugins, storage=storage) as bot:
        replies = await bot.channel.wait_for(2)
    assert [(o.text, o.status, o.reply_to) for o in replies] == [
        (RESTARTED, "failed", "2"),
        ("re: fresh", "ok", "3"),
    ]
    assert "stale" not in model.calls


@attrs.define(eq=False)
@attrs.define(eq=False)
class BrokenChannel(RecordingChannel):
    """A channel whose every send fails (the platform is down)."""

    tried: trio.Event = attrs.field(factory=trio.Event)

    async def send(self, outbound: Outbound) -> None:
        self.tried.set()
        raise ConnectionError("platform down")


async def test_an_answer_stored_but_not_sent_is_sent_after_a_restart_not_run_again(
    storage: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = HoldModel()
    config, plugins = setup(model)
    broken = BrokenChannel()
    async with Harness.start(
        config, plugins=plugins, storage=storage, channels={"test2": broken}
    ) as bot:
        inbound = Inbound(channel="test2", chat_id="c", user_id="u", text="hi", message_id="5")
        await bot.runtime.submit(inbound)
        await broken.tried.wait()  # stored, then the send failed
    assert "channel test2 could not send a reply" in caplog.text
    assert rows(storage, "SELECT state, reply FROM inbox WHERE message_id = '5'") == [
        ("answered", "re: hi")
    ]
    model.calls.clear()
    fixed = RecordingChannel()
    async with Harness.start(
        config, plugins=plugins, storage=storage, channels={"test2": fixed}
    ) as bot:
        (reply,) = await fixed.wait_for(1)
    assert (reply.chat_id, reply.text, reply.reply_to) == ("c", "re: hi", "5")
    assert model.calls == []  # sent again from the store, not asked again
    assert history(storage).count("hi") == 1
    assert rows(storage, "SELECT state FROM inbox WHERE message_id = '5'") == [("done",)]


async def test_a_replayed_message_with_files_asks_for_them_again(
    storage: Path, tmp_path: Path
) -> None:
    model = HoldModel(hold={"first"})
    config, plugins = setup(model)
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"not really")
    async with Harness.start(config, plugins=plugins, storage=storage) as bot:
        await bot.submit("first", message_id="1")
        await model.holding.wait()
        inbound = Inbound(
            channel="test", chat_id="chat", user_id="u", text="look", message_id="2",
            attachments=(Attachment.from_path(photo, AttachmentKind.IMAGE),),
        )  # fmt: skip
        await bot.runtime.submit(inbound)
    async with Harness.start(config, plugins=plugins, storage=storage) as bot:
        (reply,) = await bot.channel.wait_for(1)
    assert (reply.text, reply.reply_to) == (RESTARTED_FILES, "2")


async def test_messages_without_an_id_are_not_recorded(storage: Path) -> None:
    model = HoldModel(hold={"first"})
    config, plugins = setup(model)
    async with Harness.start(config, plugins=plugins, storage=storage) as bot:
        await bot.submit("first")
        await bot.submit("queued")
        await model.holding.wait()
        assert rows(storage, "SELECT count(*) FROM inbox") == [(0,)]
    async with Harness.start(config, plugins=plugins, storage=storage) as bot:
        await bot.say("after")
    assert [o.text for o in bot.channel.sent] == ["re: after"]


async def test_a_sender_no_longer_allowed_is_not_answered_after_a_restart(
    storage: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = HoldModel(hold={"first"})
    config, plugins = setup(model)
    async with Harness.start(config, plugins=plugins, storage=storage) as bot:
        await bot.submit("first", message_id="1")
        await bot.submit("queued", message_id="2", user_id="mallory")
        await model.holding.wait()
    caplog.set_level(logging.WARNING)
    async with Harness.start(
        config, plugins=plugins, storage=storage, access=AccessPolicy(allow_from=["user"])
    ) as bot:
        await bot.say("after", message_id="3")
    assert [o.text for o in bot.channel.sent] == ["re: after"]
    assert "1 message(s) left unanswered by the last run: 0 to answer now" in caplog.text
    assert rows(storage, "SELECT count(*) FROM inbox WHERE state != 'done'") == [(0,)]


async def test_a_turn_that_cannot_be_stored_says_so_in_its_reply(
    storage: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = HoldModel()
    config, plugins = setup(model)
    async with Harness.start(config, plugins=plugins, storage=storage) as bot:
        with sqlite3.connect(storage / FILE_NAME) as db:  # SQLite's own refusal, as on a full disk
            db.execute(
                "CREATE TRIGGER full BEFORE INSERT ON messages"
                " BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END"
            )
        reply = await bot.say("remember this", message_id="1")
    assert (
        reply.text
        == "re: remember this\n\n(This answer could not be saved: database or disk is full.)"
    )
    assert reply.status == "failed"
    [record] = [r for r in caplog.records if "could not store" in r.getMessage()]
    assert record.getMessage() == (
        "could not store the turn of test:chat: database or disk is full"
    )
    assert record.exc_info is None
    assert history(storage) == []


async def test_done_entries_are_forgotten_after_a_week(tmp_path: Path) -> None:
    async with await SessionStore.open(tmp_path) as store:
        inbox = await SqliteInbox.open(store)
        for message_id in ("old", "new"):
            ticket = await inbox.accept(Inbound("c", "1", "u", "x", message_id=message_id))
            assert ticket is not None
            await inbox.delivered(ticket)
        assert await inbox.accept(Inbound("c", "1", "u", "x", message_id="old")) is None
        await store.write(
            lambda db: db.execute("UPDATE inbox SET accepted = 0 WHERE message_id = 'old'")
        )
        await SqliteInbox.open(store, now=KEEP_DONE + 1)
        assert await inbox.accept(Inbound("c", "1", "u", "x", message_id="new")) is None
        assert await inbox.accept(Inbound("c", "1", "u", "x", message_id="old")) is not None
