"""Secrets in the config: given inline, by environment variable or by file; never shown."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


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


def structure_secret(raw: Any, env: Mapping[str, str]) -> Secret:
    """A secret from a string, ``{ env = "NAME" }`` or ``{ file = "PATH" }``.

    Raises ``ValueError`` with a message that never contains the value.
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
        path = Path(raw["file"]).expanduser()
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise ValueError(f"cannot read secret file {path}: {error.strerror}") from None
        if not value:
            raise ValueError(f"secret file {path} is empty")
        return Secret(value=value, source=f"file {path}")
    raise ValueError('a secret is a string, { env = "NAME" } or { file = "PATH" }')
