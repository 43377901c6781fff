"""Chat commands every channel gets from the core: /reset, /voice, /help.

Any message that starts with ``/word`` (Telegram's ``/word@bot_name`` too) is a
command: one the core does not know is answered with a hint, never sent to the
model. Text that merely starts with a slash (``/etc/hosts is gone``) is not.
"""

from __future__ import annotations

import re

from attrs import frozen

HELP = (
    "Commands:\n"
    "/reset: forget this conversation\n"
    "/voice on|off: answer with voice notes, or with text only\n"
    "/voice: show the current voice setting\n"
    "/help: this list\n"
    "/quit: leave (the terminal chat, nanobot chat)"
)
UNKNOWN = "unknown command; /help lists them"
VOICE_USAGE = "/voice takes on or off (or nothing, to show the setting), got {argument!r}"

VOICE_SETTING = "voice"
NAMES = ("reset", "voice", "help")

# "/name" or "/name@bot", then the end of the message or white space.
_COMMAND = re.compile(r"/(\w+)(?:@\w+)?(?=\s|$)(.*)", re.S)


@frozen
class Command:
    name: str
    argument: str


def parse(text: str) -> Command | None:
    """The command at the start of a message (``/voice on``, ``/reset@my_bot``), or None."""
    match = _COMMAND.fullmatch(text.strip())
    if match is None:
        return None
    return Command(name=match.group(1).lower(), argument=match.group(2).strip().lower())


def immediate_answer(command: Command) -> str | None:
    """The answer when no state is needed: /help, an unknown command, a bad argument."""
    if command.name == "help":
        return HELP
    if command.name not in NAMES:
        return UNKNOWN
    if command.name == "voice" and command.argument not in ("", "on", "off"):
        return VOICE_USAGE.format(argument=command.argument)
    return None
