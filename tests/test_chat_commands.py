"""Chat commands: /help lists them all, unknown ones never reach the model, /voice explains."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from nanobot_core.builtins.console import QUIT, REPL_HINT, ConsoleChannel
from nanobot_core.commands import HELP, NAMES, UNKNOWN, Command, parse
from nanobot_core.testing import Harness, ScriptedChatModel, objects_plugin


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/reset", Command("reset", "")),
        ("/reset@my_bot", Command("reset", "")),  # Telegram's form in groups
        ("  /Voice ON ", Command("voice", "on")),
        ("/frobnicate now", Command("frobnicate", "now")),
        ("preset", None),
        ("reset /reset", None),
        ("/etc/hosts is missing", None),  # a path, not a command
        ("/ hello", None),
        ("", None),
    ],
)
def test_parse(text: str, expected: Command | None) -> None:
    assert parse(text) == expected


def test_help_lists_every_command_and_quit() -> None:
    for name in (*NAMES, QUIT[0].removeprefix("/")):
        assert f"\n/{name}" in f"\n{HELP}", name


def scripted() -> tuple[ScriptedChatModel, dict[str, object], list[object]]:
    model = ScriptedChatModel(["from the model"] * 5)
    plugin = objects_plugin(chat_models=[("scripted", model)])
    return model, {"agent": {"model": "scripted/m"}}, [plugin]


async def test_an_unknown_command_is_answered_not_sent_to_the_model(storage: Path) -> None:
    model, config, plugins = scripted()
    async with Harness.start(config, plugins=plugins, storage=storage) as bot:
        assert (await bot.say("/frobnicate")).text == UNKNOWN
        assert (await bot.say("/start@my_bot")).text == UNKNOWN
        assert model.requests == []
        assert (await bot.say("preset")).text == "from the model"
        assert (await bot.say("/etc/hosts is missing")).text == "from the model"
    assert [r.messages[-1].text for r in model.requests] == ["preset", "/etc/hosts is missing"]


async def test_help_and_telegram_style_reset(storage: Path) -> None:
    model, config, plugins = scripted()
    async with Harness.start(config, plugins=plugins, storage=storage) as bot:
        assert (await bot.say("/help@my_bot")).text == HELP
        await bot.say("remember me")
        assert (await bot.say("/reset@my_bot")).text.startswith("Conversation cleared")
        await bot.say("again")
    assert [m.text for m in model.requests[-1].messages if m.role != "system"] == ["again"]


async def test_voice_with_a_wrong_argument_says_what_it_accepts(storage: Path) -> None:
    async with Harness.start({}, storage=storage) as bot:
        reply = await bot.say("/voice maybe")
        assert reply.text == (
            "/voice takes on or off (or nothing, to show the setting), got 'maybe'"
        )
        # nothing was stored: the default still applies
        assert (await bot.say("/voice")).text.startswith("Voice replies: inbound (the default)")


def test_the_repl_answers_commands_in_the_console_channel(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "c"), "PATH": "/usr/bin:/bin"}
    env["XDG_DATA_HOME"] = str(tmp_path / "d")
    result = subprocess.run(
        [sys.executable, "-m", "nanobot_core", "chat"],
        input="/help\n/nope\nhello\n/quit\nnever\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [*HELP.splitlines(), UNKNOWN, "echo: hello"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stdin", [Terminal(""), io.StringIO("")])
async def test_the_repl_says_how_to_get_help_and_leave_on_a_terminal(stdin: io.StringIO) -> None:
    stderr = io.StringIO()
    channel = ConsoleChannel(host=None, stdin=stdin, stdout=io.StringIO(), stderr=stderr)  # type: ignore[arg-type]
    await channel.run()  # end of input at once
    expected = f"{REPL_HINT}\nyou> " if stdin.isatty() else ""
    assert stderr.getvalue() == expected
    assert "/help" in REPL_HINT and QUIT[0] in REPL_HINT


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/help", HELP),
        ("/nope", UNKNOWN),
        ("/voice maybe", "/voice takes on or off (or nothing, to show the setting), got 'maybe'"),
        ("/voice on", None),  # these need the chat's state: the turn answers them
        ("/voice off", None),
        ("/voice", None),
        ("/reset", None),
    ],
)
def test_what_is_answered_without_the_chat_state(text: str, answer: str | None) -> None:
    from nanobot_core.commands import immediate_answer

    command = parse(text)
    assert command is not None
    assert immediate_answer(command) == answer
