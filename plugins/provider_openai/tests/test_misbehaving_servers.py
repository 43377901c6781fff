"""Servers that misbehave: each gives one clear line, bounded memory, no hang."""

from __future__ import annotations

import math
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import nanobot_provider_openai.plugin as provider_plugin
import pytest
import trio
from nanobot_provider_openai import OpenAIChatModel, OpenAITranscriber
from nanobot_provider_openai.chat import CUT_BEFORE_TOOLS, CUT_BY_LENGTH, FILTERED, FILTERED_ALL

from nanobot_core import (
    ChatMessage,
    ChatRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ToolContext,
)
from nanobot_core.testing import Harness, objects_plugin
from nanobot_core.testing.openai_server import OpenAIServer, Response, nested, tool_call

from .conftest import KEY, make_config

HELLO = ChatRequest("m", (ChatMessage.of("user", "hello"),))
MiB = 1024 * 1024


async def complete(server: OpenAIServer, **config: Any) -> Any:
    settings = make_config(server, **config)
    async with OpenAIChatModel(settings, settings.api_key) as model:  # type: ignore[arg-type]
        return await model.complete(HELLO)


async def failure(server: OpenAIServer, response: Response, **config: Any) -> ProviderError:
    server.chat.push(response)
    with trio.fail_after(10), pytest.raises(ProviderError) as caught:
        await complete(server, **config)
    message = str(caught.value)
    assert "\n" not in message and KEY not in message
    return caught.value


async def test_an_endless_body_is_abandoned_at_the_byte_cap(server: OpenAIServer) -> None:
    error = await failure(server, Response.endless(b'{"choices": ['), max_response_bytes=MiB)
    assert str(error) == (
        f"127.0.0.1:{server.port} sent a chat response over 1 MiB; it was abandoned "
        "(the limit is providers.openai.max_response_bytes)"
    )
    await trio.to_thread.run_sync(server.wait_for, lambda: server.open_connections == 0)


async def test_a_100_mb_body_is_refused_by_its_length_before_it_is_read(
    server: OpenAIServer,
) -> None:
    started = time.monotonic()
    error = await failure(server, Response.sized(100 * MiB, prefix='{"a": "'))
    assert "sent a chat response over 16 MiB; it was abandoned" in str(error)
    assert time.monotonic() - started < 2  # not 100 MB read first


async def test_a_100_mb_chunked_body_is_abandoned_at_the_default_cap(
    server: OpenAIServer,
) -> None:
    big = Response.audio(total=100 * MiB, chunk_size=MiB, content_type="application/json")
    error = await failure(server, big)
    assert "over 16 MiB; it was abandoned" in str(error)


async def test_a_gzip_body_counts_after_decoding(server: OpenAIServer) -> None:
    import gzip

    bomb = gzip.compress(b" " * (8 * MiB))  # 8 KB on the wire
    response = Response.raw(bomb, headers={"content-encoding": "gzip"})
    error = await failure(server, response, max_response_bytes=MiB)
    assert "over 1 MiB; it was abandoned" in str(error)


async def test_a_gzip_body_within_the_cap_is_read(server: OpenAIServer) -> None:
    import gzip
    import json

    body = {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "z"}}
        ],
    }
    server.chat.push(
        Response.raw(gzip.compress(json.dumps(body).encode()), headers={"content-encoding": "gzip"})
    )
    assert (await complete(server)).text == "z"
    assert server.chat.requests[0].headers["accept-encoding"] == "identity"


async def test_a_slow_trickle_meets_the_whole_request_deadline(server: OpenAIServer) -> None:
    # each byte comes well within `timeout`, the whole answer would take 20 s
    trickle = Response.trickle(b'{"choices": [' + b" " * 200, every=0.1)
    started = time.monotonic()
    error = await failure(server, trickle, timeout=0.5)
    assert isinstance(error, ProviderTimeout)
    assert str(error) == f"127.0.0.1:{server.port} did not finish its chat answer within 0.5 s"
    assert time.monotonic() - started < 2


async def test_a_redirect_to_another_origin_is_not_followed(server: OpenAIServer) -> None:
    with OpenAIServer() as elsewhere:
        server.chat.push(Response.redirect(f"{elsewhere.base_url}/chat/completions"))
        error = await failure(server, Response.chat("unused"), extra_headers={"X-Gw": "gw-key"})
        assert str(error) == (
            f"127.0.0.1:{server.port} redirected the chat request to 127.0.0.1:{elsewhere.port}; "
            f"nanobot sends requests only to 127.0.0.1:{server.port} "
            "(check providers.openai.base_url)"
        )
        assert elsewhere.requests == []  # not the conversation, not the key, not X-Gw


