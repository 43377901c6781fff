"""``nanobot tools [--probe]``: the MCP servers, their state and their tools."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("tools")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (else $NANOBOT_CONFIG, ./nanobot.toml, the user config dir).",
)
@click.option("--probe", is_flag=True, help="Start every MCP server and list what it offers.")
@click.pass_context
def tools_command(ctx: click.Context, config_path: Path | None, probe: bool) -> None:
    """List the MCP servers of [tools.mcp], their state and their tools."""
    import trio

    from nanobot_core.cli import App, fail

    from .server import State
    from .toolset import McpTools

    app = ctx.find_object(App)
    assert app is not None
    runtime = app.runtime(config_path)
    toolsets = [t for t in runtime.components.toolsets.values() if isinstance(t, McpTools)]
    if not toolsets:
        fail("no MCP servers: add a [tools.mcp.servers.NAME] table")
    (mcp,) = toolsets
    if not probe:
        for name, server in sorted(mcp.servers.items()):
            config = server.config
            where = " ".join(config.command) if config.command else config.url
            click.echo(f"{name}: {config.transport} {where} (access {config.access}; not started)")
        click.echo("(nanobot tools --probe starts them and lists their tools)")
        return

    async def probe_all() -> None:
        async with mcp:
            pass

    trio.run(probe_all)
    names = {tool: model for model, tool in mcp.names().items()}
    for name, server in sorted(mcp.servers.items()):
        state = server.state
        if state is State.FAILED:
            click.echo(f"{name}: failed: {server.reason}")
        else:
            click.echo(
                f"{name}: {state} ({len(server.tools)} tools, access {server.config.access})"
            )
        for tool in sorted(server.tools.values(), key=lambda t: t.remote_name):
            summary = tool.description.strip().splitlines()[0] if tool.description.strip() else ""
            click.echo(f"  {names.get(tool, tool.remote_name)}: {summary[:100]}")
        for problem in server.problems:
            click.echo(f"  warning: {problem}")
    if any(s.state is not State.CONNECTED for s in mcp.servers.values()):
        ctx.exit(1)
