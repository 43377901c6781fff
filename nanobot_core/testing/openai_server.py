"""An OpenAI-compatible HTTP server for tests and benchmarks: real sockets, scripted answers.

It speaks real HTTP/1.1 (keep-alive) on 127.0.0.1 from a background thread, so
it works the same under trio, asyncio or plain threads::

    from nanobot_core.testing.openai_server import OpenAIServer, Response, tool_call

    with OpenAIServer() as server:
        server.chat.push(Response.chat("hello"), Response.error(429, retry_after=2))
        client = AsyncOpenAI(base_url=server.base_url, api_key="test")
        ...
        assert server.chat.requests[0].json["model"] == "gpt-test"

Endpoints (under ``/v1``): ``POST chat/completions``, ``POST audio/speech``,
``POST audio/transcriptions`` (multipart, parsed while it streams in),
``GET models``. Each has a ``Script``: a queue of ``Response`` values used
one per request, then its ``default``. Every request is recorded with the TCP
connection it came on; ``connection_count`` counts accepted connections and
``open_connections`` those still open. See ``docs/testing-server.md``.

Only the standard library is used, so the module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import email.parser
import hashlib
import itertools
import json
import select
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import attrs
from attrs import field, frozen

__all__ = [
    "OpenAIServer",
    "RecordedRequest",
    "Response",
    "Script",
    "UploadedFile",
    "nested",
    "tool_call",
]

_PATTERN = bytes(range(256))


def tool_call(name: str, arguments: Any, *, id: str | None = None) -> dict[str, Any]:
    """A tool call as it appears in a chat reply; ``arguments`` is a JSON value or JSON text."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "id": id,  # filled with call_<n> when None
        "type": "function",
        "function": {"name": name, "arguments": text},
    }


def nested(depth: int, leaf: str = "1") -> str:
    """JSON text of ``depth`` nested lists around ``leaf`` (``[[[1]]]``), however deep:
    built as text, since ``json.dumps`` itself cannot go thousands of levels down."""
    return "[" * depth + leaf + "]" * depth