async def test_a_redirect_within_the_origin_is_followed_with_the_credentials(
    server: OpenAIServer,
) -> None:
    server.chat.push(Response.redirect(f"{server.base_url}/chat/completions"), Response.chat("hi"))
    reply = await complete(server, extra_headers={"X-Gw": "gw-key"})
    assert reply.text == "hi"
    second = server.chat.requests[1]
    assert second.headers["authorization"] == f"Bearer {KEY}"
    assert second.headers["x-gw"] == "gw-key"
    assert second.json["messages"] == [{"role": "user", "content": "hello"}]


async def test_a_lone_surrogate_is_replaced(server: OpenAIServer) -> None:
    server.chat.push(Response.chat("hi \ud800 there \ud83d\ude00"))
    reply = await complete(server)
    assert reply.text == "hi \ufffd there 😀"
    reply.text.encode("utf-8")  # any channel can send it


async def test_a_body_nested_thousands_deep_is_one_line(server: OpenAIServer) -> None:
    body = (
        '{"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": '
        '[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", '
        f'"content": "x", "reasoning_details": {nested(5000)}}}}}]}}'
    )
    error = await failure(server, Response.raw(body))
    assert "sent a response nested too deeply to read" in str(error)


async def test_an_echoed_field_nested_too_deep_is_one_line(server: OpenAIServer) -> None:
    deep: Any = 1
    for _ in range(100):
        deep = [deep]
    error = await failure(server, Response.chat("x", extra={"reasoning_details": deep}))
    assert "sent a reply nested over 64 levels deep" in str(error)


async def test_a_refusal_is_the_reply(server: OpenAIServer) -> None:
    server.chat.push(Response.chat(None, refusal="I can't help with that."))
    assert (await complete(server)).text == "I can't help with that."


async def test_a_reply_cut_by_length_says_so_at_its_end(server: OpenAIServer) -> None:
    server.chat.push(Response.chat("The answer is", finish_reason="length"))
    assert (await complete(server)).text == f"The answer is\n\n{CUT_BY_LENGTH}"


async def test_tool_calls_cut_by_length_are_not_run(server: OpenAIServer) -> None:
    server.chat.push(
        Response.chat(None, tool_calls=[tool_call("f", '{"a": ')], finish_reason="length")
    )
    reply = await complete(server)
    assert reply.tool_calls == ()
    assert reply.text == CUT_BEFORE_TOOLS


@pytest.mark.parametrize(
    ("text", "expected"), [("Part", f"Part\n\n{FILTERED}"), ("", FILTERED_ALL)]
)
async def test_a_content_filter_says_so(server: OpenAIServer, text: str, expected: str) -> None:
    server.chat.push(Response.chat(text, finish_reason="content_filter"))
    assert (await complete(server)).text == expected


async def test_no_choices_is_no_answer(server: OpenAIServer) -> None:
    error = await failure(server, Response.no_choices())
    assert str(error) == (
        f"127.0.0.1:{server.port}: the server sent no answer (a chat completion without choices)"
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -5.0, 1e9])
async def test_retry_after_that_is_not_a_sane_number_is_dropped(
    server: OpenAIServer, value: float
) -> None:
    error = await failure(server, Response.error(429, "slow down", retry_after=value))
    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after is None
    assert str(error) == f"127.0.0.1:{server.port} is rate limiting chat requests (429: slow down)"


async def test_ansi_escapes_in_a_server_error_are_removed(server: OpenAIServer) -> None:
    error = await failure(server, Response.error(400, "bad \x1b[2J\x1b]0;pwned\x07request"))
    assert str(error).endswith("(400: bad request)")


async def test_an_endless_transcription_is_abandoned(server: OpenAIServer, tmp_path: Path) -> None:
    audio = tmp_path / "voice.ogg"
    audio.write_bytes(b"OggS" + bytes(1000))
    server.transcriptions.push(Response.endless(b'{"text": "'))
    config = make_config(server, max_response_bytes=MiB)
    async with OpenAITranscriber(config, config.api_key) as transcriber:  # type: ignore[arg-type]
        with trio.fail_after(10), pytest.raises(ProviderError) as caught:
            await transcriber.transcribe(audio)
    assert str(caught.value) == (
        f"127.0.0.1:{server.port} sent a transcription response over 1 MiB; it was abandoned "
        "(the limit is providers.openai.max_response_bytes)"
    )


