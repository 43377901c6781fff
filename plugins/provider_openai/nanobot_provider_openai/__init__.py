"""nanobot chat model and transcriber for OpenAI and OpenAI-compatible servers.

Registered as chat model ``openai`` and transcriber ``openai``, configured by
``[providers.openai]``. The ``openai`` SDK is imported only when a client is
opened, so installing this plugin does not slow down ``nanobot --help``.
"""

from .chat import OpenAIChatModel
from .config import OpenAIConfig
from .transcription import OpenAITranscriber

__all__ = ["OpenAIChatModel", "OpenAIConfig", "OpenAITranscriber"]
