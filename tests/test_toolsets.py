"""``ToolSet``: tools known only once a plugin has started, asked for before each model call."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing

from nanobot_core import ChatMessage, Tool, ToolContext, ToolSet
from nanobot_core.agent import Agent
from nanobot_core.testing import Harness, ScriptedChatModel, objects_plugin, tool_call

CONTEXT = ToolContext(channel="test", chat_id="c", user_id="u", workdir=Path("/nonexistent"))
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


@attrs.define
class Echo:
    label: str
    description: str = "Echo n."
    parameters: Mapping[str, Any] = attrs.field(factory=lambda: SCHEMA)

    async def call(self, arguments: Mapping[str, Any], context: ToolContext) -> str:
        return f"{self.label}:{arguments['n']}:{'admin' if context.admin else 'user'}"


@attrs.define
class Dynamic:
    """A tool set whose tools change while it runs (as an MCP server's do)."""

    current: dict[str, Tool] = attrs.field(factory=dict)
    asked: list[ToolContext] = attrs.field(factory=list)
    entered: bool = False

    def tools(self, context: ToolContext) -> Mapping[str, Tool]:
        self.asked.append(context)
        return dict(self.current)

    async def __aenter__(self) -> Dynamic:
        self.entered = True
        self.current = {"late_echo": Echo("late")}
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.entered = False


def make(
    model: ScriptedChatModel, toolset: Dynamic, static: dict[str, Tool] | None = None
) -> Agent:
    return Agent(
        model=model,
        model_id="m",
        system_prompt="",
        tools=static or {},
        max_iterations=5,
        toolsets=(toolset,),
    )


async def test_a_tool_sets_tools_are_offered_and_called() -> None:
    toolset = Dynamic(current={"late_echo": Echo("late")})
    assert isinstance(toolset, ToolSet) and not isinstance(toolset, Tool)
    model = ScriptedChatModel([tool_call("late_echo", json.dumps({"n": 1})), "done"])
    result = await make(model, toolset).reply([], ChatMessage.of("user", "hi"), CONTEXT)
    assert result.text == "done"
    assert [spec.name for spec in model.requests[0].tools] == ["late_echo"]
    assert [m.text for m in model.requests[1].messages if m.role == "tool"] == ["late:1:user"]
    assert toolset.asked and toolset.asked[0] is CONTEXT


async def test_the_list_is_asked_again_before_every_model_call() -> None:
    toolset = Dynamic(current={"a": Echo("a")})

    class Model(ScriptedChatModel):
        async def complete(self, request: Any) -> Any:
            toolset.current = {"b": Echo("b")}  # the server's list changed meanwhile
            return await super().complete(request)

    model = Model([tool_call("a", '{"n": 1}'), "done"])
    await make(model, toolset).reply([], ChatMessage.of("user", "hi"), CONTEXT)
    assert [spec.name for spec in model.requests[0].tools] == ["a"]
    assert [spec.name for spec in model.requests[1].tools] == ["b"]
    tool_results = [m.text for m in model.requests[1].messages if m.role == "tool"]
    assert tool_results == ["error: unknown tool 'a' (available tools: b)"]


async def test_schemas_are_checked_when_the_tool_is_called() -> None:
    bad = Echo("bad", parameters={"type": "object", "properties": {"n": {"type": 12}}})
    model = ScriptedChatModel([tool_call("x", '{"n": 1}'), tool_call("ok", '{"n": "1"}'), "k"])
    await make(model, Dynamic(current={"x": bad, "ok": Echo("ok")})).reply(
        [], ChatMessage.of("user", "hi"), CONTEXT
    )
    results = [m.text for m in model.requests[-1].messages if m.role == "tool"]
    assert results[0].startswith(
        "error: invalid arguments for x: the tool's schema is not a valid JSON schema ("
    )
    assert results[1] == "error: invalid arguments for ok: n: '1' is not of type 'integer'"


async def test_a_static_tool_keeps_its_name() -> None:
    model = ScriptedChatModel([tool_call("same", '{"n": 2}'), "k"])
    toolset = Dynamic(current={"same": Echo("dynamic")})
    await make(model, toolset, {"same": Echo("static")}).reply(
        [], ChatMessage.of("user", "hi"), CONTEXT
    )
    assert [m.text for m in model.requests[-1].messages if m.role == "tool"] == ["static:2:user"]


async def test_the_runtime_enters_a_registered_tool_set_and_tells_it_who_is_admin(
    tmp_path: Path,
) -> None:
    toolset = Dynamic()
    model = ScriptedChatModel([tool_call("late_echo", '{"n": 3}'), "done"] * 2)
    plugin = objects_plugin(chat_models=[("scripted", model)], tools=[("dyn", toolset)])
    config = {"agent": {"model": "scripted/x"}, "tools": {"dyn": {}}}
    async with Harness.start(config, plugins=[plugin], storage=tmp_path) as harness:
        assert toolset.entered
        await harness.say("hi")  # the recording channel is an operator's: admin
        assert harness.runtime.components.toolsets == {"dyn": toolset}
    assert not toolset.entered
    assert [m.text for m in model.requests[1].messages if m.role == "tool"] == ["late:3:admin"]


@attrs.define
class Slow:
    running: list[int]
    peak: list[int]
    description: str = "Wait a second."
    parameters: Mapping[str, Any] = attrs.field(factory=lambda: SCHEMA)

    async def call(self, arguments: Mapping[str, Any], context: ToolContext) -> str:
        self.running.append(arguments["n"])
        self.peak[0] = max(self.peak[0], len(self.running))
        await trio.sleep(1)
        self.running.remove(arguments["n"])
        return f"slow:{arguments['n']}"


async def test_the_calls_of_one_reply_run_concurrently_bounded_results_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from nanobot_core import ChatReply, ToolCall
    from nanobot_core.agent import MAX_CONCURRENT_TOOLS

    peak = [0]
    slow = Slow(running=[], peak=peak)
    calls = tuple(
        ToolCall(id=f"c{n}", name="slow", arguments=json.dumps({"n": n})) for n in range(6)
    )
    model = ScriptedChatModel([ChatReply(tool_calls=calls), "done"])
    begun = trio.current_time()
    await make(model, Dynamic(current={"slow": slow})).reply(
        [], ChatMessage.of("user", "hi"), CONTEXT
    )
    assert trio.current_time() - begun == 2.0  # 6 calls, 4 at a time, 1 s each
    assert peak == [MAX_CONCURRENT_TOOLS] == [4]
    tool_messages = [m for m in model.requests[1].messages if m.role == "tool"]
    assert [m.text for m in tool_messages] == [f"slow:{n}" for n in range(6)]
    assert [m.tool_call_id for m in tool_messages] == [f"c{n}" for n in range(6)]
