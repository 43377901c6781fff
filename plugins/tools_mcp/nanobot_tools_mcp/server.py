"""One MCP server: a long-lived task that owns its connection, and the calls made on it.

The connection (transport and session) is opened and closed inside the
server's own task, never by whoever happens to call a tool: the SDK's anyio
task groups must exit in the task that entered them (SDK #577, #922).
"""

from __future__ import annotations

import enum
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TextIO

import trio
from attrs import define, field

from nanobot_core import ToolContext, ToolError

from .config import ServerConfig
from .results import cap, render

log = logging.getLogger("nanobot_tools_mcp")

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
HEALTHY_RUN = 60.0
PING_INTERVAL = 30.0


class State(enum.StrEnum):
    STARTING = "starting"
    CONNECTED = "connected"
    FAILED = "failed"


class ConnectionLost(Exception):
    pass


def _leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def describe(error: BaseException, config: ServerConfig) -> str:
    """One line for the log and ``nanobot tools``; never a traceback, never a secret."""
    from mcp.shared.exceptions import MCPError

    error = _leaf(error)
    if isinstance(error, FileNotFoundError) and config.command:
        return f"command {config.command[0]!r} not found"
    if isinstance(error, PermissionError) and config.command:
        return f"command {config.command[0]!r} is not executable"
    if isinstance(error, trio.TooSlowError):
        return f"no answer within startup_timeout ({config.startup_timeout:g} s)"
    if isinstance(error, MCPError):
        return f"the server said: {error.error.message}"
    if isinstance(error, ConnectionLost):
        return str(error)
    name = type(error).__name__
    if name in ("ConnectError", "ConnectTimeout"):
        return f"cannot connect to {config.url}"
    if name == "HTTPStatusError":
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", "?")
        return f"{config.url} answered HTTP {status}"
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(sorted({describe(e, config) for e in error.exceptions}))
    if name == "ValidationError":  # pydantic: the server sent something the protocol forbids
        first = str(error).splitlines()
        where = first[1].strip() if len(first) > 1 else ""
        return f"the server sent an invalid message ({where or name})"
    text = " ".join(str(error).split())
    return f"{name}: {text}" if text else name


@define(eq=False)
class RemoteTool:
    """A tool the server lists, as the core's ``Tool`` protocol sees it."""

    server: Server
    remote_name: str
    description: str
    parameters: Mapping[str, Any]

    async def call(self, arguments: Mapping[str, Any], context: ToolContext) -> str:
        return await self.server.call(self.remote_name, arguments, context)


