"""Chat commands: what counts as /reset, /voice and /help, and what each does in a chat."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanobot_core.commands import Command, parse
from nanobot_core.sessions import SessionStore
from nanobot_core.testing import Harness, ScriptedChatModel, objects_plugin

# --- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/reset", Command("reset", "")),
        ("/help", Command("help", "")),
        ("/voice", Command("voice", "")),
        ("/voice on", Command("voice", "on")),
        ("/voice off", Command("voice", "off")),
        # group chats address a bot by name
        ("/reset@my_bot", Command("reset", "")),
        ("/voice@my_bot on", Command("voice", "on")),
        # case, spacing and what follows the argument
        ("/RESET", Command("reset", "")),
        ("/Voice ON", Command("voice", "on")),
        ("  /help  \n", Command("help", "")),
        ("/voice   off  ", Command("voice", "off")),
        ("/voice on please", Command("voice", "on please")),
    ],
)
def test_commands_at_the_start_of_a_message(text: str, command: Command) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    "text",
    [
        "preset",  # plain words that end like a command are plain text
        "reset",
        "voice on",
        "help me",
        "hello /reset",
        "",
        "   ",
        "/",
        "//reset",
        "@my_bot /reset",
        "/reset@",  # not a bot name
        "/reset@my_bot@x",
        "/etc/hosts is gone",  # a path, not a command
    ],
)
def test_anything_else_is_not_a_command(text: str) -> None:
    assert parse(text) is None


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("/start", "start"),
        ("/resetting", "resetting"),
        ("/reset_all", "reset_all"),
        ("/helpful tips", "helpful"),
    ],
)
def test_any_slash_word_is_a_command_even_one_the_core_does_not_know(text: str, name: str) -> None:
    command = parse(text)
    assert command is not None and command.name == name


# --- in a chat -------------------------------------------------------------------------


def scripted() -> tuple[ScriptedChatModel, object]:
    model = ScriptedChatModel()
    return model, objects_plugin(chat_models=[("scripted", model)])


CONFIG = {"agent": {"model": "scripted/m"}}


async def test_help_lists_every_command(storage: Path) -> None:
    model, plugin = scripted()
    async with Harness.start(CONFIG, plugins=[plugin], storage=storage) as bot:
        reply = await bot.say("/help")
    lines = reply.text.splitlines()
    assert lines[0] == "Commands:"
    for command in ("/reset", "/voice on|off", "/voice", "/help"):
        assert any(line.startswith(f"{command}: ") for line in lines[1:]), command
    assert model.requests == []  # a command never reaches the model


async def test_reset_addressed_to_the_bot_clears_the_conversation(storage: Path) -> None:
    model, plugin = scripted()
    async with Harness.start(CONFIG, plugins=[plugin], storage=storage) as bot:
        await bot.say("remember: banana")
        reply = await bot.say("/reset@my_bot")
        assert reply.text == "Conversation cleared. What shall we talk about?"
        await bot.say("what did I say?")
    assert [m.text for m in model.requests[-1].messages][1:] == ["what did I say?"]


async def test_a_word_ending_in_a_command_name_goes_to_the_model(storage: Path) -> None:
    model, plugin = scripted()
    async with Harness.start(CONFIG, plugins=[plugin], storage=storage) as bot:
        await bot.say("first")
        reply = await bot.say("preset")
    assert reply.text == "scripted: preset"
    assert [m.text for m in model.requests[-1].messages][1:] == [
        "first",
        "scripted: first",
        "preset",
    ]


async def test_an_unknown_command_gets_a_hint_not_a_model_turn(storage: Path) -> None:
    model, plugin = scripted()
    async with Harness.start(CONFIG, plugins=[plugin], storage=storage) as bot:
        reply = await bot.say("/resetting")
    assert reply.text == "unknown command; /help lists them"
    assert model.requests == []


async def test_a_stored_voice_setting_is_still_read_after_an_upgrade(storage: Path) -> None:
    # settings live in sessions.sqlite3 (docs/limits.md): a chat's /voice choice,
    # stored by an earlier version under the key "voice", must still count
    async with await SessionStore.open(storage) as store:
        await store.set_setting("test:chat", "voice", "off")
    _, plugin = scripted()
    async with Harness.start(CONFIG, plugins=[plugin], storage=storage) as bot:
        reply = await bot.say("/voice")
        assert reply.text == "Voice replies: off. Use /voice on or /voice off."
        await bot.say("/voice on")
    async with await SessionStore.open(storage) as store:
        assert await store.get_setting("test:chat", "voice") == "on"
