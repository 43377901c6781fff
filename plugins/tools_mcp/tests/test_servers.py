"""Real MCP servers over stdio and streamable HTTP, and the faults a server can have."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trio
from nanobot_tools_mcp.server import State

from nanobot_core import ToolError

from .helpers import ADMIN, USER, alive, bin_path, eventually, fake_command, started


async def test_mcp_server_time_over_stdio() -> None:
    command = [bin_path("mcp-server-time"), "--local-timezone", "UTC"]
    async with started(time={"command": command}) as mcp:
        assert mcp.servers["time"].state is State.CONNECTED
        tools = mcp.tools(ADMIN)
        assert sorted(tools) == ["time_convert_time", "time_get_current_time"]
        tool = tools["time_get_current_time"]
        assert "timezone" in tool.parameters["properties"]
        assert tool.description.startswith("Get current time")
        answer = await tool.call({"timezone": "Asia/Tokyo"}, ADMIN)
        assert '"timezone": "Asia/Tokyo"' in answer and "+09:00" in answer


async def test_mcp_server_git_over_stdio(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    await trio.run_process(["git", "init", "-q", str(repo)])
    (repo / "notes.txt").write_text("hello\n")
    command = [bin_path("mcp-server-git"), "--repository", str(repo)]
    async with started(git={"command": command, "tools": ["git_status"]}) as mcp:
        assert sorted(mcp.tools(ADMIN)) == ["git_git_status"]  # the allow-list
        status = await mcp.tools(ADMIN)["git_git_status"].call({"repo_path": str(repo)}, ADMIN)
        assert "notes.txt" in status


async def test_streamable_http_with_the_sdks_own_server(http_server: str) -> None:
    async with started(fake={"url": http_server, "access": "all"}) as mcp:
        assert mcp.servers["fake"].state is State.CONNECTED
        echo = mcp.tools(USER)["fake_echo"]
        assert await echo.call({"text": "over http"}, USER) == "over http"


async def test_admins_only_by_default(tmp_path: Path) -> None:
    async with started(fake={"command": fake_command()}) as mcp:
        assert mcp.tools(USER) == {}
        tool = mcp.tools(ADMIN)["fake_echo"]
        with pytest.raises(ToolError, match="only for the bot's admins"):
            await tool.call({"text": "x"}, USER)  # even a name guessed by the model


async def test_results_errors_images_and_the_cap() -> None:
    table = {"command": fake_command(), "max_result_chars": 100}
    async with started(fake=table) as mcp:
        tools = mcp.tools(ADMIN)
        with pytest.raises(ToolError, match=r"^fail failed: "):
            await tools["fake_fail"].call({}, ADMIN)
        flood = await tools["fake_flood"].call({"size": 1_000_000}, ADMIN)
        assert flood == "x" * 100 + "\n[cut at 100 characters of 1000000]"
        picture = await tools["fake_picture"].call({}, ADMIN)
        assert picture.startswith("[image image/png, ") and "not shown" in picture


async def test_a_secret_env_reaches_the_server_only() -> None:
    from nanobot_core import Secret

    table = {"command": fake_command(), "env": {"FAKE_SECRET": Secret("s3cret", "env X")}}
    async with started(fake=table) as mcp:
        assert await mcp.tools(ADMIN)["fake_secret"].call({}, ADMIN) == "s3cret"


async def test_a_hung_call_times_out_and_is_cancelled_on_the_server(tmp_path: Path) -> None:
    marker = tmp_path / "cancelled"
    from nanobot_core import Secret

    table = {
        "command": fake_command(),
        "timeout": 1.0,
        "env": {"FAKE_CANCELLED_MARKER": Secret(str(marker))},
    }
    async with started(fake=table) as mcp:
        tools = mcp.tools(ADMIN)
        with pytest.raises(ToolError, match="no answer within 1 s; the call was cancelled"):
            await tools["fake_hang"].call({}, ADMIN)
        await eventually(marker.exists)
        assert await tools["fake_echo"].call({"text": "still here"}, ADMIN) == "still here"


async def test_a_server_that_exits_mid_call_is_restarted(tmp_path: Path) -> None:
    from nanobot_core import Secret

    pid_file = tmp_path / "pid"
    table = {"command": fake_command(), "env": {"FAKE_PID_FILE": Secret(str(pid_file))}}
    async with started(fake=table) as mcp:
        server = mcp.servers["fake"]
        first = int(pid_file.read_text())
        with pytest.raises(ToolError, match="went away during the call"):
            await mcp.tools(ADMIN)["fake_die"].call({}, ADMIN)
        await eventually(lambda: server.connections >= 2)
        assert not alive(first)
        assert await mcp.tools(ADMIN)["fake_echo"].call({"text": "back"}, ADMIN) == "back"
        second = int(pid_file.read_text())
    assert second != first and not alive(second)


async def test_tools_list_changed_refreshes() -> None:
    async with started(fake={"command": fake_command()}) as mcp:
        assert "fake_late" not in mcp.tools(ADMIN)
        assert await mcp.tools(ADMIN)["fake_grow"].call({}, ADMIN) == "grown"
        await eventually(lambda: "fake_late" in mcp.tools(ADMIN))
        assert await mcp.tools(ADMIN)["fake_late"].call({}, ADMIN) == "late answer"


async def test_a_missing_command_and_a_dead_url_fail_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket_without_listener() as port:
        async with started(
            nope={"command": ["/nonexistent/mcp-server"]},
            gone={"url": f"http://127.0.0.1:{port}/mcp", "startup_timeout": 2.0},
            fake={"command": fake_command()},
        ) as mcp:
            assert mcp.servers["nope"].state is State.FAILED
            assert mcp.servers["nope"].reason == "command '/nonexistent/mcp-server' not found"
            assert mcp.servers["gone"].state is State.FAILED
            assert mcp.servers["gone"].reason == f"cannot connect to http://127.0.0.1:{port}/mcp"
            assert sorted(mcp.tools(ADMIN))[0].startswith("fake_")
    lines = [r.getMessage() for r in caplog.records if r.name == "nanobot_tools_mcp"]
    assert sum("nope" in line for line in lines) == 1
    assert sum("gone" in line for line in lines) == 1
    assert not any("Traceback" in line for line in lines)


async def test_a_server_ignoring_sigterm_is_killed_at_shutdown(tmp_path: Path) -> None:
    from nanobot_core import Secret

    pid_file = tmp_path / "pid"
    table = {
        "command": fake_command("--ignore-sigterm"),
        "env": {"FAKE_PID_FILE": Secret(str(pid_file))},
    }
    async with started(fake=table) as mcp:
        assert mcp.servers["fake"].state is State.CONNECTED
        pid = int(pid_file.read_text())
    assert not alive(pid)


async def test_cancelling_the_tool_set_mid_call_leaves_no_process(tmp_path: Path) -> None:
    from nanobot_core import Secret

    pid_file = tmp_path / "pid"
    table = {"command": fake_command(), "env": {"FAKE_PID_FILE": Secret(str(pid_file))}}
    with trio.move_on_after(2):
        async with started(fake=table) as mcp:
            await mcp.tools(ADMIN)["fake_hang"].call({}, ADMIN)
    assert not alive(int(pid_file.read_text()))


class socket_without_listener:
    """A port nothing listens on (bound, never listening, so nobody else takes it)."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        port: int = self.sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


