"""Entry point ``tts_openai``: registers the speech synthesizer ``openai``.

Kept light: the OpenAI SDK is imported only when the runtime enters the
synthesizer, so ``nanobot --help`` and ``nanobot check`` stay fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from nanobot_core import ConfigError, Secret, hookimpl
from nanobot_core.registry import Register

from .config import OpenAISpeechConfig
from .synthesizer import OpenAISpeech

API_KEY_ENV = "OPENAI_API_KEY"


def make_synthesizer(
    config: OpenAISpeechConfig, host: Any, *, env: Mapping[str, str] | None = None
) -> OpenAISpeech:
    """The synthesizer for ``[speech.openai]``; no network I/O happens here."""
    api_key = config.api_key or Secret.from_env(API_KEY_ENV, os.environ if env is None else env)
    if api_key is None:
        raise ConfigError(
            f"speech.openai.api_key: not set, and the environment variable {API_KEY_ENV} "
            'is empty (set api_key = { env = "NAME" } or export OPENAI_API_KEY)'
        )
    return OpenAISpeech(config, api_key)


@hookimpl
def register_speech_synthesizers(register: Register) -> None:
    register("openai", make_synthesizer, config=OpenAISpeechConfig)