@frozen
class Response:
    """One scripted answer. Build it with a classmethod; ``latency`` delays any of them.

    A delay or a hang ends early when the client closes the connection or the
    server stops, so a cancelled client never leaves a thread behind.
    """

    kind: Literal["json", "raw", "chat", "audio", "truncated", "hang", "endless", "sized"]
    status: int = 200
    headers: Mapping[str, str] = field(factory=dict)
    payload: Any = None
    body: bytes = b""
    content_type: str = "application/json"
    latency: float = 0.0
    # streaming bodies (audio)
    total: int | None = None
    chunk_size: int = 4096
    chunk_delay: float = 0.0
    stall_after: int | None = None

    @classmethod
    def chat(
        cls,
        text: str | None = "ok",
        *,
        tool_calls: Sequence[Mapping[str, Any]] = (),
        extra: Mapping[str, Any] | None = None,
        finish_reason: str | None = None,
        usage: Mapping[str, int] | None = None,
        latency: float = 0.0,
        headers: Mapping[str, str] | None = None,
        refusal: str | None = None,
    ) -> Response:
        """A chat completion: ``text``, ``tool_calls`` (see ``tool_call``), and ``extra``
        fields merged into the assistant message (e.g. ``reasoning_content``).

        ``refusal`` sets the message's ``refusal`` (OpenAI's way of declining, with
        ``content`` null). The reply's ``model`` is the model the request asked for.
        Any text works, a lone surrogate (``"\\ud800"``) or terminal escapes included:
        the body is JSON with ``\\u`` escapes.
        """
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if refusal is not None:
            message["refusal"] = refusal
        if tool_calls:
            message["tool_calls"] = [
                {**call, "id": call.get("id") or f"call_{n}"}
                for n, call in enumerate(tool_calls, start=1)
            ]
        message.update(extra or {})
        reason = finish_reason or ("tool_calls" if tool_calls else "stop")
        payload = {
            "message": message,
            "finish_reason": reason,
            "usage": dict(usage or {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}),
        }
        return cls("chat", payload=payload, latency=latency, headers=dict(headers or {}))

    @classmethod
    def json(
        cls,
        value: Any,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        latency: float = 0.0,
    ) -> Response:
        """Any JSON document, sent as it is."""
        return cls(
            "json", status=status, payload=value, headers=dict(headers or {}), latency=latency
        )

    @classmethod
    def error(
        cls,
        status: int,
        message: str | None = None,
        *,
        type: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        latency: float = 0.0,
    ) -> Response:
        """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

        ``retry_after`` sets the ``retry-after`` header (seconds).
        """
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["retry-after"] = _number(retry_after)
        payload = {
            "error": {
                "message": message or f"scripted error {status}",
                "type": type or _ERROR_TYPES.get(status, "server_error"),
                "param": None,
                "code": code,
            }
        }
        return cls("json", status=status, payload=payload, headers=all_headers, latency=latency)

    @classmethod
    def raw(
        cls,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        latency: float = 0.0,
    ) -> Response:
        """Exactly these bytes (a non-JSON body under a JSON content type, for example)."""
        data = body.encode() if isinstance(body, str) else body
        return cls(
            "raw",
            status=status,
            body=data,
            content_type=content_type,
            headers=dict(headers or {}),
            latency=latency,
        )

    @classmethod
    def truncated(
        cls, body: bytes | str = b'{"id": "chatcmpl-1", "choi', *, declared: int | None = None
    ) -> Response:
        """Announce ``declared`` bytes (default: twice the body), send ``body``, close."""
        data = body.encode() if isinstance(body, str) else body
        return cls("truncated", body=data, total=declared or 2 * len(data) + 16)

    @classmethod
    def no_choices(cls) -> Response:
        """A chat completion whose ``choices`` list is empty."""
        return cls.json(
            {"id": "chatcmpl-0", "object": "chat.completion", "created": 0, "choices": []}
        )

    @classmethod
    def redirect(cls, location: str, *, status: int = 307) -> Response:
        """A redirect to ``location`` (another server's URL, for example)."""
        return cls.raw(
            b"", status=status, content_type="text/plain", headers={"location": location}
        )

    @classmethod
    def endless(
        cls,
        prefix: bytes | str = b"",
        *,
        chunk_size: int = 65536,
        chunk_delay: float = 0.0,
        content_type: str = "application/json",
        status: int = 200,
    ) -> Response:
        """A chunked body that never ends: ``prefix``, then filler bytes until the client
        disconnects or the server stops (``chunk_delay`` seconds between chunks)."""
        data = prefix.encode() if isinstance(prefix, str) else prefix
        return cls(
            "endless",
            status=status,
            body=data,
            chunk_size=chunk_size,
            chunk_delay=chunk_delay,
            content_type=content_type,
        )

    @classmethod
    def sized(
        cls, size: int, *, prefix: bytes | str = b"", content_type: str = "application/json"
    ) -> Response:
        """A body of ``size`` bytes announced by ``content-length``: ``prefix``, then filler."""
        data = prefix.encode() if isinstance(prefix, str) else prefix
        return cls("sized", body=data, total=size, content_type=content_type)

    @classmethod
    def trickle(
        cls,
        body: bytes | str,
        *,
        every: float = 0.1,
        chunk_size: int = 1,
        content_type: str = "application/json",
    ) -> Response:
        """``body`` in chunks of ``chunk_size`` bytes, one every ``every`` seconds: each
        read is quick, the whole answer slow."""
        data = body.encode() if isinstance(body, str) else body
        return cls.audio(data, chunk_size=chunk_size, chunk_delay=every, content_type=content_type)

    @classmethod
    def hang(cls) -> Response:
        """Never answer: wait until the client disconnects or the server stops."""
        return cls("hang")

    @classmethod
    def audio(
        cls,
        data: bytes | None = None,
        *,
        total: int | None = None,
        chunk_size: int = 4096,
        chunk_delay: float = 0.0,
        stall_after: int | None = None,
        content_type: str = "audio/ogg",
        latency: float = 0.0,
        status: int = 200,
    ) -> Response:
        """A streamed body (chunked transfer encoding): ``data``, or ``total`` generated bytes.

        ``chunk_delay`` waits between chunks; ``stall_after`` stops sending forever
        after that many bytes (until the client disconnects or the server stops).
        """
        if data is None and total is None:
            total = 16 * 1024
        return cls(
            "audio",
            status=status,
            body=data or b"",
            total=total if data is None else len(data),
            chunk_size=chunk_size,
            chunk_delay=chunk_delay,
            stall_after=stall_after,
            content_type=content_type,
            latency=latency,
        )

    @classmethod
    def transcription(cls, text: str = "transcribed text", *, latency: float = 0.0) -> Response:
        """A transcription result: ``{"text": ...}``."""
        return cls.json({"text": text}, latency=latency)

    @classmethod
    def models(cls, *ids: str) -> Response:
        """A model list with these ids."""
        data = [{"id": i, "object": "model", "created": 0, "owned_by": "test"} for i in ids]
        return cls.json({"object": "list", "data": data})

    def after(self, latency: float) -> Response:
        """The same response, sent after ``latency`` seconds."""
        return attrs.evolve(self, latency=latency)


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_denied",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@frozen
class UploadedFile:
    """A file part of a multipart upload: counted and hashed while it streamed in."""

    field: str
    filename: str
    content_type: str
    size: int
    sha256: str
    head: bytes = attrs.field(repr=False)
    """The first 64 bytes."""


