"""The SDK client a model or transcriber owns, and its exceptions as errors a user can act on."""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from attrs import define, field

from nanobot_core import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    Secret,
)

from .config import TABLE, OpenAIConfig

if TYPE_CHECKING:
    from openai import AsyncOpenAI


@define
class ClientOwner:
    """One SDK client, opened by ``async with`` and reused for every call (pooled connections)."""

    config: OpenAIConfig
    key: Secret = field(repr=False)
    _client: AsyncOpenAI | None = field(default=None, init=False, repr=False)

    async def __aenter__(self) -> Self:
        self._client = open_client(self.config, self.key)
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    @property
    def client(self) -> AsyncOpenAI:
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} is used outside `async with`")
        return self._client

    @contextmanager
    def translating(self, what: str) -> Iterator[None]:
        """SDK failures inside the block leave it as one-line ``ProviderError``s."""
        try:
            yield
        except Exception as error:
            problem = translate(error, self.config, self.key, what)
            if problem is None:
                raise
            raise problem from None


def open_client(config: OpenAIConfig, key: Secret) -> AsyncOpenAI:
    """A new SDK client (the caller enters and closes it). Imports the SDK on first use."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(
        api_key=key.reveal(),
        base_url=config.base_url,
        timeout=config.timeout,
        max_retries=config.max_retries,
        default_headers=dict(config.extra_headers) or None,
    )


def translate(
    error: Exception, config: OpenAIConfig, key: Secret, what: str
) -> ProviderError | None:
    """One user-facing line for an SDK failure; never contains the key.

    ``what`` names the operation ("chat", "transcription") for the message.
    ``None`` when the exception is not a provider failure (a bug: let it propagate).
    """
    import openai

    server = config.server
    retried = _retried(config)
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        detail = _detail(error, key)
        if status in (401, 403):
            return ProviderAuthError(
                f"{server} rejected the API key ({status}): check {TABLE}.api_key"
            )
        if status == 429:
            after = _retry_after(error.response.headers)
            when = f"; retry in {after:g} s" if after is not None else ""
            return ProviderRateLimited(
                f"{server} is rate limiting {what} requests (429{detail}){when}",
                retry_after=after,
            )
        if status >= 500:
            return ProviderUnavailable(
                f"{server} failed with a server error ({status}{detail}){retried}"
            )
        if status == 404:
            return ProviderBadRequest(
                f"{server} did not find what the {what} request named (404{detail}): "
                f"check the model id and {TABLE}.base_url"
            )
        return ProviderBadRequest(f"{server} refused the {what} request ({status}{detail})")
    if isinstance(error, openai.APITimeoutError):
        return ProviderTimeout(f"{server} did not answer within {config.timeout:g} s{retried}")
    if isinstance(error, openai.APIConnectionError):
        return ProviderUnavailable(f"{server}: {_connection_problem(error)}{retried}")
    if isinstance(error, json.JSONDecodeError):  # the SDK's json.loads of the body
        return malformed(config, "a response that is not JSON")
    if isinstance(error, openai.OpenAIError):
        return ProviderError(f"{server}: the {what} request failed ({type(error).__name__})")
    return None


def malformed(config: OpenAIConfig, what: str) -> ProviderError:
    return ProviderError(
        f"{config.server} sent {what}: is {TABLE}.base_url an OpenAI-compatible API?"
    )


def _retried(config: OpenAIConfig) -> str:
    n = config.max_retries
    return f" (after {n} retr{'y' if n == 1 else 'ies'})" if n else ""


def _connection_problem(error: Exception) -> str:
    cause = error.__cause__
    names = set()
    while cause is not None:
        names.add(type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    if "ConnectError" in names or "ConnectionRefusedError" in names:
        return "cannot connect (connection refused or host unreachable)"
    if "RemoteProtocolError" in names or "ReadError" in names:
        return "the connection broke off before a complete answer arrived"
    return "the connection failed"


_SPACE = re.compile(r"\s+")


def _detail(error: Any, key: Secret) -> str:
    """``": <provider message>"``: one line, at most 200 characters, key removed."""
    body = getattr(error, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        return ""
    text = _SPACE.sub(" ", message).strip()
    secret = key.reveal()
    if secret:
        text = text.replace(secret, "<key>")
        text = re.sub(r"\b(?:sk|gsk)[-_][A-Za-z0-9_*\-]{6,}", "<key>", text)
    if len(text) > 200:
        text = text[:199] + "…"
    return f": {text}"


def _retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
