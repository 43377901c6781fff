"""The whole path: the model asks for ``time_get_current_time``, mcp-server-time answers,
and the model's next request carries the answer — through the real runtime and provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nanobot_core.access import AccessPolicy
from nanobot_core.testing import Harness
from nanobot_core.testing.openai_server import OpenAIServer, Response, tool_call

from .helpers import bin_path

pytest.importorskip("nanobot_provider_openai", reason="the end-to-end test needs provider_openai")


def config(server: OpenAIServer) -> dict[str, Any]:
    command = [bin_path("mcp-server-time"), "--local-timezone", "UTC"]
    return {
        "agent": {"model": "openai/gpt-test"},
        "providers": {
            "openai": {"base_url": server.base_url, "api_key": "sk-test", "max_retries": 0}
        },
        "tools": {"mcp": {"servers": {"time": {"command": command}}}},
    }


ENV = {"NANOBOT_LOAD_PLUGINS": "openai,tools_mcp"}


async def test_a_tool_call_reaches_the_real_server_and_its_answer_the_model(
    tmp_path: Path,
) -> None:
    with OpenAIServer() as server:
        server.chat.push(
            Response.chat(
                None, tool_calls=[tool_call("time_get_current_time", {"timezone": "UTC"})]
            ),
            Response.chat("It is noon somewhere."),
        )
        async with Harness.start(
            config(server), storage=tmp_path, entry_points=True, env=ENV
        ) as harness:
            reply = await harness.say("what time is it?")
        assert reply.text == "It is noon somewhere."
        first, second = server.chat.requests
        names = [t["function"]["name"] for t in first.json["tools"]]
        assert names == ["time_convert_time", "time_get_current_time"]
        spec = first.json["tools"][1]["function"]
        assert spec["parameters"]["required"] == ["timezone"]
        tool_message = second.json["messages"][-1]
        assert tool_message["role"] == "tool"
        answer = json.loads(tool_message["content"])
        assert answer["timezone"] == "UTC" and answer["datetime"].endswith("+00:00")
        assert server.errors == []


async def test_a_user_who_is_not_an_admin_is_not_offered_the_tools(tmp_path: Path) -> None:
    with OpenAIServer() as server:
        server.chat.push(Response.chat("No tools for you."))
        access = AccessPolicy(allow_from=["user"])
        async with Harness.start(
            config(server), storage=tmp_path, entry_points=True, env=ENV, access=access
        ) as harness:
            await harness.say("what time is it?")
        (request,) = server.chat.requests
        assert "tools" not in request.json or request.json["tools"] == []
