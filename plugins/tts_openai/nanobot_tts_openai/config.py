"""The ``[speech.openai]`` table."""

from __future__ import annotations

from typing import Any

import attrs
from attrs import field, frozen

from nanobot_core import Secret


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value}")


def _speed(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.25 <= value <= 4.0:
        raise ValueError(f"must be between 0.25 and 4.0, got {value}")


@frozen
class OpenAISpeechConfig:
    """Settings of the ``openai`` speech synthesizer.

    ``api_key`` left out means the ``OPENAI_API_KEY`` environment variable,
    read when the synthesizer is created. ``max_chars`` caps the spoken text
    (after Markdown is stripped): a longer reply is sent as text only.
    """

    model: str = "gpt-4o-mini-tts"
    voice: str = "alloy"
    speed: float = field(default=1.0, validator=_speed)
    instructions: str | None = None
    base_url: str = "https://api.openai.com/v1"
    api_key: Secret | None = None
    timeout: float = field(default=60.0, validator=_positive)
    max_retries: int = field(default=2, validator=attrs.validators.ge(0))
    max_chars: int = field(default=4000, validator=_positive)
