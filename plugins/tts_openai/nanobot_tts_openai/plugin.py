"""Entry point ``tts_openai``: registers the speech synthesizer ``openai``.

Kept light: the OpenAI SDK is imported only when the runtime enters the
synthesizer, so ``nanobot --help`` and ``nanobot check`` stay fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from nanobot_provider_openai.config import OpenAIConfig

from nanobot_core import ConfigError, hookimpl
from nanobot_core.config import make_converter, structure
from nanobot_core.registry import Kind, Register

from .config import PROVIDER, OpenAISpeechConfig, inherit
from .synthesizer import OpenAISpeech


def make_synthesizer(
    config: OpenAISpeechConfig, host: Any, *, env: Mapping[str, str] | None = None
) -> OpenAISpeech:
    """The synthesizer for ``[speech.openai]``; no network I/O happens here."""
    env = os.environ if env is None else env
    provider, provider_keys = provider_table(host, env)
    resolved = inherit(config, provider, provider_keys, env)
    return OpenAISpeech(resolved.config, resolved.key, resolved.origins)


def provider_table(host: Any, env: Mapping[str, str]) -> tuple[OpenAIConfig | None, set[str]]:
    """``[providers.openai]`` as the core structured it, or structured here when no chat
    model or transcriber uses it; and the keys the table sets. ``(None, set())`` without it.
    """
    loaded = getattr(host, "config", None)
    raw = loaded.core.providers.get("openai") if loaded is not None else None
    if not isinstance(raw, Mapping) or raw.get("enabled", True) is False:
        return None, set()
    keys = {name for name in raw if name != "enabled"}
    for kind in (Kind.CHAT_MODEL, Kind.TRANSCRIBER):
        found = loaded.plugins.get((kind, "openai"))
        if isinstance(found, OpenAIConfig):
            return found, keys
    table = {name: raw[name] for name in keys}
    value, problems = structure(make_converter(env), table, OpenAIConfig, PROVIDER)
    if problems:
        raise ConfigError("\n".join(problems))
    return value, keys


@hookimpl
def register_speech_synthesizers(register: Register) -> None:
    register("openai", make_synthesizer, config=OpenAISpeechConfig)
