"""A small MCP server built with the SDK's own MCPServer, for faults the real servers lack.

``python fake_server.py stdio`` serves on stdin/stdout; ``python fake_server.py http``
serves streamable HTTP on 127.0.0.1 (port 0) and prints ``PORT <n>`` once listening.
``--ignore-sigterm`` makes the process ignore SIGTERM (it must then be killed).
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import sys

import anyio
from mcp.server.mcpserver import Context, Image, MCPServer

server = MCPServer("fake")
# The smallest PNG there is (1x1), as the image a tool returns.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@server.tool(description="Echo the text back.")
def echo(text: str) -> str:
    return text


@server.tool(description="Exit the server process in the middle of the call.")
def die() -> str:
    os._exit(3)


@server.tool(description="Never answer.")
async def hang() -> str:
    marker = os.environ.get("FAKE_CANCELLED_MARKER")
    try:
        await anyio.sleep_forever()
    finally:
        if marker:
            with open(marker, "w") as f:  # noqa: ASYNC230 (a test marker)
                f.write("cancelled")
    return ""


@server.tool(description="Answer with a lot of text.")
def flood(size: int) -> str:
    return "x" * size


@server.tool(description="Fail on purpose.")
def fail() -> str:
    raise ValueError("it went wrong on purpose")


@server.tool(description="Answer with an image.")
def picture() -> Image:
    return Image(data=PNG, format="png")


@server.tool(description="Add the tool 'late' and tell the client the list changed.")
async def grow(ctx: Context) -> str:
    server.add_tool(lambda: "late answer", name="late", description="A tool added later.")
    await ctx.session.send_tool_list_changed()
    return "grown"


@server.tool(description="Say which environment variable FAKE_SECRET the server got.")
def secret() -> str:
    return os.environ.get("FAKE_SECRET", "<unset>")


def main() -> None:
    if "--garbage" in sys.argv:
        print("this is not JSON-RPC", flush=True)  # a malformed message on the stdio stream
    pid_file = os.environ.get("FAKE_PID_FILE")
    if pid_file:
        with open(pid_file, "w") as f:
            f.write(str(os.getpid()))
    if "--ignore-sigterm" in sys.argv:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if sys.argv[1] == "stdio":
        server.run("stdio")
        return
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(server.streamable_http_app(), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