async def test_a_malformed_message_is_one_line_and_the_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with started(fake={"command": fake_command("--garbage")}) as mcp:
        assert mcp.servers["fake"].state is State.CONNECTED
        assert await mcp.tools(ADMIN)["fake_echo"].call({"text": "ok"}, ADMIN) == "ok"
    lines = [r.getMessage() for r in caplog.records if r.name == "nanobot_tools_mcp"]
    assert len([line for line in lines if "unreadable" in line]) == 1


async def test_an_invalid_schema_is_skipped_and_a_long_name_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = [sys.executable, str(Path(__file__).with_name("raw_server.py"))]
    async with started(fake={"command": raw}) as mcp:
        server = mcp.servers["fake"]
        names = mcp.tools(ADMIN)
        assert "fake_broken" not in names
        assert server.problems == [
            "tool 'broken' skipped: invalid input schema "
            "(12 is not valid under any of the given schemas)"
        ]
        (long,) = [name for name in names if name.startswith("fake_lll")]
        assert len(long) == 64
        assert await names[long].call({}, ADMIN) == "l" * 20
        assert await names["fake_echo"].call({"text": "fine"}, ADMIN) == "fine"
    warnings = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warnings) == 1


async def test_an_http_server_that_dies_fails_the_call_and_is_retried() -> None:
    process = await trio.lowlevel.open_process(
        [sys.executable, str(Path(__file__).with_name("fake_server.py")), "http"],
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = b""
        while not line.endswith(b"\n"):
            line += await process.stdout.receive_some(1)
        url = f"http://127.0.0.1:{int(line.split()[1])}/mcp"
        async with started(fake={"url": url, "access": "all", "startup_timeout": 3}) as mcp:
            echo = mcp.tools(USER)["fake_echo"]
            assert await echo.call({"text": "up"}, USER) == "up"
            process.kill()
            await process.wait()
            with pytest.raises(ToolError, match="went away during the call; it is restarting"):
                await echo.call({"text": "down"}, USER)
            server = mcp.servers["fake"]
            await eventually(lambda: server.state is State.FAILED)
            assert server.reason == f"cannot connect to {url}"
            assert mcp.tools(USER) == {}  # a dead server's tools are withdrawn
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        if process.stdout is not None:
            await process.stdout.aclose()


async def test_a_server_that_never_answers_costs_a_bounded_wait(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    mute = [
        sys.executable,
        "-c",
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)",
    ]
    begun = trio.current_time()
    async with started(mute={"command": mute, "startup_timeout": 1.0}) as mcp:
        waited = trio.current_time() - begun
        server = mcp.servers["mute"]
        assert server.state is State.FAILED
        assert server.reason == "no answer within startup_timeout (1 s)"
    assert waited < 1.0 + 1.5  # startup_timeout (+1 s of slack in McpTools), not the teardown
    assert not alive(int(pid_file.read_text()))  # stopped with the tool set (SIGTERM to its group)
