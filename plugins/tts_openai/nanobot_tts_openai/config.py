"""The ``[speech.openai]`` table, and what it inherits from ``[providers.openai]``."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import attrs
from attrs import field, frozen
from nanobot_provider_openai.client import resolve_key, same_origin
from nanobot_provider_openai.config import OpenAIConfig, check_headers, header_names

from nanobot_core import Secret
from nanobot_core.config import FieldError
from nanobot_core.validators import http_url, not_negative, positive

TABLE = "speech.openai"

MAX_AUDIO_BYTES = 64 * 1024 * 1024
"""64 MiB per request: 4,096 characters of speech as OGG/Opus are about 2 MB."""

NO_INSTRUCTIONS = frozenset({"tts-1", "tts-1-hd"})
"""Models that refuse ``instructions`` (only the gpt-4o-*-tts models take it)."""


def _speed(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.25 <= value <= 4.0:
        raise FieldError(attribute.name, f"must be between 0.25 and 4.0, got {value}")


def _instructions(instance: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and instance.model in NO_INSTRUCTIONS:
        raise FieldError(
            attribute.name,
            f"model {instance.model!r} does not take instructions (gpt-4o-mini-tts does): "
            "remove instructions or change model",
        )


def _optional_url(instance: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        http_url(instance, attribute, value)


def _optional_positive(
    instance: object, attribute: attrs.Attribute[Any], value: float | None
) -> None:
    if value is not None:
        positive(instance, attribute, value)


@frozen
class OpenAISpeechConfig:
    """Settings of the ``openai`` speech synthesizer.

    ``api_key``, ``base_url``, ``extra_headers`` and ``timeout`` left out are
    taken from ``[providers.openai]`` (``api_key`` and ``extra_headers`` only
    when both tables name the same server), then ``$OPENAI_API_KEY`` and the
    defaults; see ``inherit``. ``max_chars`` caps the spoken text (after
    Markdown is stripped): a longer reply is sent as text only.
    """

    model: str = field(default="gpt-4o-mini-tts", metadata={"help": "tts-1, tts-1-hd, ..."})
    voice: str = field(default="alloy", metadata={"help": "alloy, ash, coral, nova, ..."})
    speed: float = field(default=1.0, validator=_speed, metadata={"help": "0.25 to 4.0"})
    instructions: str | None = field(
        default=None,
        validator=_instructions,
        metadata={"example": '"Speak warmly."', "help": "tone of voice (not for tts-1, tts-1-hd)"},
    )
    base_url: str | None = field(
        default=None,
        validator=_optional_url,
        metadata={
            "example": '"https://api.openai.com/v1"',
            "help": "default: providers.openai's, else OpenAI",
        },
    )
    api_key: Secret | None = field(
        default=None,
        metadata={
            "example": '{ env = "OPENAI_API_KEY" }',
            "help": "default: providers.openai's, else $OPENAI_API_KEY",
        },
    )
    extra_headers: Mapping[str, str] | None = field(
        default=None,
        validator=check_headers,
        repr=header_names,
        metadata={"example": '{ "X-Title" = "nanobot" }', "help": "default: providers.openai's"},
    )
    timeout: float | None = field(
        default=None,
        validator=_optional_positive,
        metadata={"example": "60", "help": "seconds per request; default: providers.openai's"},
    )
    max_retries: int = field(
        default=2, validator=not_negative, metadata={"help": "retries before any audio"}
    )
    max_chars: int = field(
        default=4000, validator=positive, metadata={"help": "longer replies go out as text only"}
    )
    max_audio_bytes: int = field(
        default=MAX_AUDIO_BYTES,
        validator=positive,
        metadata={"help": "a longer audio stream is abandoned"},
    )


DEFAULTS = {"base_url": "https://api.openai.com/v1", "timeout": 60.0, "extra_headers": {}}
PROVIDER = "providers.openai"


@frozen
class Resolved:
    """``[speech.openai]`` with every inherited setting filled in, and where each came from."""

    config: OpenAISpeechConfig
    key: Secret = field(repr=False)
    origins: Mapping[str, str]
    """``"base_url"`` → ``"speech.openai"``, ``"providers.openai"`` or ``"default"``;
    ``"api_key"`` → those tables or ``"env OPENAI_API_KEY"``."""


def inherit(
    config: OpenAISpeechConfig,
    provider: OpenAIConfig | None = None,
    provider_keys: Collection[str] = (),
    env: Mapping[str, str] | None = None,
) -> Resolved:
    """Fill what ``[speech.openai]`` leaves out: from ``provider`` (``[providers.openai]``,
    whose table set ``provider_keys``), then ``$OPENAI_API_KEY`` and the defaults.

    The key and the extra headers of ``[providers.openai]`` go only to its own
    server: when ``[speech.openai] base_url`` names another origin they are not
    inherited. ``ConfigError`` when no key is found.
    """
    origins: dict[str, str] = {}
    values: dict[str, Any] = {}
    own_server = config.base_url is None or (
        provider is not None and same_origin(config.base_url, provider.base_url)
    )
    for name in ("base_url", "timeout", "extra_headers"):
        mine = getattr(config, name)
        if mine is not None:
            values[name], origins[name] = mine, TABLE
        elif provider is not None and (name == "timeout" or own_server) and name in provider_keys:
            values[name], origins[name] = getattr(provider, name), PROVIDER
        else:
            values[name], origins[name] = DEFAULTS[name], "default"
    if config.api_key is not None:
        key, origins["api_key"] = config.api_key, TABLE
    elif provider is not None and own_server and provider.api_key is not None:
        key, origins["api_key"] = provider.api_key, PROVIDER
    else:
        also = f"{PROVIDER}.api_key" if provider is not None else None
        key = resolve_key(None, TABLE, env, also=also)
        origins["api_key"] = key.source
    return Resolved(attrs.evolve(config, **values), key, origins)
