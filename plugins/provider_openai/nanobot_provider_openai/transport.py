"""The HTTP transport under every SDK client: one origin, a byte budget, a deadline.

The openai SDK reads a whole response body into memory before it parses it,
and its ``timeout`` only bounds the wait for each piece. Both are fixed here,
below the SDK, where every byte passes: a request to another origin than
``base_url``'s is never sent (a redirect cannot carry the conversation, the key
or ``extra_headers`` elsewhere), a body is abandoned as soon as it passes
``max_bytes``, and each request must be answered completely within
``timeout`` seconds, however slowly the server trickles.

Imported only when a client is opened: it imports the SDK and httpx2.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import trio

_ACCEPTED_ENCODINGS = {"": None, "identity": None, "gzip": 16 + zlib.MAX_WBITS, "deflate": 0}


class ResponseTooLarge(openai.OpenAIError):
    """The body passed the byte budget; the SDK propagates it without retrying."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the response is larger than {limit} bytes")
        self.limit = limit


class RedirectRefused(openai.OpenAIError):
    """A redirect (or any request) to another origin than ``base_url``'s."""

    def __init__(self, url: httpx2.URL) -> None:
        super().__init__("a request to another origin was refused")
        self.server = f"{url.host}:{url.port}" if url.port else str(url.host)


class UnreadableEncoding(openai.OpenAIError):
    """A ``content-encoding`` we did not ask for and cannot decode within the budget."""

    def __init__(self, encoding: str) -> None:
        super().__init__(f"unsupported content-encoding {encoding!r}")
        self.encoding = encoding


class DeadlinePassed(httpx2.ReadTimeout):
    """The request was not answered completely in time (the SDK treats it as a timeout)."""

    def __init__(self, request: httpx2.Request, *, started: bool) -> None:
        super().__init__("the deadline passed", request=request)
        self.started = started
        """Whether the response had begun (status and headers arrived)."""


def origin(url: httpx2.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


class GuardedTransport(httpx2.AsyncBaseTransport):
    """Wraps a real transport; every request and response of one client passes here."""

    def __init__(
        self, base_url: str, *, max_bytes: int, timeout: float, inner: httpx2.AsyncBaseTransport
    ) -> None:
        self._origin = origin(httpx2.URL(base_url))
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if origin(request.url) != self._origin:
            raise RedirectRefused(request.url)
        # Compressed bodies could expand past the budget after it was counted: ask for none.
        request.headers["accept-encoding"] = "identity"
        deadline = trio.current_time() + self._timeout
        with trio.move_on_at(deadline) as waiting:
            response = await self._inner.handle_async_request(request)
        if waiting.cancelled_caught:
            raise DeadlinePassed(request, started=False)
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding not in _ACCEPTED_ENCODINGS:
            await response.aclose()
            raise UnreadableEncoding(encoding)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            await response.aclose()
            raise ResponseTooLarge(self._max_bytes)
        headers = [(k, v) for k, v in response.headers.multi_items() if k != "content-encoding"]
        body = _BudgetStream(
            response.stream,  # type: ignore[arg-type]
            request,
            self._max_bytes,
            deadline,
            _ACCEPTED_ENCODINGS[encoding],
        )
        return httpx2.Response(
            response.status_code, headers=headers, stream=body, extensions=response.extensions
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class _BudgetStream(httpx2.AsyncByteStream):
    """The body, counted (after decoding) while it is read, against a budget and a deadline.

    An iterator class rather than an async generator: trio finalises a generator
    left unfinished by a raised error only with a warning.
    """

    def __init__(
        self,
        inner: httpx2.AsyncByteStream,
        request: httpx2.Request,
        max_bytes: int,
        deadline: float,
        wbits: int | None,
    ) -> None:
        self._inner = inner
        self._chunks: AsyncIterator[bytes] | None = None
        self._request = request
        self._left = max_bytes
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._decoder: Any = zlib.decompressobj(wbits) if wbits is not None else None

    def __aiter__(self) -> _BudgetStream:
        if self._chunks is None:
            self._chunks = self._inner.__aiter__()
        return self

    async def __anext__(self) -> bytes:
        assert self._chunks is not None
        while True:
            with trio.move_on_at(self._deadline) as waiting:
                raw = await self._chunks.__anext__()  # StopAsyncIteration ends the body
            if waiting.cancelled_caught:
                raise DeadlinePassed(self._request, started=True)
            chunk = self._decode(raw)
            self._left -= len(chunk)
            if self._left < 0:
                raise ResponseTooLarge(self._max_bytes)
            if chunk:
                return chunk

    def _decode(self, raw: bytes) -> bytes:
        if self._decoder is None:
            return raw
        try:
            # never more than one byte past the budget, whatever the ratio
            out: bytes = self._decoder.decompress(raw, max(self._left + 1, 1))
        except zlib.error:
            raise httpx2.DecodingError("the body is not valid gzip/deflate") from None
        if self._decoder.unconsumed_tail:
            self._left = -1
        return out

    async def aclose(self) -> None:
        await self._inner.aclose()
