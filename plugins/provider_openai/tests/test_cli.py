"""End to end: the `nanobot` command line in a real subprocess against the test server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import trio

from nanobot_core.testing.openai_server import OpenAIServer, Response

KEY = "sk-cli-test-key-0123456789"


def write_config(tmp_path: Path, server: OpenAIServer, *, key: bool = True) -> Path:
    path = tmp_path / "nanobot.toml"
    lines = [
        "[agent]",
        'model = "openai/test-model"',
        "[storage]",
        f'path = "{tmp_path / "store"}"',
        "[providers.openai]",
        f'base_url = "{server.base_url}"',
        "max_retries = 0",
    ]
    if key:
        lines.append(f'api_key = "{KEY}"')
    path.write_text("\n".join(lines) + "\n")
    return path


async def nanobot(*args: str, cwd: Path) -> trio.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "NANOBOT_CONFIG")}
    return await trio.run_process(
        [sys.executable, "-m", "nanobot_core", *args],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        cwd=cwd,
        env=env,
    )


async def test_chat_prints_the_reply(server: OpenAIServer, tmp_path: Path) -> None:
    server.chat.push(Response.chat("Hello from the server!"))
    config = write_config(tmp_path, server)
    result = await nanobot("chat", "-c", str(config), "-m", "hello", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == "Hello from the server!\n"
    (request,) = server.chat.requests
    assert request.json["model"] == "test-model"
    assert request.json["messages"][-1] == {"role": "user", "content": "hello"}
    assert request.headers["authorization"] == f"Bearer {KEY}"


async def test_provider_failure_is_one_line_and_exit_2(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.chat.push(Response.error(401, f"Incorrect API key provided: {KEY}"))
    config = write_config(tmp_path, server)
    result = await nanobot("chat", "-c", str(config), "-m", "hello", cwd=tmp_path)
    assert result.returncode == 2
    err = result.stderr.decode()
    assert f"127.0.0.1:{server.port} rejected the API key (401)" in err
    assert "Traceback" not in err
    assert KEY not in err + result.stdout.decode()


async def test_missing_key_is_named_by_check_and_chat(server: OpenAIServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, server, key=False)
    expected = "providers.openai.api_key: not set, and OPENAI_API_KEY is not in the environment"
    for command in (("check",), ("chat", "-m", "hello")):
        result = await nanobot(*command, "-c", str(config), cwd=tmp_path)
        assert result.returncode == 1, command
        assert expected in result.stderr.decode()
        assert "Traceback" not in result.stderr.decode()
    assert server.requests == []


async def test_chat_prints_a_reply_with_a_lone_surrogate_and_escapes_safely(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.chat.push(Response.chat("hi \ud800 there\x1b[2J\x1b]0;owned\x07!"))
    config = write_config(tmp_path, server)
    with trio.fail_after(30):
        result = await nanobot("chat", "-c", str(config), "-m", "hello", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == "hi \ufffd there!\n"
    # the turn was stored: the next turn's history has the cleaned reply
    server.chat.push(Response.chat("again"))
    result = await nanobot("chat", "-c", str(config), "-m", "more", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    history = server.chat.requests[-1].json["messages"]
    assert {"role": "assistant", "content": "hi \ufffd there\x1b[2J\x1b]0;owned\x07!"} in history


async def test_chat_prints_a_server_error_without_escapes(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.chat.push(Response.error(400, "\x1b[2J\x1b]2;title\x07bad request"))
    config = write_config(tmp_path, server)
    with trio.fail_after(30):
        result = await nanobot("chat", "-c", str(config), "-m", "hello", cwd=tmp_path)
    assert result.returncode == 2
    assert b"\x1b" not in result.stderr
    assert b"(400: bad request)" in result.stderr
