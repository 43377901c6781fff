"""Secrets in the config: given inline, by environment variable or by file; never shown."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 16 * 1024
"""A secret file holds a token or a key; anything larger is the wrong file (or /dev/zero)."""


class Secret:
    """A credential. ``str()`` and ``repr()`` show only where it came from.

    Call ``reveal()`` at the one place the value is handed to a client. Not an
    attrs class on purpose: ``attrs.asdict`` and friends treat it as opaque.
    """

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "inline") -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return f"<secret from {self.source}>"

    def __repr__(self) -> str:
        return f"Secret(source={self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    @classmethod
    def from_env(cls, name: str, env: Mapping[str, str]) -> Secret | None:
        value = env.get(name)
        return cls(value=value, source=f"env {name}") if value else None


def structure_secret(
    raw: Any, env: Mapping[str, str], *, resolve: Callable[[str], Path] = Path
) -> Secret:
    """A secret from a string, ``{ env = "NAME" }`` or ``{ file = "PATH" }``.

    ``resolve`` turns ``PATH`` into a path (the config makes a relative one relative
    to the config file's folder). Raises ``ValueError`` with a message that never
    contains the value.
    """
    if isinstance(raw, str):
        if not raw:
            raise ValueError("the secret is empty")
        return Secret(value=raw, source="config")
    if isinstance(raw, Mapping) and set(raw) == {"env"} and isinstance(raw["env"], str):
        name = raw["env"]
        value = env.get(name)
        if not value:
            raise ValueError(f"environment variable {name} is not set")
        return Secret(value=value, source=f"env {name}")
    if isinstance(raw, Mapping) and set(raw) == {"file"} and isinstance(raw["file"], str):
        path = resolve(raw["file"]).expanduser()
        value = read_secret_file(path).rstrip("\r\n")
        if not value:
            raise ValueError(f"secret file {path} is empty")
        return Secret(value=value, source=f"file {path}")
    raise ValueError('a secret is a string, { env = "NAME" } or { file = "PATH" }')


def read_secret_file(path: Path) -> str:
    """The text of a regular file of at most ``MAX_FILE_BYTES``; never waits on a FIFO."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise ValueError(f"cannot read secret file {path}: {error.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"secret file {path} is not a regular file")
        data = b""
        while chunk := os.read(fd, MAX_FILE_BYTES + 1 - len(data)):
            data += chunk
    except OSError as error:
        raise ValueError(f"cannot read secret file {path}: {error.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"secret file {path} is larger than {MAX_FILE_BYTES // 1024} KB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"secret file {path} is not UTF-8 text") from None
