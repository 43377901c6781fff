"""nanobot-tts-openai: voice replies from OpenAI's speech API, streamed to disk through trio."""

__version__ = "0.1.0"
