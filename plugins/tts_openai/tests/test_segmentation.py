from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nanobot_tts_openai.segmentation import API_LIMIT, split_text

WORD_CHARS = st.characters(
    categories=("L", "N", "P", "S"),
    # whitespace, and the sentence marks of unspaced scripts (which may end a "word")
    exclude_characters="\n\r\t\x0b\x0c\x1c\x1d\x1e\x1f\x85\u3002\uff01\uff1f\uff1b",
)
SEPARATORS = st.sampled_from([" ", "  ", "\n", "\n\n", "\n \n", "\t", "\n\n\n"])


@st.composite
def words(draw: st.DrawFn, max_size: int) -> str:
    """A run without whitespace, often ending a sentence, at most ``max_size`` long."""
    word = draw(st.text(WORD_CHARS, min_size=1, max_size=max_size))
    end = draw(st.sampled_from(["", "", ".", "!", "?", ";"]))
    return (word + end)[:max_size]


@st.composite
def texts(draw: st.DrawFn, max_word: int) -> str:
    words_ = draw(st.lists(words(max_word), max_size=60))
    seps = draw(st.lists(SEPARATORS, min_size=len(words_), max_size=len(words_)))
    return "".join(w + s for w, s in zip(words_, seps, strict=True))


@given(data=st.data(), limit=st.integers(min_value=1, max_value=120))
def test_segments_fit_and_keep_every_word_in_order(data: st.DataObject, limit: int) -> None:
    text = data.draw(texts(max_word=limit))
    segments = split_text(text, limit)
    assert all(0 < len(s) <= limit for s in segments)
    assert all(s == s.strip() for s in segments)
    assert [w for s in segments for w in s.split()] == text.split()


@given(data=st.data(), limit=st.integers(min_value=1, max_value=40))
def test_words_longer_than_the_limit_are_cut_but_nothing_is_lost(
    data: st.DataObject, limit: int
) -> None:
    text = data.draw(texts(max_word=3 * limit))
    segments = split_text(text, limit)
    assert all(0 < len(s) <= limit for s in segments)
    assert "".join("".join(segments).split()) == "".join(text.split())


def test_short_text_is_one_segment() -> None:
    assert split_text("  Hello there.\n\nBye.  ") == ["Hello there.\n\nBye."]


def test_nothing_to_split() -> None:
    assert split_text("") == []
    assert split_text(" \n\t ") == []


def test_paragraph_boundaries_come_first() -> None:
    first = "One sentence. " * 150  # 2,100 characters
    second = "Another sentence! " * 150
    segments = split_text(f"{first}\n\n{second}")
    assert segments == [first.strip(), second.strip()]
    assert len(f"{first}\n\n{second}") > API_LIMIT


def test_a_long_paragraph_is_cut_between_sentences() -> None:
    sentences = [f"Sentence number {i} is here." for i in range(40)]
    segments = split_text(" ".join(sentences), limit=100)
    assert all(len(s) <= 100 for s in segments)
    assert all(s.endswith(".") for s in segments)
    assert " ".join(segments) == " ".join(sentences)


def test_a_long_sentence_is_cut_between_words() -> None:
    words = [f"word{i}" for i in range(100)]
    segments = split_text(" ".join(words), limit=50)
    assert len(segments) > 1
    assert [w for s in segments for w in s.split()] == words


def test_segments_are_packed_greedily() -> None:
    segments = split_text("aa bb cc dd ee", limit=5)
    assert segments == ["aa bb", "cc dd", "ee"]


def test_a_word_longer_than_the_limit_is_the_only_hard_cut() -> None:
    url = "https://example.org/" + "x" * 30
    segments = split_text(f"see {url} now", limit=20)
    assert segments == ["see", url[:20], url[20:40], url[40:], "now"]


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        split_text("text", 0)


def test_unspaced_scripts_are_cut_after_their_sentence_marks() -> None:
    sentences = ["这是第一句话\u3002", "这是第二句话\uff01", "这是第三句话\uff1f"]
    segments = split_text("".join(sentences), limit=15)
    assert segments == [sentences[0] + sentences[1], sentences[2]]


@given(
    st.lists(st.text(st.sampled_from("天地人日月"), min_size=1, max_size=8), max_size=30),
    st.integers(min_value=9, max_value=40),
)
def test_unspaced_text_loses_nothing(sentences: list[str], limit: int) -> None:
    text = "".join(s + "。" for s in sentences)
    segments = split_text(text, limit)
    assert all(0 < len(s) <= limit for s in segments)
    assert "".join(segments) == text
    assert all(s.endswith("。") for s in segments)
