"""The model's Markdown as Telegram text and entities, split into sendable messages.

Telegram counts message length and entity offsets in UTF-16 code units; so
does everything here. ``render`` understands the Markdown models write
(fenced code with a language, inline code, bold, italic, strike, links,
headings); anything else stays as literal text, so a stray ``*`` never makes
a message unsendable. ``split`` cuts only where no entity is open when it can,
and when a single entity (a huge code block) is longer than a message, each
piece carries the entity again, so formatting is never left broken.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

from telethon import types  # type: ignore[import-untyped]
from telethon.helpers import add_surrogate, del_surrogate, strip_text  # type: ignore[import-untyped]

MESSAGE_LIMIT = 4096
MAX_ENTITIES = 100

Entity: TypeAlias = Any
"""A ``types.TypeMessageEntity``; telethon ships no type hints."""

_FENCE = re.compile(r"^```[ \t]*([\w+#.-]*)[ \t]*\n(.*?)(?:^```[ \t]*$|\Z)", re.M | re.S)
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_INLINE = re.compile(
    r"""
      `(?P<code>[^`\n]+)`
    | \[(?P<link_text>[^\]\n]+)\]\((?P<link_url>(?:https?|tg|mailto):[^)\s]+)\)
    | \*\*(?P<bold>(?!\s).+?(?<!\s))\*\*
    | (?<!\w)__(?P<bold2>(?!\s).+?(?<!\s))__(?!\w)
    | ~~(?P<strike>(?!\s).+?(?<!\s))~~
    | (?<![\w*])\*(?P<italic>[^\s*](?:[^*\n]*[^\s*])?)\*(?![\w*])
    | (?<![\w_])_(?P<italic2>[^\s_](?:[^_\n]*[^\s_])?)_(?![\w_])
    """,
    re.X,
)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.entities: list[Entity] = []

    def text(self, text: str) -> None:
        self.parts.append(text)
        self.length += utf16_len(text)

    def entity(self, entity: Entity) -> None:
        if entity.length > 0:
            self.entities.append(entity)


def render(markdown: str) -> tuple[str, list[Entity]]:
    """Markdown to ``(text, entities)``; the text keeps the source's line structure."""
    out = _Builder()
    position = 0
    for fence in _FENCE.finditer(markdown):
        _render_blocks(markdown[position : fence.start()], out)
        language, code = fence.group(1), fence.group(2).removesuffix("\n")
        start = out.length
        out.text(code)
        out.entity(
            types.MessageEntityPre(offset=start, length=out.length - start, language=language)
        )
        position = fence.end()
    _render_blocks(markdown[position:], out)
    out.entities.sort(key=lambda e: (e.offset, -e.length))
    return "".join(out.parts), out.entities


def _render_blocks(text: str, out: _Builder) -> None:
    position = 0
    for heading in _HEADING.finditer(text):
        _render_inline(text[position : heading.start()], out)
        start = out.length
        _render_inline(heading.group(1), out)
        out.entity(types.MessageEntityBold(offset=start, length=out.length - start))
        position = heading.end()
    _render_inline(text[position:], out)


def _render_inline(text: str, out: _Builder) -> None:
    position = 0
    for match in _INLINE.finditer(text):
        out.text(text[position : match.start()])
        position = match.end()
        start = out.length
        kind = match.lastgroup
        if kind == "code":
            out.text(match.group("code"))
            out.entity(types.MessageEntityCode(offset=start, length=out.length - start))
            continue
        if kind in ("link_text", "link_url"):
            _render_inline(match.group("link_text"), out)
            url = match.group("link_url")
            out.entity(types.MessageEntityTextUrl(offset=start, length=out.length - start, url=url))
            continue
        assert kind is not None
        _render_inline(match.group(kind), out)
        entity_type = {
            "bold": types.MessageEntityBold,
            "bold2": types.MessageEntityBold,
            "strike": types.MessageEntityStrike,
            "italic": types.MessageEntityItalic,
            "italic2": types.MessageEntityItalic,
        }[kind]
        out.entity(entity_type(offset=start, length=out.length - start))
    out.text(text[position:])


# --- splitting ------------------------------------------------------------------------


def split(
    text: str,
    entities: list[Entity],
    *,
    limit: int = MESSAGE_LIMIT,
    max_entities: int = MAX_ENTITIES,
) -> Iterator[tuple[str, list[Entity]]]:
    """Cut ``(text, entities)`` into pieces of at most ``limit`` UTF-16 units.

    The pieces' texts concatenate to ``text``. A cut lands, by preference, after
    a newline, after whitespace, then anywhere, always outside every entity
    when such a place exists, and never inside a surrogate pair.
    """
    surrogated = add_surrogate(text)
    total = len(surrogated)
    inside = _inside_entities(total, entities)
    start = 0
    while total - start > limit or _count_from(entities, start, total) > max_entities:
        end = min(start + limit, _entity_budget_end(entities, start, max_entities), total)
        cut = _best_cut(surrogated, inside, start, end)
        yield _piece(surrogated, entities, start, cut)
        start = cut
    yield _piece(surrogated, entities, start, total)


def _inside_entities(total: int, entities: list[Entity]) -> list[bool]:
    """``inside[p]``: cutting at ``p`` would split an entity."""
    depth = [0] * (total + 2)
    for e in entities:
        if e.length > 1:
            depth[e.offset + 1] += 1
            depth[e.offset + e.length] -= 1
    inside, running = [False] * (total + 1), 0
    for p in range(total + 1):
        running += depth[p]
        inside[p] = running > 0
    return inside


def _count_from(entities: list[Entity], start: int, end: int) -> int:
    return sum(1 for e in entities if e.offset + e.length > start and e.offset < end)


def _entity_budget_end(entities: list[Entity], start: int, max_entities: int) -> int:
    """The furthest cut that leaves at most ``max_entities`` entities in the piece."""
    later: list[int] = sorted(max(e.offset, start) for e in entities if e.offset + e.length > start)
    if len(later) <= max_entities:
        return 1 << 62
    return max(later[max_entities], start + 1)


def _splits_pair(text: str, p: int) -> bool:
    return p < len(text) and "\udc00" <= text[p] <= "\udfff"


def _best_cut(text: str, inside: list[bool], start: int, end: int) -> int:
    candidates = range(end, start, -1)
    tests: tuple[Callable[[int], bool], ...] = (
        lambda p: not inside[p] and text[p - 1] == "\n",
        lambda p: not inside[p] and text[p - 1].isspace(),
        lambda p: not inside[p],
        lambda p: text[p - 1] == "\n",
        lambda p: text[p - 1].isspace(),
        lambda p: True,
    )
    for test in tests:
        for p in candidates:
            if test(p) and not _splits_pair(text, p):
                return p
    return end  # unreachable in practice: a cut between two code units always exists


def _piece(text: str, entities: list[Entity], start: int, end: int) -> tuple[str, list[Entity]]:
    piece: list[Entity] = []
    for e in entities:
        lo, hi = max(e.offset, start), min(e.offset + e.length, end)
        if hi > lo:
            piece.append(_moved(e, lo - start, hi - lo))
    return del_surrogate(text[start:end]), piece


def _moved(entity: Entity, offset: int, length: int) -> Entity:
    fields = entity.to_dict()
    del fields["_"]
    fields.update(offset=offset, length=length)
    return type(entity)(**fields)


def stripped(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Trim surrounding whitespace (Telegram would) and shift the entities to match."""
    moved = [_moved(e, e.offset, e.length) for e in entities]
    return del_surrogate(strip_text(add_surrogate(text), moved)), moved


def messages(markdown: str) -> list[tuple[str, list[Entity]]]:
    """The Markdown reply as the messages to send, each trimmed and non-empty."""
    text, entities = render(markdown)
    out = []
    for piece_text, piece_entities in split(text, entities):
        piece = stripped(piece_text, piece_entities)
        if piece[0]:
            out.append(piece)
    return out
