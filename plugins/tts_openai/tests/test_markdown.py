from __future__ import annotations

import pytest
from nanobot_tts_openai.markdown import CODE_OMITTED, to_speech


@pytest.mark.parametrize(
    ("markdown", "spoken"),
    [
        ("**bold** and __strong__", "bold and strong"),
        ("*italic* and _em_ and ***both***", "italic and em and both"),
        ("~~gone~~ here", "gone here"),
        ("keep snake_case_names and 2*3*4", "keep snake_case_names and 2*3*4"),
        ("# Title\n## Sub title ##\ntext", "Title\nSub title\ntext"),
        ("Title\n=====\nSub\n-----", "Title\n\nSub"),
        ("see [the docs](https://example.org/x) now", "see the docs now"),
        ("see [the docs][1]\n\n[1]: https://example.org", "see the docs"),
        ("![a cat](cat.png) sits", "a cat sits"),
        ("mail <mailto:me@example.org>", "mail mailto:me@example.org"),
        ("- one\n* two\n+ three", "one\ntwo\nthree"),
        ("- [x] done\n- [ ] todo\n1. [ ] first", "done\ntodo\n1. first"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("> quoted **text**\n> > nested", "quoted text\nnested"),
        ("run `pip install *x*` now", "run pip install *x* now"),
        ("``a ` b``", "a ` b"),
        ("above\n\n---\n\nbelow", "above\n\nbelow"),
        ("| a | b |\n|---|:--:|\n| 1 | 2 |", "a, b\n1, 2"),
        ("spaces   \n\n\n\nkept apart", "spaces\n\nkept apart"),
        ("Hello 👋 world", "Hello 👋 world"),
    ],
)
def test_formatting_is_not_read_aloud(markdown: str, spoken: str) -> None:
    assert to_speech(markdown) == spoken


def test_fenced_code_is_omitted() -> None:
    text = "Try this:\n\n```python\nprint('**hi**')\n# not a heading\n```\n\nThen run it."
    assert to_speech(text) == f"Try this:\n\n{CODE_OMITTED}\n\nThen run it."


def test_tilde_fences_and_longer_closing_fences() -> None:
    text = "a\n~~~\ncode\n```\nstill code\n~~~~\nb"
    assert to_speech(text) == f"a\n{CODE_OMITTED}\nb"


def test_an_unclosed_fence_hides_the_rest() -> None:
    assert to_speech("look:\n```\nx = 1\n\nmore") == f"look:\n{CODE_OMITTED}"


def test_only_code_leaves_only_the_placeholder() -> None:
    assert to_speech("```\nx = 1\n```") == CODE_OMITTED


def test_windows_line_endings() -> None:
    assert to_speech("# Hi\r\n\r\n**there**\r\n") == "Hi\n\nthere"


def test_empty() -> None:
    assert to_speech("") == ""
    assert to_speech("  \n\n ") == ""
