"""The agent loop: tools called, validated and contained; the iteration cap holds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from nanobot_core import ChatMessage, ChatReply, ToolCall, ToolContext, ToolError
from nanobot_core.agent import EMPTY_REPLY, MAX_ARGUMENT_CHARS, Agent
from nanobot_core.testing import ScriptedChatModel, tool_call

CONTEXT = ToolContext(channel="test", chat_id="c", user_id="u", workdir=Path("/nonexistent"))


@attrs.define
class AddTool:
    description: str = "Add two integers."
    parameters: Mapping[str, Any] = attrs.field(
        factory=lambda: {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
            "additionalProperties": False,
        }
    )
    calls: list[Mapping[str, Any]] = attrs.field(factory=list)

    async def call(self, arguments: Mapping[str, Any], context: ToolContext) -> str:
        self.calls.append(arguments)
        if arguments["a"] < 0:
            raise ToolError("negative numbers are not supported")
        if arguments["a"] == 13:
            raise RuntimeError("unlucky")
        return str(arguments["a"] + arguments["b"])


def agent(model: ScriptedChatModel, tool: AddTool, max_iterations: int = 5) -> Agent:
    return Agent(
        model=model,
        model_id="m",
        system_prompt="be brief",
        tools={"add": tool},
        max_iterations=max_iterations,
    )


def tool_results(model: ScriptedChatModel) -> list[str]:
    return [m.text for m in model.requests[-1].messages if m.role == "tool"]


async def run(model: ScriptedChatModel, tool: AddTool, max_iterations: int = 5) -> str:
    user = ChatMessage.of("user", "what is 2+3?")
    result = await agent(model, tool, max_iterations).reply([], user, CONTEXT)
    return result.text


async def test_tool_round_trip() -> None:
    model = ScriptedChatModel([tool_call("add", json.dumps({"a": 2, "b": 3})), "It is 5."])
    tool = AddTool()
    assert await run(model, tool) == "It is 5."
    assert tool.calls == [{"a": 2, "b": 3}]
    assert tool_results(model) == ["5"]
    first = model.requests[0]
    assert first.messages[0].role == "system" and first.messages[0].text == "be brief"
    assert [spec.name for spec in first.tools] == ["add"]
    assert first.tools[0].parameters["required"] == ["a", "b"]


async def test_tool_error_goes_back_to_the_model() -> None:
    model = ScriptedChatModel([tool_call("add", '{"a": -1, "b": 1}'), "Sorry."])
    assert await run(model, AddTool()) == "Sorry."
    assert tool_results(model) == ["error: negative numbers are not supported"]


async def test_crashing_tool_is_contained() -> None:
    model = ScriptedChatModel([tool_call("add", '{"a": 13, "b": 1}'), "Hm."])
    assert await run(model, AddTool()) == "Hm."
    assert tool_results(model) == ["error: the tool add failed (RuntimeError)"]


async def test_unknown_tool() -> None:
    model = ScriptedChatModel([tool_call("multiply", "{}"), "ok"])
    await run(model, AddTool())
    assert tool_results(model) == ["error: unknown tool 'multiply' (available tools: add)"]


async def test_invalid_arguments_are_never_passed_to_the_tool() -> None:
    tool = AddTool()
    model = ScriptedChatModel(
        [
            tool_call("add", '{"a": 1', id="1"),
            tool_call("add", "[1, 2]", id="2"),
            tool_call("add", '{"a": "one", "b": 2}', id="3"),
            tool_call("add", '{"a": 1}', id="4"),
            "done",
        ]
    )
    await run(model, tool, max_iterations=10)
    assert tool.calls == []
    results = [m.text for m in model.requests[-1].messages if m.role == "tool"]
    assert results[0].startswith("error: invalid arguments for add: not valid JSON")
    assert results[1] == "error: invalid arguments for add: expected a JSON object"
    assert results[2] == "error: invalid arguments for add: a: 'one' is not of type 'integer'"
    assert results[3] == "error: invalid arguments for add: 'b' is a required property"


async def test_iteration_cap() -> None:
    model = ScriptedChatModel([tool_call("add", '{"a": 1, "b": 1}')] * 10)
    user = ChatMessage.of("user", "loop")
    result = await agent(model, AddTool(), max_iterations=3).reply([], user, CONTEXT)
    assert len(model.requests) == 3
    assert result.exhausted
    assert "I stopped after 3 model calls" in result.text


async def test_empty_model_reply_becomes_a_clear_line() -> None:
    model = ScriptedChatModel([ChatReply(text="  ")])
    assert await run(model, AddTool()) == EMPTY_REPLY


async def test_history_is_sent_between_system_and_user() -> None:
    model = ScriptedChatModel(["ok"])
    history = [ChatMessage.of("user", "earlier"), ChatMessage.of("assistant", "reply")]
    await agent(model, AddTool()).reply(history, ChatMessage.of("user", "now"), CONTEXT)
    assert [m.text for m in model.requests[0].messages] == ["be brief", "earlier", "reply", "now"]


async def test_tool_calls_carry_ids_back() -> None:
    model = ScriptedChatModel(
        [
            ChatReply(
                tool_calls=(
                    ToolCall("a1", "add", '{"a":1,"b":2}'),
                    ToolCall("a2", "add", '{"a":3,"b":4}'),
                )
            ),
            "x",
        ]
    )
    await run(model, AddTool())
    tools = [m for m in model.requests[-1].messages if m.role == "tool"]
    assert [(m.tool_call_id, m.text) for m in tools] == [("a1", "3"), ("a2", "7")]


async def test_provider_extra_fields_go_back_with_the_assistant_message() -> None:
    call = ToolCall("r1", "add", '{"a": 1, "b": 1}')
    model = ScriptedChatModel(
        [ChatReply(tool_calls=(call,), extra={"reasoning_content": "need to add"}), "2"]
    )
    await run(model, AddTool())
    assistant = next(m for m in model.requests[1].messages if m.role == "assistant")
    assert assistant.extra == {"reasoning_content": "need to add"}
    assert assistant.tool_calls == (call,)


def test_a_tool_with_an_invalid_schema_is_a_config_error() -> None:
    import pytest

    from nanobot_core import ConfigError

    bad = AddTool(parameters={"type": "object", "properties": {"a": {"type": "integr"}}})
    with pytest.raises(ConfigError) as caught:
        agent(ScriptedChatModel(), bad)
    assert str(caught.value).startswith("tool 'add': its parameters are not a valid JSON schema (")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"a": ' + "[" * 5000 + "]" * 5000 + ', "b": 1}', "nested more than 64 levels deep"),
        ('{"a": ' + "[" * 65 + "]" * 65 + ', "b": 1}', "nested more than 64 levels deep"),
        ('{"a": 1, "b": "' + "x" * MAX_ARGUMENT_CHARS + '"}', "at most 1,000,000 are accepted"),
    ],
)
async def test_deep_or_huge_arguments_are_a_tool_error_not_an_exception(
    arguments: str, message: str
) -> None:
    tool = AddTool()
    call = ToolCall(id="c1", name="add", arguments=arguments)
    result = await agent(ScriptedChatModel([]), tool).run_tool(call, CONTEXT)
    assert result.startswith("error: invalid arguments for add: ")
    assert message in result
    assert "\n" not in result
    assert tool.calls == []


async def test_arguments_64_levels_deep_are_still_checked_by_the_schema() -> None:
    tool = AddTool()
    deep = "[" * 63 + "]" * 63
    call = ToolCall(id="c1", name="add", arguments=f'{{"a": {deep}, "b": 1}}')
    result = await agent(ScriptedChatModel([]), tool).run_tool(call, CONTEXT)
    assert result.startswith("error: invalid arguments for add: a: ")  # not an integer
