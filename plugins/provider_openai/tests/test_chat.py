"""The chat model through the real SDK against the test server, over real sockets."""

from __future__ import annotations

import base64
import json

import trio
from nanobot_provider_openai import OpenAIChatModel

from nanobot_core import ChatMessage, ChatRequest, ImagePart, TextPart, ToolSpec
from nanobot_core.testing.openai_server import OpenAIServer, Response, tool_call

from .conftest import KEY, make_config


def ask(text: str, model: str = "test-model") -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=(ChatMessage.of("system", "Be brief."), ChatMessage.of("user", text)),
    )


async def test_text_reply(server: OpenAIServer, model: OpenAIChatModel) -> None:
    server.chat.push(Response.chat("Hello there!"))
    reply = await model.complete(ask("hi", model="gpt-4o-mini"))
    assert reply.text == "Hello there!"
    assert reply.tool_calls == ()
    (request,) = server.chat.requests
    assert request.json == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
        ],
    }
    assert request.headers["authorization"] == f"Bearer {KEY}"


async def test_images_are_sent_as_base64_data_urls(
    server: OpenAIServer, model: OpenAIChatModel
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    jpeg = b"\xff\xd8\xff" + b"\x01" * 500
    message = ChatMessage(
        "user",
        (
            TextPart("what is this?"),
            ImagePart(png, "image/png"),
            ImagePart(jpeg, "image/jpeg"),
        ),
    )
    await model.complete(ChatRequest("vision-model", (message,)))
    (request,) = server.chat.requests
    content = request.json["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "what is this?"}
    urls = [part["image_url"]["url"] for part in content[1:]]
    assert [part["type"] for part in content[1:]] == ["image_url", "image_url"]
    assert urls[0].startswith("data:image/png;base64,")
    assert base64.b64decode(urls[0].split(",", 1)[1]) == png
    assert urls[1].startswith("data:image/jpeg;base64,")
    assert base64.b64decode(urls[1].split(",", 1)[1]) == jpeg


WEATHER = ToolSpec(
    name="get_weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


async def test_tool_call_round_trip(server: OpenAIServer, model: OpenAIChatModel) -> None:
    server.chat.push(
        Response.chat(None, tool_calls=[tool_call("get_weather", {"city": "Paris"}, id="c-7")]),
        Response.chat("It is sunny in Paris."),
    )
    history = ask("weather in Paris?").messages
    first = await model.complete(ChatRequest("m", history, tools=(WEATHER,)))
    assert first.text == ""
    (call,) = first.tool_calls
    assert (call.id, call.name, json.loads(call.arguments)) == (
        "c-7",
        "get_weather",
        {"city": "Paris"},
    )

    history += (first.as_message(), ChatMessage.of("tool", "sunny, 24 °C", tool_call_id="c-7"))
    second = await model.complete(ChatRequest("m", history, tools=(WEATHER,)))
    assert second.text == "It is sunny in Paris."

    sent = server.chat.requests
    assert sent[0].json["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    assistant, tool = sent[1].json["messages"][2:]
    assert assistant == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c-7",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert tool == {"role": "tool", "tool_call_id": "c-7", "content": "sunny, 24 °C"}


async def test_reasoning_fields_named_by_echo_reasoning_survive_in_history(
    server: OpenAIServer,
) -> None:
    server.chat.push(
        Response.chat(
            None,
            tool_calls=[tool_call("get_weather", {"city": "Oslo"})],
            extra={"reasoning_content": "I should look up the weather.", "refusal": None},
        ),
        Response.chat("Cold.", extra={"reasoning_content": "It is 2 °C."}),
    )
    config = make_config(server, echo_reasoning=("reasoning_content",))
    history = ask("weather in Oslo?").messages
    async with OpenAIChatModel(config, config.api_key) as model:  # type: ignore[arg-type]
        first = await model.complete(ChatRequest("m", history, tools=(WEATHER,)))
        assert first.extra == {"reasoning_content": "I should look up the weather."}
        history += (
            first.as_message(),
            ChatMessage.of("tool", "2 °C", tool_call_id=first.tool_calls[0].id),
        )
        second = await model.complete(ChatRequest("m", history, tools=(WEATHER,)))
    assert second.extra == {"reasoning_content": "It is 2 °C."}
    sent_back = server.chat.requests[1].json["messages"][2]
    assert sent_back["reasoning_content"] == "I should look up the weather."
    assert sent_back["tool_calls"][0]["function"]["name"] == "get_weather"


async def test_by_default_only_reasoning_details_are_echoed(
    server: OpenAIServer, model: OpenAIChatModel
) -> None:
    # OpenRouter needs reasoning_details back for tool use; Groq rejects reasoning_content;
    # a field nobody asked for (vendor_field) is never sent back.
    details = [{"type": "reasoning.text", "text": "Look it up.", "format": "anthropic-claude-v1"}]
    extra = {"reasoning_details": details, "reasoning_content": "hm", "vendor_field": {"a": 1}}
    server.chat.push(
        Response.chat(None, tool_calls=[tool_call("get_weather", {"city": "Oslo"})], extra=extra)
    )
    history = ask("weather in Oslo?").messages
    first = await model.complete(ChatRequest("m", history, tools=(WEATHER,)))
    assert first.extra == {"reasoning_details": details}
    history += (
        first.as_message(),
        ChatMessage.of("tool", "2 °C", tool_call_id=first.tool_calls[0].id),
    )
    await model.complete(ChatRequest("m", history, tools=(WEATHER,)))
    sent_back = server.chat.requests[1].json["messages"][2]
    assert sent_back["reasoning_details"] == details
    assert "reasoning_content" not in sent_back
    assert "vendor_field" not in sent_back


async def test_echo_reasoning_can_be_turned_off(server: OpenAIServer) -> None:
    server.chat.push(
        Response.chat(
            None,
            tool_calls=[tool_call("get_weather", {})],
            extra={"reasoning_details": [{"type": "x"}]},
        )
    )
    config = make_config(server, echo_reasoning=())
    async with OpenAIChatModel(config, config.api_key) as model:  # type: ignore[arg-type]
        first = await model.complete(ChatRequest("m", ask("?").messages, tools=(WEATHER,)))
    assert first.extra == {}


async def test_plain_assistant_history_is_text(
    server: OpenAIServer, model: OpenAIChatModel
) -> None:
    history = (
        ChatMessage.of("user", "one"),
        ChatMessage.of("assistant", "two"),
        ChatMessage.of("user", "three"),
    )
    await model.complete(ChatRequest("m", history))
    assert server.chat.requests[0].json["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]


async def test_config_reaches_the_server(server: OpenAIServer) -> None:
    config = make_config(
        server, temperature=0.2, max_tokens=321, extra_headers={"X-Title": "nanobot"}
    )
    async with OpenAIChatModel(config, config.api_key) as model:  # type: ignore[arg-type]
        await model.complete(ask("hi"))
    (request,) = server.chat.requests
    assert request.json["temperature"] == 0.2
    assert request.json["max_tokens"] == 321
    assert request.headers["x-title"] == "nanobot"


async def test_unset_options_are_not_sent(server: OpenAIServer, model: OpenAIChatModel) -> None:
    await model.complete(ask("hi"))
    body = server.chat.requests[0].json
    assert "temperature" not in body
    assert "max_tokens" not in body
    assert "tools" not in body


async def test_sequential_calls_reuse_one_connection(
    server: OpenAIServer, model: OpenAIChatModel
) -> None:
    for n in range(20):
        server.chat.push(Response.chat(f"reply {n}"))
        assert (await model.complete(ask(f"q {n}"))).text == f"reply {n}"
    assert len(server.chat.requests) == 20
    assert {r.connection_id for r in server.chat.requests} == {1}
    assert server.connection_count == 1


async def test_concurrent_calls_share_the_client(
    server: OpenAIServer, model: OpenAIChatModel
) -> None:
    server.chat.default = Response.chat("ok", latency=0.1)
    replies: list[str] = []

    async def one() -> None:
        replies.append((await model.complete(ask("hi"))).text)

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(one)
    assert replies == ["ok"] * 10
    # the requests overlapped on separate connections of one pool
    assert server.connection_count == 10
    # ...which are kept for reuse
    for _ in range(10):
        await model.complete(ask("again"))
    assert server.connection_count == 10


async def test_cancellation_mid_request_leaves_no_connection_and_client_works(
    server: OpenAIServer, model: OpenAIChatModel
) -> None:
    server.chat.push(Response.hang())
    with trio.move_on_after(0.5) as scope:
        await model.complete(ask("this will hang"))
    assert scope.cancelled_caught
    assert len(server.chat.requests) == 1
    # the client closed the connection it was waiting on: the server sees it go away
    await trio.to_thread.run_sync(server.wait_for, lambda: server.open_connections == 0)
    reply = await model.complete(ask("hello again"))
    assert reply.text == "ok"
    assert server.connection_count == 2
    assert server.open_connections == 1


async def test_closing_the_model_closes_its_connections(server: OpenAIServer) -> None:
    config = make_config(server)
    async with OpenAIChatModel(config, config.api_key) as model:  # type: ignore[arg-type]
        await model.complete(ask("hi"))
        assert server.open_connections == 1
    await trio.to_thread.run_sync(server.wait_for, lambda: server.open_connections == 0)
