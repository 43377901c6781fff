"""attrs validators for plugin config classes whose errors name the failing key.

    from nanobot_core.validators import between, http_url, positive

    @attrs.frozen
    class MyConfig:
        timeout: float = attrs.field(default=60.0, validator=positive)
        speed: float = attrs.field(default=1.0, validator=between(0.25, 4.0))

An error reads ``speech.mine.speed: must be between 0.25 and 4.0, got 9.0``.
Optional fields (``None`` allowed) take ``attrs.validators.optional(positive)``.
Every validator refuses NaN and infinity, which pass ``<`` and ``>`` tests by
accident (``nan <= 0`` is false) and break deadlines and counts later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import attrs

from .config import FieldError, _finite
from .config import _not_negative as not_negative
from .config import _positive as positive

Validator = Callable[[object, "attrs.Attribute[Any]", Any], None]


def between(low: float, high: float) -> Validator:
    """``low <= value <= high``."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
        _finite(attribute, value)
        if not low <= value <= high:
            raise FieldError(
                attribute.name, f"must be between {_plain(low)} and {_plain(high)}, got {value}"
            )

    return check


def _plain(number: float) -> str:
    """``20000000``, not ``2e+07``; ``0.25`` stays ``0.25``."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def http_url(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FieldError(attribute.name, f"must be an http:// or https:// URL, got {value!r}")


__all__ = ["FieldError", "between", "http_url", "not_negative", "positive"]
