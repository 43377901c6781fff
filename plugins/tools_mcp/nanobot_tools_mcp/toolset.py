"""``McpTools``: every configured server's tools, as one ``ToolSet`` the runtime enters."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import trio
from attrs import define, field

from nanobot_core import Tool, ToolContext

from .config import McpConfig
from .names import assign
from .server import RemoteTool, Server, State

log = logging.getLogger("nanobot_tools_mcp")


@define(eq=False)
class McpTools:
    """Starts one task per server on entry, waits a bounded time for them, stops them on exit.

    ``tools(context)`` offers each connected server's tools as ``<server>_<tool>``;
    tools of an ``access = "admins"`` server only when the user is an admin.
    """

    config: McpConfig
    storage: Path | None = None
    servers: dict[str, Server] = field(init=False, factory=dict)
    _table: dict[str, RemoteTool] = field(init=False, factory=dict)
    _nursery_manager: Any = field(init=False, default=None)
    _nursery: trio.Nursery | None = field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        for name, server_config in self.config.servers.items():
            stderr = None
            if self.storage is not None and server_config.command is not None:
                stderr = self.storage / "tools_mcp" / f"{name}.stderr.log"
            self.servers[name] = Server(name, server_config, stderr, on_change=self._rename)

    def _rename(self) -> None:
        pairs = [(s.name, t) for s in self.servers.values() for t in s.tools]
        self._table = {
            model: self.servers[server].tools[tool]
            for model, (server, tool) in assign(pairs).items()
        }

    def tools(self, context: ToolContext) -> Mapping[str, Tool]:
        return {
            name: tool
            for name, tool in self._table.items()
            if context.admin or tool.server.config.access == "all"
        }

    def names(self) -> dict[str, RemoteTool]:
        """Model name -> tool, for every connected server (``nanobot tools``)."""
        return dict(self._table)

    async def __aenter__(self) -> McpTools:
        self._nursery_manager = trio.open_nursery()
        self._nursery = await self._nursery_manager.__aenter__()
        for server in self.servers.values():
            self._nursery.start_soon(server.run, name=f"mcp server {server.name}")
        wait = max((s.config.startup_timeout for s in self.servers.values()), default=0.0)
        with trio.move_on_after(wait + 1.0):
            for server in self.servers.values():
                await server.settled.wait()
        for server in self.servers.values():
            if server.state is State.STARTING:
                log.warning(
                    "MCP server %s: still starting; its tools come when it is up", server.name
                )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()
        try:
            return bool(await self._nursery_manager.__aexit__(exc_type, exc, tb))
        finally:
            self._nursery = None
