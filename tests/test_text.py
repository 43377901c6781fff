"""Text from a server made safe: surrogates, terminal control sequences, nesting depth."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from nanobot_core.text import REPLACEMENT, for_terminal, json_depth, replace_surrogates

ANY_TEXT = st.text(st.characters(exclude_categories=()))  # surrogates and controls included


def test_lone_surrogates_are_replaced_and_pairs_joined() -> None:
    assert replace_surrogates("hi \ud800 there") == f"hi {REPLACEMENT} there"
    assert replace_surrogates("\udfff\ud800") == REPLACEMENT * 2
    assert replace_surrogates("\ud83d\ude00") == "😀"  # a pair left split by a decoder
    assert replace_surrogates(json.loads('"a\\ud800b"')) == f"a{REPLACEMENT}b"


@given(ANY_TEXT)
def test_any_text_becomes_encodable_and_ordinary_text_is_untouched(text: str) -> None:
    safe = replace_surrogates(text)
    safe.encode("utf-8")
    assert replace_surrogates(safe) == safe
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return
    assert safe is text


def test_terminal_sequences_are_removed() -> None:
    assert for_terminal("\x1b[2Jclear") == "clear"
    assert for_terminal("\x1b]0;title\x07x\x1b]2;t\x1b\\y") == "xy"
    assert for_terminal("\x1b[31mred\x1b[0m") == "red"
    assert for_terminal("\x9b2Jc1 \x9d0;t\x9cz") == "c1 z"
    assert for_terminal("a\r\nb\tc\x08\x00d") == "a\nb\tcd"
    assert for_terminal("grüße 😀 \ud800") == f"grüße 😀 {REPLACEMENT}"


@given(ANY_TEXT)
def test_nothing_a_terminal_acts_on_survives(text: str) -> None:
    safe = for_terminal(text)
    safe.encode("utf-8")
    controls = [c for c in safe if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    assert controls == []


def test_json_depth_without_recursion() -> None:
    assert json_depth(1, 64) == 0
    assert json_depth({"a": [1, {"b": []}]}, 64) == 4
    deep: object = 1
    for _ in range(100_000):  # far beyond the recursion limit
        deep = [deep]
    assert json_depth(deep, 64) == 65
