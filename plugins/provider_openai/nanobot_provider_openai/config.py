"""``[providers.openai]``: one table for the chat model and the transcriber."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs
from attrs import field, frozen

from nanobot_core import Secret
from nanobot_core.config import FieldError
from nanobot_core.validators import http_url, not_negative, positive

from .client import ENV_KEY, Endpoint, describe_server, resolve_key

TABLE = "providers.openai"

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
"""16 MiB: a chat completion of 100,000 tokens is well under 1 MiB."""

REASONING_FIELDS = ("reasoning_details", "reasoning_content", "reasoning")
"""Assistant-message fields that ``echo_reasoning`` may name."""


# FieldError tells the core which key failed: "providers.openai.timeout: must be ...".


def _temperature(instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not 0 <= value <= 2:
        raise FieldError(attribute.name, f"must be between 0 and 2, got {value}")


def _optional_positive(
    instance: object, attribute: attrs.Attribute[Any], value: int | None
) -> None:
    if value is not None and value < 1:
        raise FieldError(attribute.name, f"must be 1 or more, got {value}")


_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")


def check_headers(
    instance: object, attribute: attrs.Attribute[Any], value: Mapping[str, str] | None
) -> None:
    """Header names must be tokens and values printable ASCII strings (``nanobot check``).

    The value is never quoted: a header may carry a gateway's credentials.
    """
    for name, text in (value or {}).items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise FieldError(attribute.name, f"{name!r} is not a valid header name")
        if not isinstance(text, str):
            raise FieldError(f"{attribute.name}.{name}", "expected a string")
        if not _HEADER_VALUE.fullmatch(text):
            raise FieldError(attribute.name, f"the value of {name!r} must be printable ASCII")


def header_names(value: Mapping[str, str] | None) -> str:
    return "None" if value is None else repr({name: "…" for name in value})


def _one_length_limit(instance: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    _optional_positive(instance, attribute, value)
    if value is not None and instance.max_tokens is not None:
        raise FieldError(attribute.name, "set either max_tokens or max_completion_tokens, not both")


def _reasoning_fields(
    instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]
) -> None:
    for name in value:
        if name not in REASONING_FIELDS:
            allowed = ", ".join(map(repr, REASONING_FIELDS))
            raise FieldError(attribute.name, f"{name!r} is not one of {allowed}")


@frozen
class OpenAIConfig:
    """Settings of ``[providers.openai]``.

    ``api_key`` falls back to ``$OPENAI_API_KEY`` when the factory runs. A
    server that needs no key (Ollama, a local vLLM) takes any placeholder,
    conventionally ``api_key = "none"``. ``[speech.openai]`` inherits
    ``api_key``, ``base_url``, ``extra_headers`` and ``timeout`` from here.
    """

    api_key: Secret | None = None
    base_url: str = field(default="https://api.openai.com/v1", validator=http_url)
    timeout: float = field(
        default=60.0, validator=positive, metadata={"help": "seconds for each whole request"}
    )
    max_retries: int = field(default=2, validator=not_negative)
    temperature: float | None = field(default=None, validator=_temperature)
    max_tokens: int | None = field(
        default=None, validator=_optional_positive, metadata={"help": "Ollama, vLLM, Groq..."}
    )
    max_completion_tokens: int | None = field(
        default=None,
        validator=_one_length_limit,
        metadata={"example": "4096", "help": "OpenAI (its reasoning models need this one)"},
    )
    max_response_bytes: int = field(
        default=MAX_RESPONSE_BYTES,
        validator=positive,
        metadata={"help": "a larger chat or transcription response is abandoned"},
    )
    echo_reasoning: tuple[str, ...] = field(
        default=("reasoning_details",),
        validator=_reasoning_fields,
        metadata={"help": "assistant fields sent back within a turn"},
    )
    extra_headers: Mapping[str, str] = field(
        factory=dict, validator=check_headers, repr=header_names
    )
    transcription_model: str = "whisper-1"
    transcription_language: str | None = None

    @property
    def server(self) -> str:
        """``host[:port]`` of ``base_url``, for messages (no credentials, no path)."""
        return describe_server(self.base_url)

    def endpoint(self, key: Secret) -> Endpoint:
        return Endpoint(
            base_url=self.base_url,
            key=key,
            timeout=self.timeout,
            max_retries=self.max_retries,
            max_bytes=self.max_response_bytes,
            limit_setting=f"{TABLE}.max_response_bytes",
            headers=dict(self.extra_headers),
        )

    def key(self, env: Mapping[str, str] | None = None) -> Secret:
        """The configured key, else ``$OPENAI_API_KEY``; ``ConfigError`` when neither is set."""
        return resolve_key(self.api_key, TABLE, env)


__all__ = ["ENV_KEY", "REASONING_FIELDS", "TABLE", "OpenAIConfig"]
