"""Logging set-up: stdlib logging to stderr, with every configured secret redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from .secrets import Secret

ENV_LEVEL = "NANOBOT_LOG_LEVEL"
REDACTED = "***"


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then replaces every known secret value, tracebacks included."""

    def __init__(self, fmt: str, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self.secrets: set[str] = {s for s in secrets if s}

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def setup(level: str) -> RedactingFormatter:
    """Configure the root logger once; returns the formatter to add secrets to later."""
    formatter = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    return formatter


def secrets_in(value: Any) -> Iterator[str]:
    """Every ``Secret`` value inside a config object (attrs classes, dicts, lists)."""
    if isinstance(value, Secret):
        yield value.reveal()
    elif attrs.has(type(value)):
        for a in attrs.fields(type(value)):
            yield from secrets_in(getattr(value, a.name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from secrets_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from secrets_in(item)