@define(eq=False)
class Server:
    """Connects, lists the tools, keeps the session; reconnects with backoff when it dies."""

    name: str
    config: ServerConfig
    stderr_path: Path | None = None
    on_change: Callable[[], None] = lambda: None
    state: State = State.STARTING
    reason: str = ""
    tools: dict[str, RemoteTool] = field(factory=dict)
    problems: list[str] = field(factory=list)
    settled: trio.Event = field(factory=trio.Event)
    connections: int = 0
    connected_since: float | None = None
    _session: Any = None
    _wake: trio.Event = field(factory=trio.Event)
    _refresh_wanted: bool = False
    _lost: str = ""

    # --- the connection task ------------------------------------------------------

    async def run(self) -> None:
        """Forever: connect, serve, and after a failure wait (1 s, doubling to 60 s)."""
        delay = BACKOFF_FIRST
        last_reason = ""
        while True:
            started = trio.current_time()
            try:
                await self._connect_once()
                reason = "the connection closed"
            except BaseExceptionGroup as group:
                # Shutdown came while the transport was failing: the SDK's task groups
                # then hand back the failure and our Cancelled together. Keep only the
                # Cancelled, so that the shutdown is not reported as an error.
                cancelled, _ = group.split(trio.Cancelled)
                if cancelled is not None:
                    raise cancelled from None
                if not isinstance(group, Exception):
                    raise
                reason = describe(group, self.config)
                log.debug("MCP server %s failed", self.name, exc_info=True)
            except Exception as error:
                reason = describe(error, self.config)
                log.debug("MCP server %s failed", self.name, exc_info=True)
            was_connected = self.connected_since is not None
            self.connected_since = None
            self._withdraw(reason)
            if trio.current_time() - started > HEALTHY_RUN:
                delay = BACKOFF_FIRST
            level = logging.WARNING if was_connected or reason != last_reason else logging.DEBUG
            log.log(level, "MCP server %s: %s; retrying in %g s", self.name, reason, delay)
            last_reason = reason
            await trio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _connect_once(self) -> None:
        async with AsyncExitStack() as stack:
            try:
                await self._connect_and_serve(stack)
            except Exception as error:
                # Say so now: closing the transport can take seconds (the SDK's stop of a
                # stdio process), and nobody should wait that long to learn it failed.
                self._withdraw(describe(error, self.config))
                raise

    async def _connect_and_serve(self, stack: AsyncExitStack) -> None:
        from mcp.client.session import ClientSession

        read, write = await self._open_transport(stack)
        session = await stack.enter_async_context(
            ClientSession(read, write, message_handler=self._on_message)
        )
        with trio.fail_after(self.config.startup_timeout):
            await session.initialize()
            await self._refresh(session)
        self._session, self._lost = session, ""
        self.connections += 1
        self.connected_since = trio.current_time()
        self.state, self.reason = State.CONNECTED, ""
        self.settled.set()
        log.info("MCP server %s: connected, %d tools", self.name, len(self.tools))
        await self._serve(session)

    async def _open_transport(self, stack: AsyncExitStack) -> tuple[Any, Any]:
        config = self.config
        if config.command is not None:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            program = shutil.which(config.command[0]) or config.command[0]
            params = StdioServerParameters(
                command=program,
                args=list(config.command[1:]),
                env={key: value.reveal() for key, value in config.env.items()},
            )
            errlog: TextIO
            if self.stderr_path is not None:
                self.stderr_path.parent.mkdir(parents=True, exist_ok=True)
                # a local file opened once per connection: not worth a thread
                errlog = stack.enter_context(self.stderr_path.open("w", encoding="utf-8"))
            else:
                errlog = stack.enter_context(open(os.devnull, "w"))  # noqa: ASYNC230, SIM115
            read, write = await stack.enter_async_context(stdio_client(params, errlog=errlog))
            return read, write
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        assert config.url is not None
        client = create_mcp_http_client(
            headers={key: value.reveal() for key, value in config.headers.items()}
        )
        await stack.enter_async_context(client)
        read, write = await stack.enter_async_context(
            streamable_http_client(config.url, http_client=client)
        )
        return read, write

    async def _serve(self, session: Any) -> None:
        """Until the connection is lost: refresh on ``list_changed``, ping now and then."""
        while True:
            with trio.move_on_after(PING_INTERVAL):
                await self._wake.wait()
            self._wake = trio.Event()
            if self._lost:
                raise ConnectionLost(self._lost)
            if self._refresh_wanted:
                self._refresh_wanted = False
                with trio.fail_after(self.config.timeout):
                    await self._refresh(session)
                log.info("MCP server %s: tool list changed, %d tools", self.name, len(self.tools))
            else:
                with trio.fail_after(self.config.timeout):
                    await session.send_ping()

    async def _on_message(self, message: Any) -> None:
        from mcp import types

        if isinstance(message, Exception):
            text = " ".join(str(message).split())[:200]
            log.warning("MCP server %s sent something unreadable: %s", self.name, text)
        elif isinstance(message, types.ToolListChangedNotification):
            self._refresh_wanted = True
            self._wake.set()

    def _withdraw(self, reason: str) -> None:
        """Failed: no session, no tools offered, and whoever waits for start-up is told."""
        self._session = None
        self.state, self.reason = State.FAILED, reason
        if self.tools:
            self.tools = {}
            self.on_change()
        self.settled.set()

    def _connection_lost(self, why: str) -> None:
        self._lost = why
        self._wake.set()

    async def _refresh(self, session: Any) -> None:
        import jsonschema
        from mcp import types

        listed: list[Any] = []
        cursor: str | None = None
        while True:
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            listed.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        problems: list[str] = []
        allowed = set(self.config.tools) if self.config.tools is not None else None
        tools: dict[str, RemoteTool] = {}
        for tool in listed:
            if allowed is not None and tool.name not in allowed:
                continue
            schema = dict(tool.input_schema or {"type": "object"})
            try:
                jsonschema.validators.validator_for(schema).check_schema(schema)
            except jsonschema.SchemaError as error:
                problems.append(
                    f"tool {tool.name!r} skipped: invalid input schema ({error.message})"
                )
                continue
            tools[tool.name] = RemoteTool(self, tool.name, tool.description or "", schema)
        if allowed is not None:
            for missing in sorted(allowed - {tool.name for tool in listed}):
                problems.append(f"tools lists {missing!r}, which the server does not offer")
        for problem in problems:
            if problem not in self.problems:
                log.warning("MCP server %s: %s", self.name, problem)
        self.problems = problems
        self.tools = tools
        self.on_change()

    # --- calls, from the turns' tasks ---------------------------------------------

    async def call(self, tool: str, arguments: Mapping[str, Any], context: ToolContext) -> str:
        import anyio
        from mcp.shared.exceptions import MCPError

        if self.config.access == "admins" and not context.admin:
            raise ToolError(f"{tool} is only for the bot's admins")
        session = self._session
        if session is None or self.state is not State.CONNECTED:
            raise ToolError(f"the MCP server {self.name} is not connected ({self.reason})")
        timeout = self.config.timeout
        try:
            with trio.fail_after(timeout):
                result = await session.call_tool(tool, dict(arguments))
        except trio.TooSlowError:
            raise ToolError(
                f"{tool} gave no answer within {timeout:g} s; the call was cancelled"
            ) from None
        except MCPError as error:
            message = error.error.message
            if "closed" in message.lower():
                self._connection_lost(f"the connection closed during a call to {tool}")
                raise ToolError(
                    f"the MCP server {self.name} went away during the call; it is restarting"
                ) from None
            raise ToolError(f"{tool}: {message}") from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
            self._connection_lost(f"the connection closed during a call to {tool}")
            raise ToolError(
                f"the MCP server {self.name} went away during the call; it is restarting"
            ) from None
        except Exception as error:  # the SDK's checks of the result, say: one line, no traceback
            log.debug("MCP server %s: call to %s failed", self.name, tool, exc_info=True)
            raise ToolError(f"{tool}: {describe(error, self.config)}") from None
        text = cap(
            render(list(result.content), result.structured_content),
            self.config.max_result_chars,
        )
        if result.is_error:
            raise ToolError(f"{tool} failed: {text}")
        return text
