"""The plugin guide's example, run as written: a tool plugin tested with the harness."""

from __future__ import annotations

import re
import types
from pathlib import Path

from nanobot_core.testing import Harness, ScriptedChatModel, objects_plugin, tool_call

GUIDE = Path(__file__).parent.parent / "docs" / "plugin-guide.md"


def guide_plugin() -> types.ModuleType:
    source = GUIDE.read_text()
    code = re.search(r"```python\n# nanobot_clock/plugin.py\n(.*?)```", source, re.S)
    assert code is not None, "the guide's plugin example is missing"
    module = types.ModuleType("nanobot_clock_plugin")
    exec(compile(code.group(1), str(GUIDE), "exec"), module.__dict__)
    return module


async def test_the_guide_example_works(tmp_path: Path) -> None:
    plugin = guide_plugin()
    model = ScriptedChatModel([tool_call("clock", "{}"), "It is late."])
    config = {"agent": {"model": "scripted/m"}, "tools": {"clock": {"timezone": "UTC"}}}
    plugins = [plugin, objects_plugin(chat_models=[("scripted", model)])]
    async with Harness.start(config, plugins=plugins, storage=tmp_path) as bot:
        reply = await bot.say("what time is it?")
    assert reply.text == "It is late."
    tool_result = model.requests[1].messages[-1]
    assert tool_result.role == "tool" and tool_result.text.startswith("20")
    assert model.requests[0].tools[0].name == "clock"


async def test_the_guide_example_reports_a_bad_timezone(tmp_path: Path) -> None:
    plugin = guide_plugin()
    model = ScriptedChatModel([tool_call("clock", '{"timezone": "Mars/Olympus"}'), "ok"])
    config = {"agent": {"model": "scripted/m"}, "tools": {"clock": {}}}
    plugins = [plugin, objects_plugin(chat_models=[("scripted", model)])]
    async with Harness.start(config, plugins=plugins, storage=tmp_path) as bot:
        await bot.say("time on mars?")
    assert model.requests[1].messages[-1].text == "error: unknown timezone"
