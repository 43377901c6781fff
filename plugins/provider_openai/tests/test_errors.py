"""Every failure becomes one user-facing line of the right class; the key never shows."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import trio
from nanobot_provider_openai import OpenAIChatModel

from nanobot_core import (
    ChatMessage,
    ChatRequest,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from nanobot_core.testing.openai_server import OpenAIServer, Response

from .conftest import KEY, make_config

HELLO = ChatRequest("test-model", (ChatMessage.of("user", "hello"),))


async def fail(server: OpenAIServer, response: Response, **config: Any) -> ProviderError:
    """Run one call that the server answers with ``response``; return the error raised."""
    settings = make_config(server, **config)
    server.chat.push(response)
    async with OpenAIChatModel(settings, settings.api_key) as model:  # type: ignore[arg-type]
        with pytest.raises(ProviderError) as caught:
            await model.complete(HELLO)
        # the same client keeps working after the failure
        server.chat.push(Response.chat("still here"))
        assert (await model.complete(HELLO)).text == "still here"
    error = caught.value
    text = str(error)
    assert "\n" not in text
    assert KEY not in text
    assert error.__cause__ is None and error.__suppress_context__
    return error


@pytest.mark.parametrize("status", [401, 403])
async def test_rejected_key(server: OpenAIServer, status: int) -> None:
    error = await fail(
        server, Response.error(status, f"Incorrect API key provided: {KEY}", code="invalid_api_key")
    )
    assert type(error) is ProviderAuthError
    assert str(error) == (
        f"127.0.0.1:{server.port} rejected the API key ({status}): check providers.openai.api_key"
    )


async def test_rate_limited_with_retry_after(server: OpenAIServer) -> None:
    error = await fail(server, Response.error(429, "Rate limit reached", retry_after=7))
    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after == 7
    assert str(error) == (
        f"127.0.0.1:{server.port} is rate limiting chat requests (429: Rate limit reached);"
        " retry in 7 s"
    )


async def test_rate_limited_with_retry_after_ms(server: OpenAIServer) -> None:
    error = await fail(server, Response.error(429, headers={"retry-after-ms": "1500"}))
    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after == 1.5


async def test_rate_limited_without_retry_after(server: OpenAIServer) -> None:
    error = await fail(server, Response.error(429, "You exceeded your current quota"))
    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after is None
    assert str(error).endswith("(429: You exceeded your current quota)")


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_after_retries(server: OpenAIServer, status: int) -> None:
    # retry-after-ms keeps the SDK's back-off short
    failing = Response.error(status, "overloaded", headers={"retry-after-ms": "10"})
    server.chat.push(failing, failing)
    error = await fail(server, failing, max_retries=2)
    assert type(error) is ProviderUnavailable
    assert str(error) == (
        f"127.0.0.1:{server.port} failed with a server error ({status}: overloaded)"
        " (after 2 retries)"
    )
    assert len(server.chat.requests) == 3 + 1  # three tries, then the check that it still works


async def test_server_error_then_success_is_retried_transparently(server: OpenAIServer) -> None:
    server.chat.push(Response.error(503, headers={"retry-after-ms": "10"}), Response.chat("fine"))
    settings = make_config(server, max_retries=1)
    async with OpenAIChatModel(settings, settings.api_key) as model:  # type: ignore[arg-type]
        assert (await model.complete(HELLO)).text == "fine"


async def test_bad_request_carries_the_provider_message(server: OpenAIServer) -> None:
    error = await fail(
        server, Response.error(400, f"Invalid 'messages[0]'.\n (key {KEY} was used)")
    )
    assert type(error) is ProviderBadRequest
    assert str(error) == (
        f"127.0.0.1:{server.port} refused the chat request"
        " (400: Invalid 'messages[0]'. (key <key> was used))"
    )


async def test_unknown_model(server: OpenAIServer) -> None:
    error = await fail(
        server, Response.error(404, "The model `gpt-9` does not exist", code="model_not_found")
    )
    assert type(error) is ProviderBadRequest
    assert str(error) == (
        f"127.0.0.1:{server.port} did not find what the chat request named"
        " (404: The model `gpt-9` does not exist): check the model id and"
        " providers.openai.base_url"
    )


async def test_timeout(server: OpenAIServer) -> None:
    error = await fail(server, Response.hang(), timeout=0.3)
    assert type(error) is ProviderTimeout
    assert str(error) == f"127.0.0.1:{server.port} did not answer within 0.3 s"


async def test_connection_refused() -> None:
    with socket.socket() as probe:  # a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with OpenAIServer() as server:
        settings = make_config(server, base_url=f"http://127.0.0.1:{port}/v1", max_retries=1)
    async with OpenAIChatModel(settings, settings.api_key) as model:  # type: ignore[arg-type]
        with pytest.raises(ProviderUnavailable) as caught:
            await model.complete(HELLO)
    assert str(caught.value) == (
        f"127.0.0.1:{port}: cannot connect (connection refused or host unreachable) (after 1 retry)"
    )


async def test_non_json_body(server: OpenAIServer) -> None:
    error = await fail(server, Response.raw("<html><body>502 Bad Gateway</body></html>"))
    assert type(error) is ProviderError
    assert str(error) == (
        f"127.0.0.1:{server.port} sent a response that is not JSON:"
        " is providers.openai.base_url an OpenAI-compatible API?"
    )


async def test_non_json_content_type(server: OpenAIServer) -> None:
    error = await fail(server, Response.raw("<html>hi</html>", content_type="text/html"))
    assert type(error) is ProviderError
    assert "sent a reply that is not a chat completion" in str(error)


@pytest.mark.parametrize(
    "document",
    [
        {"foo": 1},
        {"choices": "x"},
        {"choices": [{"message": {"content": 5}}]},
        {"choices": [{"message": {"content": "x", "tool_calls": [{"function": {"name": 1}}]}}]},
    ],
)
async def test_json_that_is_not_a_completion(server: OpenAIServer, document: Any) -> None:
    error = await fail(server, Response.json(document))
    assert type(error) is ProviderError
    assert str(error) == (
        f"127.0.0.1:{server.port} sent a reply that is not a chat completion:"
        " is providers.openai.base_url an OpenAI-compatible API?"
    )


async def test_truncated_body(server: OpenAIServer) -> None:
    error = await fail(server, Response.truncated())
    assert type(error) is ProviderUnavailable
    assert str(error) == (
        f"127.0.0.1:{server.port}: the connection broke off before a complete answer arrived"
    )


async def test_wrong_base_url_path(server: OpenAIServer) -> None:
    settings = make_config(server, base_url=server.url + "/api")
    async with OpenAIChatModel(settings, settings.api_key) as model:  # type: ignore[arg-type]
        with pytest.raises(ProviderBadRequest, match=r"check the model id and providers\.openai"):
            await model.complete(HELLO)


async def test_cancellation_is_not_translated(server: OpenAIServer) -> None:
    server.chat.push(Response.hang())
    settings = make_config(server)
    async with OpenAIChatModel(settings, settings.api_key) as model:  # type: ignore[arg-type]
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(model.complete, HELLO)
                await trio.to_thread.run_sync(server.wait_for, lambda: len(server.requests) == 1)
                scope.cancel()
    assert scope.cancelled_caught
