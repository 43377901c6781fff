"""``[providers.openai]``: one table for the chat model and the transcriber."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs
from attrs import field, frozen

from nanobot_core import ConfigError, Secret
from nanobot_core.config import FieldError
from nanobot_core.validators import http_url, not_negative, positive

ENV_KEY = "OPENAI_API_KEY"
TABLE = "providers.openai"


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


def _headers(instance: object, attribute: attrs.Attribute[Any], value: Mapping[str, str]) -> None:
    # Caught here, by `nanobot check`, rather than as a failed connection on every turn.
    # The value is never quoted: a header may carry a gateway's credentials.
    for name, text in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise FieldError(attribute.name, f"{name!r} is not a valid header name")
        if not _HEADER_VALUE.fullmatch(text):
            raise FieldError(attribute.name, f"the value of {name!r} must be printable ASCII")


def _header_names(value: Mapping[str, str]) -> str:
    return repr({name: "…" for name in value})


@frozen
class OpenAIConfig:
    """Settings of ``[providers.openai]``.

    ``api_key`` falls back to ``$OPENAI_API_KEY`` when the factory runs. A
    server that needs no key (Ollama, a local vLLM) takes any placeholder,
    conventionally ``api_key = "none"``.
    """

    api_key: Secret | None = None
    base_url: str = field(default="https://api.openai.com/v1", validator=http_url)
    timeout: float = field(default=60.0, validator=positive)
    max_retries: int = field(default=2, validator=not_negative)
    temperature: float | None = field(default=None, validator=_temperature)
    max_tokens: int | None = field(default=None, validator=_optional_positive)
    extra_headers: Mapping[str, str] = field(factory=dict, validator=_headers, repr=_header_names)
    transcription_model: str = "whisper-1"
    transcription_language: str | None = None

    @property
    def server(self) -> str:
        """``host[:port]`` of ``base_url``, for messages (no credentials, no path)."""
        parts = urlsplit(self.base_url)
        host = parts.hostname or "?"
        return f"{host}:{parts.port}" if parts.port else host


def resolve_key(config: OpenAIConfig, env: Mapping[str, str] | None = None) -> Secret:
    """The configured key, else ``$OPENAI_API_KEY``; ``ConfigError`` naming both when neither."""
    if config.api_key is not None:
        return config.api_key
    found = Secret.from_env(ENV_KEY, os.environ if env is None else env)
    if found is None:
        raise ConfigError(f"{TABLE}.api_key: not set, and {ENV_KEY} is not in the environment")
    return found
