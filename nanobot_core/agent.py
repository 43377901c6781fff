"""The agent loop: call the model, run the tools it asks for, until it answers."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import trio
from attrs import define, field, frozen

from .errors import ConfigError, ToolError
from .messages import ChatMessage, ChatRequest, ToolCall, ToolSpec
from .protocols import ChatModel, Tool, ToolContext, ToolSet
from .text import json_depth

log = logging.getLogger(__name__)

MAX_CONCURRENT_TOOLS = 4  # tool calls of one model reply run concurrently, this many at a time
EMPTY_REPLY = "The model returned an empty reply. Please try rephrasing your message."

MAX_ARGUMENT_CHARS = 1_000_000
"""Tool-call arguments longer than this are refused before they are parsed."""
MAX_ARGUMENT_DEPTH = 64
"""How deeply tool-call arguments may nest (schema validation recurses on them)."""


@frozen
class AgentResult:
    """The final reply text, and how many model calls it took."""

    text: str
    model_calls: int
    exhausted: bool = False


@define
class Agent:
    """One chat model with its tools; stateless between turns."""

    model: ChatModel
    model_id: str
    system_prompt: str
    tools: Mapping[str, Tool]
    max_iterations: int
    toolsets: Sequence[ToolSet] = ()
    """Tools known only at start-up, asked before every model call (``ToolSet``)."""
    _validators: dict[str, Any] = field(init=False, factory=dict)
    _dynamic: dict[str, tuple[Mapping[str, Any], Any]] = field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        """Check every tool's schema once, so ``nanobot check`` reports a bad one."""
        if not self.tools:
            return
        for name, tool in self.tools.items():
            try:
                self._validators[name] = _validator_for(tool.parameters)
            except ValueError as error:
                raise ConfigError(f"tool {name!r}: its parameters are {error}") from None

    def available(self, context: ToolContext) -> Mapping[str, Tool]:
        """The static tools, then each tool set's current tools (a taken name is skipped)."""
        if not self.toolsets:
            return self.tools
        tools = dict(self.tools)
        for toolset in self.toolsets:
            for name, tool in toolset.tools(context).items():
                tools.setdefault(name, tool)
        return tools

    def specs(self, tools: Mapping[str, Tool] | None = None) -> tuple[ToolSpec, ...]:
        return tuple(
            ToolSpec(name=name, description=tool.description, parameters=tool.parameters)
            for name, tool in sorted((self.tools if tools is None else tools).items())
        )

    def _validator(self, name: str, tool: Tool) -> Any:
        """The static tool's checked validator, or one made (and kept) for a tool set's tool."""
        if name in self._validators and self.tools.get(name) is tool:
            return self._validators[name]
        cached = self._dynamic.get(name)
        if cached is not None and cached[0] is tool.parameters:
            return cached[1]
        try:
            validator = _validator_for(tool.parameters)
        except ValueError as error:
            raise ValueError(f"the tool's schema is {error}") from None
        self._dynamic[name] = (tool.parameters, validator)
        return validator

    async def reply(
        self, history: Sequence[ChatMessage], user: ChatMessage, context: ToolContext
    ) -> AgentResult:
        """Run the loop for one user message; at most ``max_iterations`` model calls."""
        messages = [ChatMessage.of("system", self.system_prompt), *history, user]
        for call in range(1, self.max_iterations + 1):
            specs = self.specs(self.available(context))
            request = ChatRequest(model=self.model_id, messages=tuple(messages), tools=specs)
            reply = await self.model.complete(request)
            messages.append(reply.as_message())
            if not reply.tool_calls:
                return AgentResult(text=reply.text.strip() or EMPTY_REPLY, model_calls=call)
            results = await self._run_tools(reply.tool_calls, context)
            for tool_call, result in zip(reply.tool_calls, results, strict=True):
                messages.append(ChatMessage.of("tool", result, tool_call_id=tool_call.id))
        return AgentResult(
            text=(
                f"I stopped after {self.max_iterations} model calls without reaching an answer "
                "(the limit is [agent] max_tool_iterations). Please try a simpler request."
            ),
            model_calls=self.max_iterations,
            exhausted=True,
        )

    async def _run_tools(self, calls: Sequence[ToolCall], context: ToolContext) -> list[str]:
        """The calls of one reply, at most ``MAX_CONCURRENT_TOOLS`` at a time; results in order."""
        if len(calls) == 1:
            return [await self.run_tool(calls[0], context)]
        results = [""] * len(calls)
        limiter = trio.CapacityLimiter(MAX_CONCURRENT_TOOLS)

        async def one(index: int, call: ToolCall) -> None:
            async with limiter:
                results[index] = await self.run_tool(call, context)

        async with trio.open_nursery() as nursery:
            for index, call in enumerate(calls):
                nursery.start_soon(one, index, call)
        return results

    async def run_tool(self, call: ToolCall, context: ToolContext) -> str:
        """The tool's result, or an ``error: ...`` line the model can act on. Never raises."""
        tools = self.available(context)
        tool = tools.get(call.name)
        if tool is None:
            available = ", ".join(sorted(tools)) or "none"
            return f"error: unknown tool {call.name!r} (available tools: {available})"
        try:
            arguments = _arguments(call.arguments, self._validator(call.name, tool))
        except ValueError as error:
            return f"error: invalid arguments for {call.name}: {error}"
        except RecursionError:  # a schema that recurses on its own (a $ref cycle)
            return f"error: invalid arguments for {call.name}: too deeply nested to check"
        try:
            return await tool.call(arguments, context)
        except ToolError as error:
            return f"error: {error}"
        except Exception as error:
            log.exception("tool %s failed", call.name)
            return f"error: the tool {call.name} failed ({type(error).__name__})"


def _validator_for(schema: Mapping[str, Any]) -> Any:
    """A checked validator for ``schema``; ``ValueError("not a valid JSON schema (...)")``."""
    import jsonschema  # only configurations with tools pay for the import

    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as error:
        raise ValueError(f"not a valid JSON schema ({error.message})") from None
    return cls(schema)


def _arguments(raw: str, validator: Any) -> dict[str, Any]:
    """The call's arguments, parsed and checked against the tool's schema.

    Size and nesting are bounded first: the parser and the validator recurse.
    """
    import jsonschema

    if len(raw) > MAX_ARGUMENT_CHARS:
        raise ValueError(
            f"the arguments are {len(raw):,} characters; "
            f"at most {MAX_ARGUMENT_CHARS:,} are accepted"
        )
    try:
        arguments = json.loads(raw or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error.msg})") from None
    except RecursionError:
        arguments = None  # deeper than the parser goes: reported as too deep below
        depth = MAX_ARGUMENT_DEPTH + 1
    else:
        depth = json_depth(arguments, MAX_ARGUMENT_DEPTH)
    if depth > MAX_ARGUMENT_DEPTH:
        raise ValueError(f"nested more than {MAX_ARGUMENT_DEPTH} levels deep")
    if not isinstance(arguments, dict):
        raise ValueError("expected a JSON object")
    problem = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    if problem is not None:
        where = "/".join(str(p) for p in problem.absolute_path)
        raise ValueError(f"{where + ': ' if where else ''}{problem.message}")
    return arguments
