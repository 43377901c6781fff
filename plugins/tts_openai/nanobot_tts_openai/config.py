"""The ``[speech.openai]`` table."""

from __future__ import annotations

from typing import Any

import attrs
from attrs import field, frozen

from nanobot_core import Secret
from nanobot_core.config import FieldError
from nanobot_core.validators import http_url, not_negative, positive


def _speed(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.25 <= value <= 4.0:
        raise FieldError(attribute.name, f"must be between 0.25 and 4.0, got {value}")


@frozen
class OpenAISpeechConfig:
    """Settings of the ``openai`` speech synthesizer.

    ``api_key`` left out means the ``OPENAI_API_KEY`` environment variable,
    read when the synthesizer is created. ``max_chars`` caps the spoken text
    (after Markdown is stripped): a longer reply is sent as text only.
    """

    model: str = field(default="gpt-4o-mini-tts", metadata={"help": "tts-1, tts-1-hd, ..."})
    voice: str = field(default="alloy", metadata={"help": "alloy, ash, coral, nova, ..."})
    speed: float = field(default=1.0, validator=_speed, metadata={"help": "0.25 to 4.0"})
    instructions: str | None = field(
        default=None,
        metadata={"example": '"Speak warmly."', "help": "tone of voice (gpt-4o-mini-tts only)"},
    )
    base_url: str = field(default="https://api.openai.com/v1", validator=http_url)
    api_key: Secret | None = field(
        default=None,
        metadata={"example": '{ env = "OPENAI_API_KEY" }', "help": "default: $OPENAI_API_KEY"},
    )
    timeout: float = field(
        default=60.0, validator=positive, metadata={"help": "seconds to connect or between chunks"}
    )
    max_retries: int = field(
        default=2, validator=not_negative, metadata={"help": "retries before any audio"}
    )
    max_chars: int = field(
        default=4000, validator=positive, metadata={"help": "longer replies go out as text only"}
    )
