"""The names the model sees: ``<server>_<tool>``, sanitised, unique, deterministic."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
VALID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _shorten(name: str, limit: int, seed: str) -> str:
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(seed.encode()).hexdigest()[:8]
    return f"{name[: limit - 9]}_{digest}"


def model_name(server: str, tool: str) -> str:
    """``server_tool`` with every character outside ``[A-Za-z0-9_-]`` made ``_``, ≤ 64 long.

    A longer name keeps its start and ends in a hash of the full name, so two
    long names that share a prefix still differ.
    """
    name = _UNSAFE.sub("_", f"{server}_{tool}")
    return _shorten(name, MAX_NAME, f"{server}\x00{tool}")


def assign(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Model name -> (server, tool) for every pair; clashes get ``_2``, ``_3``...

    Pairs are taken in sorted order, so the same set of tools always gets the
    same names whatever order the servers listed them in.
    """
    names: dict[str, tuple[str, str]] = {}
    for server, tool in sorted(set(pairs)):
        base = model_name(server, tool)
        name, n = base, 1
        while name in names:
            n += 1
            suffix = f"_{n}"
            name = base[: MAX_NAME - len(suffix)] + suffix
        names[name] = (server, tool)
    return names
