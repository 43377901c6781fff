"""Splitting long text into pieces the speech API accepts, at natural boundaries.

The API takes at most 4,096 characters per request. Longer text is cut at
paragraph breaks first, then between sentences, then between words, and the
pieces are packed greedily so each segment is as long as the limit allows.
Words are never cut and no word is lost: only the whitespace between pieces
may change. Two exceptions, both for runs without whitespace: text in scripts
written without spaces is also cut after its sentence marks (U+3002 and the
full-width ! ? ;), and a single "word" longer than the limit (a huge URL, a
CJK sentence over the limit) is cut into limit-sized pieces, since it cannot
be sent whole.
"""

from __future__ import annotations

import re

API_LIMIT = 4096
"""Characters per request accepted by the OpenAI speech endpoint."""

_PARAGRAPHS = re.compile(r"\n[ \t]*\n\s*")
_SENTENCES = re.compile(r"(?<=[.!?…;:\u3002\uff01\uff1f\uff1b])\s+")
# Scripts written without spaces (Chinese, Japanese) end sentences with no space after.
_UNSPACED_SENTENCES = re.compile(r"(?<=[\u3002\uff01\uff1f\uff1b])(?=\S)")
_WORDS = re.compile(r"\s+")

# (how to split, what to put back between pieces packed into one segment)
_LEVELS: tuple[tuple[re.Pattern[str], str], ...] = (
    (_PARAGRAPHS, "\n\n"),
    (_SENTENCES, " "),
    (_UNSPACED_SENTENCES, ""),
    (_WORDS, " "),
)


def split_text(text: str, limit: int = API_LIMIT) -> list[str]:
    """Segments of at most ``limit`` characters that, in order, hold every word of ``text``.

    Returns ``[]`` for text that is empty or only whitespace.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    text = text.strip()
    return _split(text, limit, 0) if text else []


def _split(text: str, limit: int, level: int) -> list[str]:
    if len(text) <= limit:
        return [text]
    if level == len(_LEVELS):
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    pattern, joiner = _LEVELS[level]
    segments: list[str] = []
    current = ""
    for piece in map(str.strip, pattern.split(text)):
        if not piece:
            continue
        if len(piece) > limit:
            segments += [current] if current else []
            segments += _split(piece, limit, level + 1)
            current = ""
        elif not current:
            current = piece
        elif len(current) + len(joiner) + len(piece) <= limit:
            current += joiner + piece
        else:
            segments.append(current)
            current = piece
    return [*segments, current] if current else segments
