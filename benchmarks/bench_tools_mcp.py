"""MCP tool calls: through nanobot against a direct ``mcp`` client call; start-up of 5 servers vs 1.

Run: ``python benchmarks/bench_tools_mcp.py``. Prints medians and ratios.

- ``call``: ``get_current_time`` of the real ``mcp-server-time`` over stdio.
  ``direct`` is the SDK's ``ClientSession.call_tool`` on a connection of its
  own; ``nanobot`` is the core's ``Agent.run_tool`` (JSON arguments parsed and
  validated against the schema, access check, the tool set's name lookup, the
  result rendered and capped) on the plugin's connection to another process of
  the same server. The two are interleaved call by call (alternating which goes
  first), so machine noise hits both alike. Target: ratio <= 1.2.
- ``start-up``: entering ``McpTools`` (spawn, initialize, list tools) with one
  server, then with five in parallel. Target: five well under five times one.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from pathlib import Path

import trio
from nanobot_tools_mcp.config import McpConfig, ServerConfig
from nanobot_tools_mcp.toolset import McpTools

from nanobot_core import ToolCall, ToolContext
from nanobot_core.agent import Agent
from nanobot_core.testing import ScriptedChatModel

CALLS = 1000
STARTS = 5
CONTEXT = ToolContext("bench", "chat", "user", Path(), admin=True)


def server_command() -> list[str]:
    found = shutil.which("mcp-server-time", path=str(Path(sys.executable).parent))
    found = found or shutil.which("mcp-server-time")
    if found is None:
        raise SystemExit("mcp-server-time is not installed (pip install mcp-server-time)")
    return [found, "--local-timezone", "UTC"]


async def calls() -> tuple[float, float]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    command = server_command()
    config = McpConfig(servers={"time": ServerConfig(command=command)})
    params = StdioServerParameters(command=command[0], args=command[1:])
    direct: list[float] = []
    through: list[float] = []
    with open("/dev/null", "w") as errlog:  # noqa: ASYNC230
        async with McpTools(config) as tools:
            agent = Agent(
                model=ScriptedChatModel(),
                model_id="m",
                system_prompt="",
                tools={},
                max_iterations=1,
                toolsets=(tools,),
            )
            call = ToolCall(id="1", name="time_get_current_time", arguments='{"timezone": "UTC"}')
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                await session.list_tools()
                for _ in range(20):  # warm both paths
                    await session.call_tool("get_current_time", {"timezone": "UTC"})
                    await agent.run_tool(call, CONTEXT)
                for i in range(CALLS):
                    for path in ("direct", "nanobot") if i % 2 else ("nanobot", "direct"):
                        t = time.perf_counter()
                        if path == "direct":
                            await session.call_tool("get_current_time", {"timezone": "UTC"})
                            direct.append(time.perf_counter() - t)
                        else:
                            result = await agent.run_tool(call, CONTEXT)
                            through.append(time.perf_counter() - t)
                            assert '"timezone": "UTC"' in result, result
    return statistics.median(direct), statistics.median(through)


async def startup(count: int) -> float:
    command = server_command()
    servers = {f"t{i}": ServerConfig(command=command) for i in range(count)}
    t = time.perf_counter()
    async with McpTools(McpConfig(servers=servers)) as tools:
        took = time.perf_counter() - t
        assert len(tools.names()) == 2 * count
    return took


def main() -> None:
    direct, through = trio.run(calls)
    print(f"tool call, median of {CALLS} (interleaved):")
    print(f"  direct mcp ClientSession.call_tool   {direct * 1000:7.2f} ms")
    print(f"  through nanobot (Agent.run_tool)     {through * 1000:7.2f} ms")
    print(f"  ratio                                {through / direct:7.2f}x  (target <= 1.2)")
    one = statistics.median(trio.run(startup, 1) for _ in range(STARTS))
    five = statistics.median(trio.run(startup, 5) for _ in range(STARTS))
    print(f"start-up to tools listed, median of {STARTS}:")
    print(f"  1 stdio server                       {one * 1000:7.0f} ms")
    print(f"  5 stdio servers in parallel          {five * 1000:7.0f} ms")
    print(f"  ratio                                {five / one:7.2f}x  (5 in series would be ~5x)")


if __name__ == "__main__":
    main()
