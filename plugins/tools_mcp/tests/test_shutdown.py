"""SIGTERM to ``nanobot run`` with three stdio servers connected: a prompt exit, no child left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import trio

from .helpers import alive, bin_path, fake_command

GRACE = 1.0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def toml_list(argv: list[str]) -> str:
    return "[" + ", ".join(f'"{a}"' for a in argv) + "]"


async def test_sigterm_with_three_servers_exits_in_time_and_leaves_no_child(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    await trio.run_process(["git", "init", "-q", str(repo)])
    servers = {
        "time": [bin_path("mcp-server-time"), "--local-timezone", "UTC"],
        "git": [bin_path("mcp-server-git"), "--repository", str(repo)],
        "fake": fake_command(),
    }
    config = tmp_path / "nanobot.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "data"}"\n[runtime]\nshutdown_grace = {GRACE}\n'
        "[channels.console]\n"
        + "".join(
            f"[tools.mcp.servers.{n}]\ncommand = {toml_list(c)}\n" for n, c in servers.items()
        )
    )
    env = {**os.environ, "NANOBOT_LOAD_PLUGINS": "tools_mcp", "TMPDIR": str(tmp_path)}
    command = [
        sys.executable,
        "-m",
        "nanobot_core",
        "--log-level",
        "info",
        "run",
        "-c",
        str(config),
    ]
    process = await trio.lowlevel.open_process(
        command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert process.stderr is not None and process.stdin is not None
    log = b""
    try:
        with trio.fail_after(30):
            while log.count(b": connected, ") < 3:
                chunk = await process.stderr.receive_some()
                assert chunk, log.decode()
                log += chunk
        kids = children(process.pid)
        assert len(kids) == 3
        started = trio.current_time()
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(GRACE + 5):
            while chunk := await process.stderr.receive_some():
                log += chunk
            await process.wait()
        took = trio.current_time() - started
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.stdin.aclose()
        await process.stderr.aclose()
    text = log.decode()
    assert process.returncode == 0, text
    assert took < GRACE + 3, took
    assert not [pid for pid in kids if alive(pid)]
    assert "Traceback" not in text and "cancel scope" not in text.lower()
