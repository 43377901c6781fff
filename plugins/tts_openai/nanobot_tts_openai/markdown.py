"""Markdown to speakable text: what a voice should say for a chat reply.

A reply written for a screen carries symbols nobody wants to hear: ``**``,
``#``, bullets, link targets, backticks, whole code blocks. ``to_speech``
keeps the words and drops the notation. It is a pragmatic line-based pass for
what chat models write, not a CommonMark parser.
"""

from __future__ import annotations

import re

CODE_OMITTED = "(code omitted)"
"""What a fenced code block becomes in the spoken text."""

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}#{1,6}(?:\s+|$)")
_HEADING_CLOSE = re.compile(r"\s+#+\s*$")
_SETEXT_OR_RULE = re.compile(r"^ {0,3}(?:=+|-+|(?:[-*_]\s*){3,})\s*$")
_QUOTE = re.compile(r"^ {0,3}(?:>\s?)+")
_BULLET = re.compile(r"^\s*[-*+]\s+(?:\[[ xX]\]\s+)?")
_ORDERED_TASK = re.compile(r"^(\s*\d+[.)]\s+)\[[ xX]\]\s+")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+.*$")
_TABLE_RULE = re.compile(r"^\s*\|?(?:\s*:?-+:?\s*\|)+(?:\s*:?-+:?\s*)?$")

_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\[[^\]]*\])")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_STRONG_EMPHASIS = re.compile(r"(\*\*\*|___)(?=\S)(.+?)(?<=\S)\1")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
# A single * or _ inside a word (2*3*4, snake_case) is not emphasis.
_STAR_EMPHASIS = re.compile(r"(?<!\w)\*(?=\S)(.+?)(?<=\S)\*(?!\w)")
_UNDERSCORE_EMPHASIS = re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_BLANK_RUNS = re.compile(r"\n{3,}")


def to_speech(markdown: str) -> str:
    """The words of ``markdown`` without its formatting; code blocks become ``CODE_OMITTED``.

    Emphasis, headings, quotes, bullets, rules and table pipes are dropped;
    a link or image becomes its text; inline code keeps its text without the
    backticks; an unclosed fence hides the rest of the text, as it does on screen.
    """
    lines: list[str] = []
    fence: str | None = None
    for line in markdown.replace("\r\n", "\n").split("\n"):
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            lines.append(CODE_OMITTED)
            continue
        if not (_TABLE_RULE.match(line) or _LINK_DEFINITION.match(line)):
            lines.append(_speak_line(line))
    text = _BLANK_RUNS.sub("\n\n", "\n".join(lines))
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def _speak_line(line: str) -> str:
    if _SETEXT_OR_RULE.match(line):
        return ""
    line = _QUOTE.sub("", line)
    if _HEADING.match(line):
        line = _HEADING_CLOSE.sub("", _HEADING.sub("", line))
    line = _BULLET.sub("", line)
    line = _ORDERED_TASK.sub(r"\1", line)
    line = _table_row(line)
    return _speak_inline(line)


def _table_row(line: str) -> str:
    stripped = line.strip()
    if stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1:
        cells = [cell.strip() for cell in stripped[1:-1].split("|")]
        return ", ".join(cell for cell in cells if cell)
    return line


def _speak_inline(line: str) -> str:
    """Inline formatting, leaving the text of code spans untouched."""
    pieces: list[str] = []
    position = 0
    for match in _INLINE_CODE.finditer(line):
        pieces.append(_strip_inline(line[position : match.start()]))
        pieces.append(match.group(2).strip())
        position = match.end()
    pieces.append(_strip_inline(line[position:]))
    return "".join(pieces)


def _strip_inline(text: str) -> str:
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _STRONG_EMPHASIS.sub(r"\2", text)
    text = _STRONG.sub(r"\2", text)
    text = _STAR_EMPHASIS.sub(r"\1", text)
    text = _UNDERSCORE_EMPHASIS.sub(r"\1", text)
    return _STRIKE.sub(r"\1", text)
