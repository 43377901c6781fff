"""The OpenAI client layer the chat model, the transcriber and the speech synthesizer share.

One ``Endpoint`` value says where a server is and how to talk to it; one
``ClientOwner`` opens the SDK client on it (through ``transport.GuardedTransport``);
one ``translate`` turns the SDK's and httpx2's exceptions, matched by type, into
one-line ``ProviderError``s; one ``resolve_key`` finds the key; one
``describe_server`` names the server in messages. ``nanobot-tts-openai`` imports
this module rather than keeping a copy.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import trio
from attrs import define, field, frozen

from nanobot_core import (
    ConfigError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    Secret,
)
from nanobot_core.text import for_terminal

if TYPE_CHECKING:
    from openai import AsyncOpenAI

ENV_KEY = "OPENAI_API_KEY"

MAX_RETRY_AFTER = 24 * 3600.0
"""A ``Retry-After`` beyond a day (or NaN, infinite, negative) is not a usable hint."""

CLOSE_SECONDS = 5.0


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs share scheme, host and port (the default port filled in)."""

    def origin(text: str) -> tuple[str, str, int | None]:
        parts = urlsplit(text)
        default = {"http": 80, "https": 443}.get(parts.scheme)
        return parts.scheme, (parts.hostname or "").lower(), parts.port or default

    return origin(url) == origin(other)


def describe_server(base_url: str) -> str:
    """``host[:port]`` of ``base_url``, for messages (no credentials, no path, no query)."""
    parts = urlsplit(base_url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def resolve_key(
    configured: Secret | None,
    table: str,
    env: Mapping[str, str] | None = None,
    *,
    also: str | None = None,
) -> Secret:
    """The configured key, else ``$OPENAI_API_KEY``; ``ConfigError`` when neither is there.

    ``also`` names another key that was looked at (``providers.openai.api_key``).
    """
    if configured is not None:
        return configured
    found = Secret.from_env(ENV_KEY, os.environ if env is None else env)
    if found is None:
        nor = f" (nor {also})" if also else ""
        raise ConfigError(f"{table}.api_key: not set{nor}, and {ENV_KEY} is not in the environment")
    return found


@frozen
class Endpoint:
    """One OpenAI-compatible server as a client sees it."""

    base_url: str
    key: Secret = field(repr=False)
    timeout: float
    max_retries: int
    max_bytes: int
    limit_setting: str
    """The key that sets ``max_bytes`` (``providers.openai.max_response_bytes``), for messages."""
    key_setting: str = "providers.openai.api_key"
    """Where the key is configured, for "check providers.openai.api_key"."""
    url_setting: str = "providers.openai.base_url"
    headers: Mapping[str, str] = field(factory=dict, repr=False)

    @property
    def server(self) -> str:
        return describe_server(self.base_url)


@define
class ClientOwner:
    """One SDK client on one endpoint, opened by ``async with`` and reused for every call.

    A subclass says which endpoint (``endpoint``).
    """

    _client: AsyncOpenAI | None = field(default=None, init=False, repr=False)

    @property
    def endpoint(self) -> Endpoint:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self._client = open_client(self.endpoint)
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
            with trio.move_on_after(CLOSE_SECONDS, shield=True):
                await client.close()

    @property
    def client(self) -> AsyncOpenAI:
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} is used outside `async with`")
        return self._client

    def describe_setup(self) -> str:
        """One line for ``nanobot check``: the server and where the key came from (not the key)."""
        endpoint = self.endpoint
        table = endpoint.key_setting.rpartition(".")[0]
        source = endpoint.key.source
        headers = ", ".join(sorted(endpoint.headers)) or "none"
        return (
            f"{table}: server {endpoint.server}, api_key from "
            f"{table if source == 'config' else source}, extra_headers {headers}, "
            f"timeout {endpoint.timeout:g} s"
        )

    @contextmanager
    def translating(self, what: str) -> Iterator[None]:
        """SDK failures inside the block leave it as one-line ``ProviderError``s."""
        try:
            yield
        except Exception as error:
            problem = translate(error, self.endpoint, what)
            if problem is None:
                raise
            raise problem from None


def open_client(endpoint: Endpoint) -> AsyncOpenAI:
    """A new SDK client (the caller enters and closes it). Imports the SDK on first use."""
    import httpx2
    from openai import AsyncOpenAI

    from .transport import GuardedTransport

    transport = GuardedTransport(
        endpoint.base_url,
        max_bytes=endpoint.max_bytes,
        timeout=endpoint.timeout,
        inner=httpx2.AsyncHTTPTransport(
            limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
        ),
    )
    http_client = httpx2.AsyncClient(
        transport=transport, timeout=endpoint.timeout, follow_redirects=True
    )
    return AsyncOpenAI(
        api_key=endpoint.key.reveal(),
        base_url=endpoint.base_url,
        timeout=endpoint.timeout,
        max_retries=endpoint.max_retries,
        default_headers=dict(endpoint.headers) or None,
        http_client=http_client,
    )


