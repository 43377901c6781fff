"""A hand-written stdio MCP server that sends what the SDK's own server would refuse to.

It lists a tool whose input schema is not valid JSON Schema (a property of ``"type": 12``),
a tool named with 200 characters, and a good tool ``echo``.
"""

from __future__ import annotations

import json
import sys

TOOLS = [
    {
        "name": "broken",
        "description": "Bad schema.",
        "inputSchema": {"type": "object", "properties": {"n": {"type": 12}}},
    },
    {"name": "l" * 200, "description": "A long name.", "inputSchema": {"type": "object"}},
    {
        "name": "echo",
        "description": "Echo the text back.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
    },
]


def answer(request: dict[str, object]) -> object:
    method = request["method"]
    params = request.get("params") or {}
    assert isinstance(params, dict)
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "raw", "version": "1"},
        }
    if method == "tools/list":
        return {"tools": TOOLS}
    if method == "tools/call":
        arguments = params.get("arguments") or {}
        assert isinstance(arguments, dict)
        text = arguments.get("text", params["name"])
        return {"content": [{"type": "text", "text": str(text)[:20]}], "isError": False}
    return {}


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        if "id" not in request:
            continue  # a notification
        reply = {"jsonrpc": "2.0", "id": request["id"], "result": answer(request)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
