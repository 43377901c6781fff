"""The test server's misbehaving answers, read with the standard library's HTTP client."""

from __future__ import annotations

import http.client
import json
import math
import time
from collections.abc import Iterator

import pytest

from nanobot_core.testing.openai_server import OpenAIServer, Response, nested


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as s:
        yield s
        assert s.errors == []


_opened: list[http.client.HTTPConnection] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def post(server: OpenAIServer, path: str = "/v1/chat/completions") -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    _opened.append(conn)
    conn.request("POST", path, body=b"{}", headers={"content-type": "application/json"})
    return conn.getresponse()


def test_endless_body_keeps_coming_until_the_client_leaves(server: OpenAIServer) -> None:
    server.chat.push(Response.endless(b'{"choices": ['))
    response = post(server)
    assert response.getheader("transfer-encoding") == "chunked"
    assert response.read(13) == b'{"choices": ['
    read = sum(len(response.read(65536)) for _ in range(200))  # 13 MB and counting
    assert read == 200 * 65536
    _opened.pop().close()
    server.wait_for(lambda: server.open_connections == 0)


def test_endless_body_ends_when_the_server_stops() -> None:
    with OpenAIServer() as server:
        server.speech.push(Response.endless(content_type="audio/ogg", chunk_delay=0.01))
        response = post(server, "/v1/audio/speech")
        assert response.getheader("content-type") == "audio/ogg"
        response.read(1000)  # the client stays connected, not reading
    # leaving the block joined every thread: nothing is left sending


def test_sized_body_announces_its_length(server: OpenAIServer) -> None:
    server.chat.push(Response.sized(100 * 1024 * 1024, prefix='{"a": "'))
    response = post(server)
    assert response.getheader("content-length") == str(100 * 1024 * 1024)
    assert response.read(7) == b'{"a": "'
    response.close()


def test_trickle_sends_the_body_slowly(server: OpenAIServer) -> None:
    server.chat.push(Response.trickle(b'{"x": 1}', every=0.05))
    started = time.monotonic()
    response = post(server)
    assert json.loads(response.read()) == {"x": 1}
    assert time.monotonic() - started >= 7 * 0.05


def test_redirect_names_its_target(server: OpenAIServer) -> None:
    server.chat.push(Response.redirect("http://127.0.0.1:9/v1/chat/completions"))
    response = post(server)
    assert response.status == 307
    assert response.getheader("location") == "http://127.0.0.1:9/v1/chat/completions"


def test_refusal_no_choices_and_finish_reasons(server: OpenAIServer) -> None:
    server.chat.push(
        Response.chat(None, refusal="I can't help with that."),
        Response.no_choices(),
        Response.chat("cut", finish_reason="length"),
    )
    refused = json.loads(post(server).read())
    assert refused["choices"][0]["message"] == {
        "role": "assistant",
        "content": None,
        "refusal": "I can't help with that.",
    }
    assert json.loads(post(server).read())["choices"] == []
    assert json.loads(post(server).read())["choices"][0]["finish_reason"] == "length"


def test_surrogates_and_escapes_reach_the_client_as_sent(server: OpenAIServer) -> None:
    server.chat.push(Response.chat("hi \ud800 \x1b[2J there"))
    body = post(server).read()
    assert b"\\ud800" in body and b"\\u001b[2J" in body
    assert json.loads(body)["choices"][0]["message"]["content"] == "hi \ud800 \x1b[2J there"


def test_nested_builds_json_deeper_than_json_dumps_can() -> None:
    text = nested(5000)
    assert text.startswith("[[[") and len(text) == 10001
    with pytest.raises(RecursionError):
        json.loads(text)
    assert json.loads(nested(3)) == [[[1]]]


@pytest.mark.parametrize(
    ("value", "header"), [(math.nan, "nan"), (math.inf, "inf"), (1e9, "1000000000")]
)
def test_retry_after_values_a_client_must_not_trust(
    server: OpenAIServer, value: float, header: str
) -> None:
    server.chat.push(Response.error(429, retry_after=value))
    response = post(server)
    assert response.status == 429
    assert response.getheader("retry-after") == header