def translate(error: BaseException, endpoint: Endpoint, what: str) -> ProviderError | None:
    """One user-facing line for a failed request; never contains the key.

    ``what`` names the operation ("chat", "transcription", "speech"). ``None``
    when the exception is not a provider failure (a bug: let it propagate).
    """
    import httpx2
    import openai

    from .transport import DeadlinePassed, RedirectRefused, ResponseTooLarge, UnreadableEncoding

    server = endpoint.server
    retried = _retried(endpoint)
    if isinstance(error, openai.APIStatusError):
        return _status_error(error, endpoint, what)
    if isinstance(error, ResponseTooLarge):
        return ProviderError(
            f"{server} sent a {what} response over {_size(error.limit)}; it was abandoned "
            f"(the limit is {endpoint.limit_setting})"
        )
    if isinstance(error, RedirectRefused):
        return ProviderError(
            f"{server} redirected the {what} request to {error.server}; nanobot sends requests "
            f"only to {server} (check {endpoint.url_setting})"
        )
    if isinstance(error, UnreadableEncoding):
        return malformed(
            endpoint, f"a response in an encoding it did not ask for ({error.encoding})"
        )
    timeout = _find(error, (openai.APITimeoutError, httpx2.TimeoutException))
    if timeout is not None:
        late = _find(error, (DeadlinePassed,))
        if isinstance(late, DeadlinePassed) and late.started:
            return ProviderTimeout(
                f"{server} did not finish its {what} answer within {endpoint.timeout:g} s{retried}"
            )
        return ProviderTimeout(f"{server} did not answer within {endpoint.timeout:g} s{retried}")
    if isinstance(error, openai.APIConnectionError | httpx2.TransportError):
        return ProviderUnavailable(f"{server}: {_connection_problem(error)}{retried}")
    if isinstance(error, json.JSONDecodeError):  # the SDK's json.loads of the body
        return malformed(endpoint, "a response that is not JSON")
    if isinstance(error, RecursionError):  # the SDK's json.loads of a deeply nested body
        return malformed(endpoint, "a response nested too deeply to read")
    if isinstance(error, httpx2.DecodingError):
        return malformed(endpoint, "a response it could not decode")
    if isinstance(error, openai.OpenAIError):
        return ProviderError(f"{server}: the {what} request failed ({type(error).__name__})")
    return None


def malformed(endpoint: Endpoint, what: str) -> ProviderError:
    return ProviderError(
        f"{endpoint.server} sent {what}: is {endpoint.url_setting} an OpenAI-compatible API?"
    )


def _status_error(error: Any, endpoint: Endpoint, what: str) -> ProviderError:
    server = endpoint.server
    status = error.status_code
    if status in (401, 403):  # the server's text may echo part of the key: not shown
        return ProviderAuthError(
            f"{server} rejected the API key ({status}): check {endpoint.key_setting}"
        )
    detail = _detail(error, endpoint.key)
    if status == 429:
        after = retry_after(error.response.headers)
        when = f"; retry in {after:g} s" if after is not None else ""
        return ProviderRateLimited(
            f"{server} is rate limiting {what} requests (429{detail}){when}", retry_after=after
        )
    if status >= 500:
        return ProviderUnavailable(
            f"{server} failed with a server error ({status}{detail}){_retried(endpoint)}"
        )
    if status == 404:
        return ProviderBadRequest(
            f"{server} did not find what the {what} request named (404{detail}): "
            f"check the model id and {endpoint.url_setting}"
        )
    return ProviderBadRequest(f"{server} refused the {what} request ({status}{detail})")


def _find(error: BaseException, types: tuple[type[BaseException], ...]) -> BaseException | None:
    """``error`` or the first exception in its cause chain that is one of ``types``."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, types):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _retried(endpoint: Endpoint) -> str:
    n = endpoint.max_retries
    return f" (after {n} retr{'y' if n == 1 else 'ies'})" if n else ""


def _connection_problem(error: BaseException) -> str:
    import httpx2

    if _find(error, (httpx2.ConnectError, ConnectionRefusedError)) is not None:
        return "cannot connect (connection refused or host unreachable)"
    if _find(error, (httpx2.RemoteProtocolError, httpx2.ReadError)) is not None:
        return "the connection broke off before a complete answer arrived"
    return "the connection failed"


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:g} MiB"
    if size >= 1024:
        return f"{size / 1024:g} KiB"
    return f"{size} bytes"


_SPACE = re.compile(r"\s+")
_KEY_LIKE = re.compile(r"\b(?:sk|gsk)[-_][A-Za-z0-9_*\-]{6,}")


def _detail(error: Any, key: Secret) -> str:
    """``": <server message>"``: one printable line, at most 200 characters, key removed."""
    body = getattr(error, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        return ""
    text = _SPACE.sub(" ", for_terminal(message[:2000])).strip().rstrip(" .")
    if not text:
        return ""
    secret = key.reveal()
    if secret:
        text = text.replace(secret, "<key>")
    text = _KEY_LIKE.sub("<key>", text)
    if len(text) > 200:
        text = text[:199] + "…"
    return f": {text}"


def retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date).

    ``None`` unless the value is a finite number of seconds between 0 and a day.
    """
    millis = _seconds(headers.get("retry-after-ms"))
    if millis is not None:
        return _sane(millis / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return _sane(seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return _sane(max(when.timestamp() - time.time(), 0.0))


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _sane(seconds: float) -> float | None:
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_RETRY_AFTER:
        return None
    return seconds
