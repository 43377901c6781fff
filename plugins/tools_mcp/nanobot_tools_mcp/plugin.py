"""Entry point ``tools_mcp``: the tool set ``mcp`` (``[tools.mcp]``) and ``nanobot tools``.

Kept light: the MCP SDK is imported only when a server connects, so
``nanobot --help`` and ``nanobot check`` stay fast and start nothing.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

from nanobot_core import ConfigError, hookimpl
from nanobot_core.registry import Register

from .config import McpConfig
from .toolset import McpTools

if TYPE_CHECKING:
    import click


def make_tools(config: McpConfig, host: Any) -> McpTools:
    """The tool set for ``[tools.mcp]``; checks what can be known without starting a server."""
    errors = []
    for name, server in sorted(config.servers.items()):
        if server.command is not None and shutil.which(server.command[0]) is None:
            errors.append(
                f"tools.mcp.servers.{name}.command: program {server.command[0]!r} not found "
                "(not on PATH, or not an executable file)"
            )
    if errors:
        raise ConfigError("\n".join(errors))
    storage = getattr(host, "storage_path", None)
    return McpTools(config, storage)


@hookimpl
def register_tools(register: Register) -> None:
    register("mcp", make_tools, config=McpConfig)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .command import tools_command

    cli.add_command(tools_command)
