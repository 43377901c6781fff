"""``nanobot tools [--probe]`` as a user runs it: a real subprocess and a config file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import trio

from .helpers import bin_path, fake_command


def write_config(tmp_path: Path, servers: str) -> Path:
    path = tmp_path / "nanobot.toml"
    path.write_text(f'[storage]\npath = "{tmp_path / "data"}"\n\n{servers}')
    return path


async def nanobot(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "NANOBOT_LOAD_PLUGINS": "tools_mcp", "TMPDIR": str(tmp_path)}
    return await trio.run_process(
        [sys.executable, "-m", "nanobot_core", *args],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=env,
    )


def toml_list(argv: list[str]) -> str:
    return "[" + ", ".join(f'"{a}"' for a in argv) + "]"


async def test_tools_lists_without_starting_and_probe_lists_tools(tmp_path: Path) -> None:
    time = [bin_path("mcp-server-time"), "--local-timezone", "UTC"]
    quiet = socket.socket()  # bound, never listening: connections to it are refused
    quiet.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{quiet.getsockname()[1]}/mcp"
    config = write_config(
        tmp_path,
        f"[tools.mcp.servers.time]\ncommand = {toml_list(time)}\n\n"
        f"[tools.mcp.servers.fake]\ncommand = {toml_list(fake_command())}\n"
        'tools = ["echo", "nope"]\naccess = "all"\n\n'
        f'[tools.mcp.servers.gone]\nurl = "{url}"\nstartup_timeout = 2\n',
    )
    listed = await nanobot("tools", "-c", str(config), tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout.decode()
    assert "time: stdio " in out and "not started" in out
    probed = await nanobot("tools", "--probe", "-c", str(config), tmp_path=tmp_path)
    out = probed.stdout.decode()
    assert probed.returncode == 1  # one server is down
    assert "time: connected (2 tools, access admins)" in out
    assert "  time_get_current_time: Get current time in a specific timezone" in out
    assert "fake: connected (1 tools, access all)" in out
    assert "  fake_echo: Echo the text back." in out
    assert "  warning: tools lists 'nope', which the server does not offer" in out
    assert f"gone: failed: cannot connect to {url}" in out
    assert "Traceback" not in probed.stderr.decode()
    quiet.close()


async def test_check_names_a_missing_program(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[tools.mcp.servers.x]\ncommand = ["no-such-mcp-program"]\n')
    checked = await nanobot("check", "-c", str(config), tmp_path=tmp_path)
    assert checked.returncode == 1
    assert checked.stderr.decode().strip().splitlines() == [
        "error: tools.mcp.servers.x.command: program 'no-such-mcp-program' not found "
        "(not on PATH, or not an executable file)"
    ]