async def test_length_options_and_temperature_are_sent_only_when_set(
    server: OpenAIServer,
) -> None:
    await complete(server, max_completion_tokens=500)
    await complete(server)
    first, second = server.chat.requests
    assert first.json["max_completion_tokens"] == 500
    assert "max_tokens" not in first.json and "temperature" not in first.json
    assert set(second.json) == {"model", "messages"}


PEAK_SCRIPT = textwrap.dedent(
    """
    import pathlib, resource, sys, trio
    from nanobot_core import ChatMessage, ChatRequest, ProviderError, Secret
    from nanobot_provider_openai import OpenAIChatModel, OpenAIConfig, OpenAITranscriber
    from nanobot_core.testing.openai_server import OpenAIServer, Response

    CAP = int(sys.argv[1])
    AUDIO = pathlib.Path(sys.argv[2])

    def peak() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    async def main() -> None:
        with OpenAIServer() as server:
            config = OpenAIConfig(api_key=Secret("k"), base_url=server.base_url,
                                  max_retries=0, max_response_bytes=CAP)
            request = ChatRequest("m", (ChatMessage.of("user", "hi"),))
            async with OpenAIChatModel(config, config.api_key) as model, \\
                    OpenAITranscriber(config, config.api_key) as transcriber:
                await model.complete(request)  # warm: imports, connection
                await transcriber.transcribe(AUDIO)
                before = peak()
                for body in (Response.endless(b'{"choices": ['),
                             Response.audio(total=100 * 2**20, chunk_size=2**20)):
                    server.chat.push(body)
                    try:
                        await model.complete(request)
                    except ProviderError as error:
                        print(error, file=sys.stderr)
                server.transcriptions.push(Response.endless(b'{"text": "'))
                try:
                    await transcriber.transcribe(AUDIO)
                except ProviderError as error:
                    print(error, file=sys.stderr)
                print(peak() - before)

    trio.run(main)
    """
)


async def test_peak_memory_stays_under_the_cap_plus_a_margin(tmp_path: Path) -> None:
    import sys

    audio = tmp_path / "voice.ogg"
    audio.write_bytes(b"OggS" + bytes(1000))
    cap = 8 * MiB
    with trio.fail_after(60):
        result = await trio.run_process(
            [sys.executable, "-c", PEAK_SCRIPT, str(cap), str(audio)],
            capture_stdout=True,
            capture_stderr=True,
        )
    lines = result.stderr.decode().splitlines()
    assert len([line for line in lines if "it was abandoned" in line]) == 3, lines
    growth = int(result.stdout)
    # httpx joins the chunks it read (twice the cap at most) and nothing else stays
    assert growth < 2 * cap + 24 * MiB, f"peak grew by {growth / MiB:.1f} MiB"


@attrs.define
class EchoTool:
    description: str = "Echo the argument."
    parameters: Mapping[str, Any] = attrs.field(
        factory=lambda: {"type": "object", "properties": {"x": {}}}
    )
    calls: list[Mapping[str, Any]] = attrs.field(factory=list)

    async def call(self, arguments: Mapping[str, Any], context: ToolContext) -> str:
        self.calls.append(arguments)
        return "echoed"


async def test_tool_arguments_nested_5000_deep_go_back_to_the_model_as_a_tool_error(
    server: OpenAIServer, tmp_path: Path
) -> None:
    tool = EchoTool()
    server.chat.push(
        Response.chat(None, tool_calls=[tool_call("echo", '{"x": ' + nested(5000) + "}")]),
        Response.chat("I could not use the tool."),
    )
    config = {
        "agent": {"model": "openai/m"},
        "providers": {"openai": {"api_key": KEY, "base_url": server.base_url, "max_retries": 0}},
        "tools": {"echo": {}},
    }
    plugins = [provider_plugin, objects_plugin(tools=[("echo", tool)])]
    async with Harness.start(config, plugins=plugins, storage=tmp_path) as bot:
        reply = await bot.say("go")
    assert reply.text == "I could not use the tool."
    assert tool.calls == []
    result = server.chat.requests[1].json["messages"][-1]
    assert result["role"] == "tool"
    assert result["content"] == "error: invalid arguments for echo: nested more than 64 levels deep"
