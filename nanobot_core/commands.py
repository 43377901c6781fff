"""Chat commands every channel gets from the core: /reset, /voice, /help."""

from __future__ import annotations

from attrs import frozen

HELP = (
    "Commands:\n"
    "/reset: forget this conversation\n"
    "/voice on|off: answer with voice notes, or with text only\n"
    "/voice: show the current voice setting\n"
    "/help: this list"
)

VOICE_SETTING = "voice"


@frozen
class Command:
    name: str
    argument: str


def parse(text: str) -> Command | None:
    """A core command at the start of a message (``/voice on``, ``/reset@my_bot``), or None."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return None
    word, _, rest = stripped.partition(" ")
    name = word[1:].split("@", 1)[0].lower()
    if name not in ("reset", "voice", "help"):
        return None
    return Command(name=name, argument=rest.strip().lower())
