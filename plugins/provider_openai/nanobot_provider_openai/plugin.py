"""Registers chat model ``openai`` and transcriber ``openai`` (config ``[providers.openai]``)."""

from __future__ import annotations

from typing import Any

from nanobot_core import hookimpl
from nanobot_core.registry import Register

from .chat import OpenAIChatModel
from .config import OpenAIConfig
from .transcription import OpenAITranscriber


def make_chat_model(config: OpenAIConfig, host: Any) -> OpenAIChatModel:
    return OpenAIChatModel(config, config.key())


def make_transcriber(config: OpenAIConfig, host: Any) -> OpenAITranscriber:
    return OpenAITranscriber(config, config.key())


@hookimpl
def register_chat_models(register: Register) -> None:
    register("openai", make_chat_model, config=OpenAIConfig)


@hookimpl
def register_transcribers(register: Register) -> None:
    register("openai", make_transcriber, config=OpenAIConfig)