@frozen
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    headers: Mapping[str, str]
    """Lower-case names."""
    connection_id: int
    body_size: int
    json: Any = None
    """The parsed JSON body (``None`` when the body was not JSON)."""
    fields: Mapping[str, str] = field(factory=dict)
    """Multipart text fields."""
    files: tuple[UploadedFile, ...] = ()


class Script:
    """What one endpoint answers: queued responses first, then ``default``."""

    def __init__(self, default: Response) -> None:
        self.default = default
        self._queue: deque[Response] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()

    def push(self, *responses: Response) -> None:
        """Queue responses; each is used for one request, in order."""
        with self._lock:
            self._queue.extend(responses)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._requests.clear()

    @property
    def pending(self) -> int:
        """Queued responses not used yet."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests this endpoint received, oldest first."""
        with self._lock:
            return list(self._requests)

    def _take(self, request: RecordedRequest) -> Response:
        with self._lock:
            self._requests.append(request)
            return self._queue.popleft() if self._queue else self.default


class OpenAIServer:
    """The server. Use it as a context manager; it listens on an ephemeral port.

    ``url`` is ``http://127.0.0.1:<port>``, ``base_url`` is ``url + "/v1"`` (what
    an OpenAI client takes). Leaving the ``with`` block stops serving, closes
    every connection (hung responses included) and joins every thread.
    """

    def __init__(self) -> None:
        self.chat = Script(Response.chat("ok"))
        self.speech = Script(Response.audio())
        self.transcriptions = Script(Response.transcription())
        self.models = Script(Response.models("test-model"))
        self._scripts = {
            ("POST", "/v1/chat/completions"): self.chat,
            ("POST", "/v1/audio/speech"): self.speech,
            ("POST", "/v1/audio/transcriptions"): self.transcriptions,
            ("GET", "/v1/models"): self.models,
        }
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self._open: dict[int, socket.socket] = {}
        self._connection_ids = itertools.count(1)
        self._connections = 0
        self._completion_ids = itertools.count(1)
        self.errors: list[BaseException] = []
        """Unexpected exceptions inside request handlers (a test may assert it is empty)."""
        self.stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> OpenAIServer:
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-test-server"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        self.stopping.set()
        with self._lock:
            sockets = list(self._open.values())
        for sock in sockets:  # wakes handlers blocked on reads, delays and hangs
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        httpd.server_close()  # joins the handler threads
        thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- what was seen -----------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not running"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request, all endpoints (unknown paths too), oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def connection_count(self) -> int:
        """TCP connections accepted so far."""
        with self._lock:
            return self._connections

    @property
    def open_connections(self) -> int:
        """TCP connections currently open (a handler is serving them)."""
        with self._lock:
            return len(self._open)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until ``predicate()`` is true (checked at every request and connection
        change); ``TimeoutError`` after ``timeout`` seconds. From trio::

            await trio.to_thread.run_sync(server.wait_for, lambda: server.open_connections == 0)
        """
        with self._changed:
            if not self._changed.wait_for(predicate, timeout):
                raise TimeoutError("the test server did not reach the expected state")

    # --- used by the handler -----------------------------------------------------------

    def _connected(self, sock: socket.socket) -> int:
        with self._lock:
            connection_id = next(self._connection_ids)
            self._connections += 1
            self._open[connection_id] = sock
            self._changed.notify_all()
            return connection_id

    def _disconnected(self, connection_id: int) -> None:
        with self._lock:
            self._open.pop(connection_id, None)
            self._changed.notify_all()

    def _record(self, request: RecordedRequest) -> Response | None:
        with self._lock:
            self._requests.append(request)
            self._changed.notify_all()
        script = self._scripts.get((request.method, request.path))
        return script._take(request) if script else None

    def _completion_id(self) -> str:
        with self._lock:
            return f"chatcmpl-{next(self._completion_ids)}"


class _HTTPServer(ThreadingHTTPServer):
    owner: OpenAIServer
    daemon_threads = False
    block_on_close = True
    request_queue_size = 256  # many clients connect at once in the concurrency benchmark
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, OSError) or self.owner.stopping.is_set():
            return  # the client went away, or we are shutting down
        if error is not None:
            self.owner.errors.append(error)
        super().handle_error(request, client_address)


class _PeerGone(Exception):
    """The client closed the connection (or the server is stopping)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    server_version = "nanobot-openai-test/1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection_id = self.server.owner._connected(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._disconnected(self.connection_id)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    # --- one request -------------------------------------------------------------------

    def _serve(self) -> None:
        try:
            request = self._read_request()
            response = self.server.owner._record(request)
            if response is None:
                self._send_json(
                    404, {"error": {"message": f"unknown path {self.path}", "type": "not_found"}}
                )
                return
            self._wait(response.latency)
            self._respond(response, request)
        except _PeerGone:
            self.close_connection = True

    def _read_request(self) -> RecordedRequest:
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = self.path.partition("?")[0]
        content_type = headers.get("content-type", "")
        method, connection_id = self.command, self.connection_id
        if content_type.startswith("multipart/form-data"):
            counter = _Counter(self._body_chunks())
            fields, files = _parse_multipart(counter, _boundary(content_type))
            return RecordedRequest(
                method, path, headers, connection_id, counter.size, None, fields, tuple(files)
            )
        body = b"".join(self._body_chunks())
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        return RecordedRequest(method, path, headers, connection_id, len(body), parsed)

    def _body_chunks(self) -> Iterator[bytes]:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                yield from self._read_exactly(size)
                self.rfile.readline()
        else:
            yield from self._read_exactly(int(self.headers.get("content-length") or 0))

    def _read_exactly(self, size: int) -> Iterator[bytes]:
        """``size`` bytes of the body in pieces of at most 64 KiB; a short read is _PeerGone."""
        remaining = size
        while remaining:
            data = self.rfile.read(min(remaining, 65536))
            if not data:
                raise _PeerGone
            remaining -= len(data)
            yield data

    def _wait(self, seconds: float | None) -> None:
        """Sleep ``seconds`` (``None``: forever); raise ``_PeerGone`` if the client leaves."""
        if seconds is not None and seconds <= 0:
            return
        readable, _, _ = select.select([self.connection], [], [], seconds)
        if readable:
            try:
                data = self.connection.recv(1, socket.MSG_PEEK)
            except OSError:
                raise _PeerGone from None
            if not data:
                raise _PeerGone
            # the client sent more (a pipelined request): treat the wait as done

    def _respond(self, response: Response, request: RecordedRequest) -> None:
        if response.kind == "hang":
            self._wait(None)
            raise _PeerGone
        if response.kind == "chat":
            self._send_json(200, self._chat_body(response, request), response.headers)
        elif response.kind == "json":
            self._send_json(response.status, response.payload, response.headers)
        elif response.kind == "raw":
            self._send(response.status, response.body, response.content_type, response.headers)
        elif response.kind == "truncated":
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(response.total))
            self.end_headers()
            self.wfile.write(response.body)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_WR)
        elif response.kind == "endless":
            self._endless(response)
        elif response.kind == "sized":
            self._sized(response)
        else:
            self._stream(response)

    def _endless(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("content-type", response.content_type)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        if response.body:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(response.body), response.body))
        sent = 0
        while not self.server.owner.stopping.is_set():
            self._wait(response.chunk_delay)
            chunk = _generated(sent, response.chunk_size)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))  # OSError once it leaves
            sent += len(chunk)

    def _sized(self, response: Response) -> None:
        total = response.total or 0
        self.send_response(200)
        self.send_header("content-type", response.content_type)
        self.send_header("content-length", str(total))
        self.end_headers()
        self.wfile.write(response.body[:total])
        sent = min(len(response.body), total)
        while sent < total and not self.server.owner.stopping.is_set():
            chunk = _generated(sent, min(65536, total - sent))
            self.wfile.write(chunk)
            sent += len(chunk)

    def _chat_body(self, response: Response, request: RecordedRequest) -> dict[str, Any]:
        model = request.json.get("model", "") if isinstance(request.json, dict) else ""
        payload = response.payload
        return {
            "id": self.server.owner._completion_id(),
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": payload["message"],
                    "finish_reason": payload["finish_reason"],
                    "logprobs": None,
                }
            ],
            "usage": payload["usage"],
        }

    def _stream(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("content-type", response.content_type)
        self.send_header("transfer-encoding", "chunked")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        total = response.total or 0
        sent = 0
        while sent < total:
            if response.stall_after is not None and sent >= response.stall_after:
                self._wait(None)
                raise _PeerGone
            size = min(response.chunk_size, total - sent)
            if response.stall_after is not None:
                size = min(size, max(response.stall_after - sent, 1))
            chunk = response.body[sent : sent + size] if response.body else _generated(sent, size)
            if sent:
                self._wait(response.chunk_delay)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += size
        self.wfile.write(b"0\r\n\r\n")

    def _send_json(self, status: int, value: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), "application/json", headers or {})

    def _send(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str]
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _generated(offset: int, size: int) -> bytes:
    """Deterministic filler bytes for position ``offset`` onwards."""
    start = offset % 256
    repeats = (start + size) // 256 + 1
    return (_PATTERN * repeats)[start : start + size]


