"""Text and JSON from a server made safe to store, send, print and parse.

A JSON string may hold a lone surrogate
(``"\\ud800"``), which every UTF-8 encoder refuses: a channel's send or the
session store would raise on it. And a reply may hold terminal control
sequences (``ESC[2J`` clears the screen, an OSC sequence sets the window
title): harmless on a chat platform, but not printed raw to a terminal. And a
JSON document may nest thousands of levels deep, which recursive code (a
schema validator, ``json.dumps``) cannot walk: ``json_depth`` measures it
without recursing.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"

# ESC-introduced sequences (CSI ... final byte, OSC/DCS/SOS/PM/APC ... terminator,
# two-byte escapes), their 8-bit C1 forms, then any other C0/C1 control character
# except tab and newline.
_CONTROL = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS...
    r"|\x1b[ -/]*[0-~]?"  # other escapes (ESC c, ESC 7, ESC ( B ...)
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def replace_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD; a valid pair becomes its character.

    Costs one failed-or-not ``encode`` for ordinary text.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Pairs left split by a JSON decoder ("\\ud83d\\ude00") are joined by the UTF-16 trip.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def for_terminal(text: str) -> str:
    """``text`` without terminal control sequences or control characters (tab, newline stay).

    A carriage return is dropped too: it could overwrite a line already printed.
    """
    return _CONTROL.sub("", replace_surrogates(text))


def json_depth(value: Any, limit: int) -> int:
    """How deeply lists and dicts nest in ``value`` (a scalar is 0), without recursion.

    Stops counting once past ``limit``: the result is then ``limit + 1``.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        level += 1
        if level > limit:
            return limit + 1
        deepest = max(deepest, level)
        stack.extend((child, level) for child in children)
    return deepest


__all__ = ["REPLACEMENT", "for_terminal", "json_depth", "replace_surrogates"]
