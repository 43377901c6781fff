"""Telegram channel: cost of turning a long Markdown reply into sendable messages.

Ours (render + entity-preserving split + strip) side by side with telethon's
own ``markdown.parse`` + ``utils.split_text`` on the same text, medians of
several runs, and the ratio.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from nanobot_channel_telegram import formatting
from telethon import utils
from telethon.extensions import markdown

RUNS = 7


def _reply(paragraphs: int) -> str:
    block = (
        "## Step\nSome **bold** words, some `code`, a [link](https://example.org) and "
        "plain text that goes on for a while 😀.\n\n"
        "```python\nfor i in range(10):\n    print(i)\n```\n\n"
    )
    return block * paragraphs


def _median_ms(fn: Callable[[], object]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _ours(text: str) -> object:
    return formatting.messages(text)


def _telethon(text: str) -> object:
    parsed, entities = markdown.parse(text)
    return list(utils.split_text(parsed, entities))


def main() -> None:
    print("channel_telegram: Markdown reply -> Telegram messages (median of 7, ms)")
    print(f"{'chars':>8} {'ours':>9} {'telethon':>9} {'ratio':>7} {'messages':>9}")
    for paragraphs in (10, 100, 400):
        text = _reply(paragraphs)
        ours = _median_ms(lambda t=text: _ours(t))
        theirs = _median_ms(lambda t=text: _telethon(t))
        count = len(formatting.messages(text))
        print(f"{len(text):>8} {ours:>9.2f} {theirs:>9.2f} {ours / theirs:>7.2f} {count:>9}")


if __name__ == "__main__":
    main()