class _Counter:
    """Counts the bytes of a body while it is consumed."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.size += len(chunk)
            yield chunk


def _boundary(content_type: str) -> bytes:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            return value.strip('"').encode()
    raise ValueError("multipart body without a boundary")


def _parse_multipart(
    chunks: _Counter, boundary: bytes
) -> tuple[dict[str, str], list[UploadedFile]]:
    """Parse a multipart body as it streams: text fields kept, files counted and hashed."""
    source = iter(chunks)
    buffer = bytearray()

    def fill() -> None:
        chunk = next(source, None)
        if chunk is None:
            raise ValueError("multipart body ended early")
        buffer.extend(chunk)

    delimiter = b"--" + boundary
    while (start := buffer.find(delimiter)) < 0:
        fill()
    del buffer[: start + len(delimiter)]
    separator = b"\r\n" + delimiter
    fields: dict[str, str] = {}
    files: list[UploadedFile] = []
    while True:
        while len(buffer) < 2:
            fill()
        if buffer[:2] == b"--":
            break
        del buffer[:2]  # the CRLF after the delimiter
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            fill()
        part_headers = email.parser.BytesHeaderParser().parsebytes(
            bytes(buffer[:end]) + b"\r\n\r\n"
        )
        del buffer[: end + 4]
        digest, size, head = hashlib.sha256(), 0, bytearray()
        while True:
            found = buffer.find(separator)
            take = found if found >= 0 else max(len(buffer) - len(separator) + 1, 0)
            piece = bytes(buffer[:take])
            digest.update(piece)
            size += len(piece)
            if len(head) < 64 * 1024:
                head.extend(piece[: 64 * 1024 - len(head)])
            if found >= 0:
                del buffer[: found + len(separator)]
                break
            del buffer[:take]
            fill()
        name = part_headers.get_param("name", header="content-disposition") or ""
        filename = part_headers.get_param("filename", header="content-disposition")
        if filename is None:
            fields[str(name)] = bytes(head).decode("utf-8", "replace")
        else:
            files.append(
                UploadedFile(
                    field=str(name),
                    filename=str(filename),
                    content_type=part_headers.get("content-type", ""),
                    size=size,
                    sha256=digest.hexdigest(),
                    head=bytes(head[:64]),
                )
            )
    for _ in source:  # the epilogue: read it so the connection can be reused
        pass
    return fields, files


if __name__ == "__main__":  # python -m nanobot_core.testing.openai_server: see _serve.py
    from nanobot_core.testing._serve import main

    raise SystemExit(main())
