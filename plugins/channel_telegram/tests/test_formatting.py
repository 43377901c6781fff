"""Markdown rendering and splitting: lengths in UTF-16 units, entities kept whole."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from nanobot_channel_telegram import formatting
from nanobot_channel_telegram.formatting import split, utf16_len
from telethon import types

ENTITY_TYPES = [types.MessageEntityBold, types.MessageEntityItalic, types.MessageEntityCode]
WORDS = st.text(alphabet=st.sampled_from("abc xyz.\n😀é"), min_size=1, max_size=60)


@st.composite
def formatted(draw: st.DrawFn, limit: int) -> tuple[str, list[types.TypeMessageEntity]]:
    """Text with non-overlapping entities, each no longer than ``limit``."""
    parts: list[str] = []
    entities = []
    offset = 0
    for _ in range(draw(st.integers(1, 40))):
        piece = draw(WORDS)
        if draw(st.booleans()):
            while utf16_len(piece) > limit:
                piece = piece[:-1]
            if piece:
                kind = draw(st.sampled_from(ENTITY_TYPES))
                entities.append(kind(offset=offset, length=utf16_len(piece)))
        parts.append(piece)
        offset += utf16_len(piece)
    return "".join(parts), entities


def _absolute(pieces: list[tuple[str, list[types.TypeMessageEntity]]]) -> list[tuple]:
    found, offset = [], 0
    for text, entities in pieces:
        found += [(type(e), e.offset + offset, e.length) for e in entities]
        offset += utf16_len(text)
    return found


@settings(max_examples=300, deadline=None)
@given(st.integers(20, 120).flatmap(lambda limit: st.tuples(st.just(limit), formatted(limit))))
def test_split_keeps_text_and_never_cuts_an_entity(case: tuple) -> None:
    limit, (text, entities) = case
    pieces = list(split(text, entities, limit=limit))
    assert all(utf16_len(piece) <= limit for piece, _ in pieces)
    assert "".join(piece for piece, _ in pieces) == text
    assert sorted(_absolute(pieces), key=repr) == sorted(
        ((type(e), e.offset, e.length) for e in entities), key=repr
    )
    for piece, piece_entities in pieces:
        assert all(
            e.offset >= 0 and e.offset + e.length <= utf16_len(piece) for e in piece_entities
        )


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=3000), st.integers(50, 400))
def test_an_entity_longer_than_a_message_is_carried_into_every_piece(code: str, limit: int) -> None:
    text, entities = formatting.render(f"before\n```\n{code.replace('`', '')}\n```\nafter")
    pieces = list(split(text, entities, limit=limit))
    assert "".join(piece for piece, _ in pieces) == text
    assert all(utf16_len(piece) <= limit for piece, _ in pieces)
    covered = sum(e.length for _, es in pieces for e in es if isinstance(e, types.MessageEntityPre))
    assert covered == sum(e.length for e in entities if isinstance(e, types.MessageEntityPre))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab *_`~#[]()\n:/😀"), max_size=300))
def test_any_markdown_renders_to_entities_inside_the_text(markdown: str) -> None:
    text, entities = formatting.render(markdown)
    assert all(e.length > 0 and e.offset + e.length <= utf16_len(text) for e in entities)


def test_full_size_reply_pieces_stay_under_4096() -> None:
    markdown = ("**Step** with `code` and text. " * 30 + "\n") * 40
    pieces = formatting.messages(markdown)
    assert len(pieces) > 1
    assert all(utf16_len(text) <= 4096 for text, _ in pieces)
    assert all(
        e.offset + e.length <= utf16_len(text) and e.offset >= 0 for text, es in pieces for e in es
    )


def test_render_handles_what_models_write() -> None:
    text, entities = formatting.render(
        "# Plan\n**Bold** and *it* and `x`, [docs](https://example.org)\n"
        "```python\nprint(1)\n```\n* a bullet stays"
    )
    assert text == "Plan\nBold and it and x, docs\nprint(1)\n* a bullet stays"
    assert [(type(e).__name__, e.offset, e.length) for e in entities] == [
        ("MessageEntityBold", 0, 4),
        ("MessageEntityBold", 5, 4),
        ("MessageEntityItalic", 14, 2),
        ("MessageEntityCode", 21, 1),
        ("MessageEntityTextUrl", 24, 4),
        ("MessageEntityPre", 29, 8),
    ]
