"""The OpenAI-compatible test server, exercised with the standard library's HTTP client."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanobot_core.testing.openai_server import (
    OpenAIServer,
    Response,
    _Counter,
    _parse_multipart,
    tool_call,
)


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as s:
        yield s


_opened: list[http.client.HTTPConnection] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def connect(server: OpenAIServer, timeout: float = 10) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    _opened.append(conn)
    return conn


def post_json(
    conn: http.client.HTTPConnection, path: str, body: Any, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    conn.request(
        "POST", path, body=json.dumps(body), headers={"content-type": "application/json", **headers}
    )
    response = conn.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def test_chat_default_reply_echoes_model_and_records_request(server: OpenAIServer) -> None:
    conn = connect(server)
    body = {"model": "m1", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.3}
    status, _, data = post_json(conn, "/v1/chat/completions", body, authorization="Bearer k")
    reply = json.loads(data)
    assert status == 200
    assert reply["model"] == "m1"
    assert reply["choices"][0]["message"] == {"role": "assistant", "content": "ok"}
    assert reply["choices"][0]["finish_reason"] == "stop"
    (recorded,) = server.chat.requests
    assert recorded.json == body
    assert recorded.headers["authorization"] == "Bearer k"
    assert recorded.method == "POST" and recorded.path == "/v1/chat/completions"
    assert server.requests == [recorded]


def test_queue_is_used_in_order_then_the_default(server: OpenAIServer) -> None:
    server.chat.push(Response.chat("one"), Response.chat("two"))
    server.chat.default = Response.chat("default")
    conn = connect(server)
    texts = []
    for _ in range(4):
        _, _, data = post_json(conn, "/v1/chat/completions", {"model": "m"})
        texts.append(json.loads(data)["choices"][0]["message"]["content"])
    assert texts == ["one", "two", "default", "default"]
    assert server.chat.pending == 0


def test_keep_alive_requests_share_one_connection(server: OpenAIServer) -> None:
    conn = connect(server)
    for _ in range(5):
        post_json(conn, "/v1/chat/completions", {"model": "m"})
    other = connect(server)
    post_json(other, "/v1/chat/completions", {"model": "m"})
    ids = [r.connection_id for r in server.requests]
    assert ids[:5] == [ids[0]] * 5
    assert ids[5] != ids[0]
    assert server.connection_count == 2
    assert server.open_connections == 2
    conn.close()
    other.close()
    server.wait_for(lambda: server.open_connections == 0)


def test_tool_calls_and_extra_fields(server: OpenAIServer) -> None:
    server.chat.push(
        Response.chat(
            None,
            tool_calls=[tool_call("get_weather", {"city": "Paris"}), tool_call("x", "{}", id="c9")],
            extra={"reasoning_content": "thinking"},
        )
    )
    _, _, data = post_json(connect(server), "/v1/chat/completions", {"model": "m"})
    choice = json.loads(data)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] is None
    assert message["reasoning_content"] == "thinking"
    assert message["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        },
        {"id": "c9", "type": "function", "function": {"name": "x", "arguments": "{}"}},
    ]


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
def test_error_responses(server: OpenAIServer, status: int) -> None:
    server.chat.push(Response.error(status, "nope", retry_after=3, headers={"x-extra": "1"}))
    got, headers, data = post_json(connect(server), "/v1/chat/completions", {"model": "m"})
    assert got == status
    assert headers["retry-after"] == "3"
    assert headers["x-extra"] == "1"
    assert json.loads(data)["error"]["message"] == "nope"


def test_raw_and_truncated_bodies(server: OpenAIServer) -> None:
    server.chat.push(Response.raw("<html>bad gateway</html>"), Response.truncated())
    conn = connect(server)
    status, headers, data = post_json(conn, "/v1/chat/completions", {"model": "m"})
    assert (status, data) == (200, b"<html>bad gateway</html>")
    assert headers["content-type"] == "application/json"
    conn.request("POST", "/v1/chat/completions", body=b"{}")
    response = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        response.read()


def test_latency_delays_the_answer(server: OpenAIServer) -> None:
    server.chat.push(Response.chat("late").after(0.2))
    started = time.monotonic()
    _, _, data = post_json(connect(server), "/v1/chat/completions", {"model": "m"})
    assert time.monotonic() - started >= 0.2
    assert json.loads(data)["choices"][0]["message"]["content"] == "late"


def test_hang_ends_when_the_client_leaves(server: OpenAIServer) -> None:
    server.chat.push(Response.hang())
    conn = connect(server, timeout=0.3)
    with pytest.raises(TimeoutError):
        post_json(conn, "/v1/chat/completions", {"model": "m"})
    assert server.open_connections == 1
    conn.close()
    server.wait_for(lambda: server.open_connections == 0)
    # the server still answers
    status, _, _ = post_json(connect(server), "/v1/chat/completions", {"model": "m"})
    assert status == 200


def test_stop_ends_hung_requests_and_idle_connections() -> None:
    server = OpenAIServer().start()
    idle = connect(server)
    post_json(idle, "/v1/chat/completions", {"model": "m"})
    server.chat.push(Response.hang())
    result: list[BaseException] = []

    def hung_client() -> None:
        try:
            post_json(connect(server), "/v1/chat/completions", {"model": "m"})
        except BaseException as error:
            result.append(error)

    thread = threading.Thread(target=hung_client)
    thread.start()
    server.wait_for(lambda: len(server.chat.requests) == 2)
    server.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert result and isinstance(result[0], http.client.RemoteDisconnected | ConnectionError)
    assert server.open_connections == 0
    assert not [t for t in threading.enumerate() if t.name == "openai-test-server"]


def test_speech_streams_given_bytes_in_chunks(server: OpenAIServer) -> None:
    audio = os.urandom(10_000)
    server.speech.push(Response.audio(audio, chunk_size=3000))
    status, headers, data = post_json(connect(server), "/v1/audio/speech", {"input": "hi"})
    assert status == 200
    assert headers["transfer-encoding"] == "chunked"
    assert headers["content-type"] == "audio/ogg"
    assert data == audio
    assert server.speech.requests[0].json == {"input": "hi"}


def test_speech_chunk_sizes_on_the_wire(server: OpenAIServer) -> None:
    server.speech.push(Response.audio(total=1000, chunk_size=300, content_type="audio/mpeg"))
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    raw = b""
    while not raw.endswith(b"0\r\n\r\n"):
        raw += sock.recv(65536)
    sock.close()
    body = raw.split(b"\r\n\r\n", 1)[1]
    sizes = []
    while True:
        line, _, body = body.partition(b"\r\n")
        size = int(line, 16)
        if size == 0:
            break
        sizes.append(size)
        body = body[size + 2 :]
    assert sizes == [300, 300, 300, 100]


def test_speech_stall_sends_a_prefix_then_nothing(server: OpenAIServer) -> None:
    server.speech.push(Response.audio(total=100_000, chunk_size=1000, stall_after=2500))
    conn = connect(server)
    conn.request("POST", "/v1/audio/speech", body=b"{}")
    response = conn.getresponse()
    assert len(response.read(2500)) == 2500
    conn.sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        response.read(1)
    conn.close()
    server.wait_for(lambda: server.open_connections == 0)


def multipart(boundary: str, fields: dict[str, str], file: bytes, filename: str) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: audio/ogg\r\n\r\n".encode()
        + file
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize("chunked", [False, True])
def test_transcription_upload_is_parsed_and_hashed(server: OpenAIServer, chunked: bool) -> None:
    file = os.urandom(3 * 1024 * 1024)
    body = multipart("b0und", {"model": "whisper-1", "language": "de"}, file, "voice.ogg")
    server.transcriptions.push(Response.transcription("hallo"))
    conn = connect(server)
    headers = {"content-type": "multipart/form-data; boundary=b0und"}
    if chunked:
        pieces = [body[i : i + 100_000] for i in range(0, len(body), 100_000)]
        conn.request(
            "POST",
            "/v1/audio/transcriptions",
            body=iter(pieces),
            headers=headers,
            encode_chunked=True,
        )
    else:
        conn.request("POST", "/v1/audio/transcriptions", body=body, headers=headers)
    response = conn.getresponse()
    assert json.loads(response.read()) == {"text": "hallo"}
    (recorded,) = server.transcriptions.requests
    assert recorded.fields == {"model": "whisper-1", "language": "de"}
    (uploaded,) = recorded.files
    assert (uploaded.field, uploaded.filename, uploaded.content_type) == (
        "file",
        "voice.ogg",
        "audio/ogg",
    )
    assert uploaded.size == len(file)
    assert uploaded.sha256 == hashlib.sha256(file).hexdigest()
    assert uploaded.head == file[:64]
    assert recorded.body_size == len(body)
    # the connection is still usable afterwards
    status, _, _ = post_json(conn, "/v1/chat/completions", {"model": "m"})
    assert status == 200
    assert server.connection_count == 1


@settings(max_examples=60, deadline=None)
@given(
    file=st.binary(max_size=300),
    value=st.text(max_size=20).filter(lambda s: "\r" not in s),
    cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=40),
)
def test_multipart_parser_is_independent_of_chunk_boundaries(
    file: bytes, value: str, cuts: list[int]
) -> None:
    body = multipart("xyzBOUNDARYxyz", {"a": value}, file, "f.bin")
    chunks, position = [], 0
    for cut in cuts:
        chunks.append(body[position : position + cut])
        position += cut
    chunks.append(body[position:])
    counter = _Counter(iter(chunks))
    fields, files = _parse_multipart(counter, b"xyzBOUNDARYxyz")
    assert fields == {"a": value}
    assert files[0].size == len(file)
    assert files[0].sha256 == hashlib.sha256(file).hexdigest()
    assert counter.size == len(body)


def test_models_and_unknown_paths(server: OpenAIServer) -> None:
    conn = connect(server)
    conn.request("GET", "/v1/models")
    listed = json.loads(conn.getresponse().read())
    assert [m["id"] for m in listed["data"]] == ["test-model"]
    status, _, data = post_json(conn, "/v1/nothing", {})
    assert status == 404
    assert "unknown path" in json.loads(data)["error"]["message"]
    assert [r.path for r in server.requests] == ["/v1/models", "/v1/nothing"]


def test_concurrent_clients_are_served_in_parallel(server: OpenAIServer) -> None:
    server.chat.default = Response.chat("slow", latency=0.3)
    results: list[int] = []

    def call() -> None:
        status, _, _ = post_json(connect(server), "/v1/chat/completions", {"model": "m"})
        results.append(status)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [200] * 20
    assert server.connection_count == 20
    assert server.errors == []


def test_wait_for_times_out_with_a_clear_error(server: OpenAIServer) -> None:
    with pytest.raises(TimeoutError, match="expected state"):
        server.wait_for(lambda: server.connection_count == 1, timeout=0.05)
