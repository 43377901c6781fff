"""Errors a user or operator can act on.

Every ``NanobotError`` carries a message that is shown as it is: one line, no
traceback, no secret. Anything else that escapes a plugin is a bug and is
logged with its traceback.
"""

from __future__ import annotations


class NanobotError(Exception):
    """Base class: ``str(error)`` is a complete, user-facing sentence."""


class ConfigError(NanobotError):
    """The configuration cannot be used (file, TOML, key path, secret)."""


class Unavailable(NanobotError):
    """Raised by a factory whose external tool is missing (ffmpeg, a system library).

    The rest of nanobot works without it: ``nanobot check`` and ``nanobot plugins``
    show the message, and an attachment of one of ``kinds`` (for a media processor)
    gets it as its note. Say what is missing and how to install it.
    """

    def __init__(self, message: str, *, kinds: frozenset[str] = frozenset()) -> None:
        super().__init__(message)
        self.kinds = kinds


class PluginError(NanobotError):
    """A plugin could not be loaded or registered something invalid."""


class TurnRefused(NanobotError):
    """A turn was not run (rate limited, queue full); the message says when to retry."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MediaError(NanobotError):
    """An attachment could not be used (too big, corrupt, unsupported)."""


class ToolError(NanobotError):
    """Raised by a tool: the message goes back to the model as the tool's result."""


class SpeechError(NanobotError):
    """Speech synthesis did not produce audio; the text reply still goes out."""


class ProviderError(NanobotError):
    """A model or speech provider failed in a way the user should hear about."""


class ProviderAuthError(ProviderError):
    """The provider rejected the credentials."""


class ProviderRateLimited(ProviderError):
    """The provider throttled us; ``retry_after`` in seconds when it said so."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """Connection refused, or server errors after the configured retries."""


class ProviderTimeout(ProviderError):
    """No answer within the configured timeout."""


class ProviderBadRequest(ProviderError):
    """The provider refused the request itself (unknown model, bad input)."""
