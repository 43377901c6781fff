"""The command line, run as a real subprocess: exit codes, one-line errors, signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import psutil
import pytest

NANOBOT = [sys.executable, "-m", "nanobot_core"]


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NANOBOT_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        PYTHONWARNINGS="error",
    )
    env.update(extra)
    return env


def nanobot(
    home: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NANOBOT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=home,
        env=env_for(home, **env),
        timeout=60,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_version(home: Path) -> None:
    result = nanobot(home, "--version")
    assert result.returncode == 0
    assert result.stdout.startswith("nanobot, version ")


def test_chat_works_without_any_config(home: Path) -> None:
    result = nanobot(home, "chat", "-m", "hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "echo: hello\n"
    assert "no config file found; using built-in defaults" in result.stderr
    assert (home / "data" / "nanobot" / "sessions.sqlite3").exists()


def test_repl_with_reset_and_quit(home: Path) -> None:
    result = nanobot(home, "chat", stdin="first\n/reset\nsecond\n/quit\nnever\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "echo: first",
        "Conversation cleared. What shall we talk about?",
        "echo: second",
    ]


def test_refused_turn_exits_2(home: Path) -> None:
    (home / "nanobot.toml").write_text('[limits]\nturn = "1/hour"\n[channels.console]\n')
    result = nanobot(home, "chat", stdin="one\ntwo\n")
    assert result.returncode == 2
    assert result.stdout == "echo: one\n"
    assert "try again in" in result.stderr


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[agent\n", "invalid TOML"),
        ("[agent]\nmodle = 'x'\n", "agent: unknown key 'modle'"),
        (
            "[agent]\nmax_tool_iterations = 'ten'\n",
            "agent.max_tool_iterations: expected an integer",
        ),
        (
            "[agent]\nmodel = 'nope/x'\n",
            "agent.model: no installed plugin provides chat model 'nope'",
        ),
        ("[channels.irc]\n", "channels.irc: no installed plugin provides channel 'irc'"),
    ],
)
def test_config_errors_are_one_line_exit_1(home: Path, toml: str, expected: str) -> None:
    (home / "bad.toml").write_text(toml)
    for command in ("check", "chat", "run"):
        args = [command, "-c", "bad.toml"] + (["-m", "x"] if command == "chat" else [])
        result = nanobot(home, *args)
        assert result.returncode == 1, (command, result.stderr)
        assert expected in one_error_line(result)


def test_missing_config_file(home: Path) -> None:
    result = nanobot(home, "check", "-c", "nope.toml")
    assert result.returncode == 1
    assert one_error_line(result) == "error: config file not found: nope.toml"
    result = nanobot(home, "check", NANOBOT_CONFIG=str(home / "gone.toml"))
    assert result.returncode == 1
    assert "config file not found" in one_error_line(result)


def test_missing_attachment(home: Path) -> None:
    result = nanobot(home, "chat", "-m", "look", "--attach", "missing.png")
    assert result.returncode == 2
    assert one_error_line(result) == "error: attachment not found: missing.png"


def test_init_writes_a_config_check_accepts(home: Path) -> None:
    result = nanobot(home, "init")
    assert result.returncode == 0, result.stderr
    text = (home / "nanobot.toml").read_text()
    assert "[agent]" in text and "# [media.image]" in text
    checked = nanobot(home, "check")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"ok: {home / 'nanobot.toml'} (model echo/echo")
    again = nanobot(home, "init")
    assert again.returncode == 1
    assert "already exists" in one_error_line(again)
    assert [p.name for p in home.iterdir() if p.name.endswith(".partial")] == []


def test_plugins_json_lists_the_builtins(home: Path) -> None:
    result = nanobot(home, "plugins", "--json", NANOBOT_LOAD_PLUGINS="")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["echo"]["hooks"] == ["register_chat_models"]
    assert plugins["console"]["status"] == "loaded"
    assert set(plugins["echo"]) == {"name", "distribution", "version", "hooks", "status", "error"}


def test_sigterm_stops_run_within_3_seconds(home: Path) -> None:
    (home / "nanobot.toml").write_text("[channels.console]\n")
    with subprocess.Popen(
        [*NANOBOT, "run"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=home,
        env=env_for(home, NANOBOT_LOG_LEVEL="INFO"),
    ) as process:
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write("ping\n")
            process.stdin.flush()
            assert process.stdout.readline() == "echo: ping\n"
            children = psutil.Process(process.pid).children(recursive=True)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=10)
            elapsed = time.monotonic() - started
            stderr = process.stderr.read() if process.stderr else ""
        finally:
            if process.poll() is None:
                process.kill()
    assert code == 0, stderr
    assert elapsed < 3
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert "received SIGTERM; shutting down" in stderr
    assert "Traceback" not in stderr


def test_nanobot_script_is_installed() -> None:
    assert shutil.which("nanobot", path=os.path.dirname(sys.executable)) is not None


SLOW_PLUGIN = '''
import trio
from nanobot_core import ChatReply, hookimpl


class SlowToClose:
    """A chat model whose client takes 60 s to close, even when cancelled."""

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        with trio.CancelScope(shield=True):
            await trio.sleep(60)

    async def complete(self, request):
        return ChatReply(text="slow: " + request.messages[-1].text)


@hookimpl
def register_chat_models(register):
    register("slow", lambda config, host: SlowToClose())
'''


def install_plugin(root: Path, name: str, source: str) -> None:
    """A real distribution on disk: module, METADATA and an entry point in group nanobot."""
    (root / f"{name}.py").write_text(source)
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[nanobot]\n{name} = {name}\n")


def test_a_second_signal_exits_at_once(home: Path) -> None:
    site = home / "site"
    site.mkdir()
    install_plugin(site, "slowplugin", SLOW_PLUGIN)
    (home / "nanobot.toml").write_text('[agent]\nmodel = "slow/x"\n[channels.console]\n')
    env = env_for(home, PYTHONPATH=str(site))
    with subprocess.Popen(
        [*NANOBOT, "run"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=home, env=env,
    ) as process:  # fmt: skip
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write("hi\n")
            process.stdin.flush()
            assert process.stdout.readline() == "slow: hi\n"
            process.send_signal(signal.SIGTERM)
            with pytest.raises(subprocess.TimeoutExpired):
                process.wait(timeout=1)  # stuck closing the slow client
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=10)
            elapsed = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
    assert code == 128 + signal.SIGTERM
    assert elapsed < 2


def test_log_level_from_option_and_environment(home: Path) -> None:
    quiet = nanobot(home, "chat", "-m", "hi")
    assert "INFO" not in quiet.stderr
    for result in (
        nanobot(home, "--log-level", "info", "chat", "-m", "hi"),
        nanobot(home, "chat", "-m", "hi", NANOBOT_LOG_LEVEL="INFO"),
    ):
        assert result.returncode == 0
        assert "INFO nanobot_core.runtime: channel console finished" in result.stderr


SECRET_PLUGIN = """
import attrs
from nanobot_core import ChatReply, Secret, hookimpl


@attrs.frozen
class KeyConfig:
    key: Secret


class Keyed:
    async def complete(self, request):
        return ChatReply(text="keyed: " + request.messages[-1].text)


@hookimpl
def register_chat_models(register):
    register("keyed", lambda config, host: Keyed(), config=KeyConfig)
"""


def test_relative_paths_are_taken_from_the_config_files_folder(home: Path) -> None:
    site = home / "site"
    site.mkdir()
    install_plugin(site, "keyplugin", SECRET_PLUGIN)
    (home / "cfg.toml").write_text(
        '[agent]\nmodel = "keyed/x"\n[storage]\npath = "store"\n'
        '[providers.keyed]\nkey = { file = "key.txt" }\n'
    )
    (home / "key.txt").write_text("k-123\n")
    work = home / "work"
    work.mkdir()
    env = env_for(home, PYTHONPATH=str(site))
    run = partial(subprocess.run, capture_output=True, text=True, cwd=work, env=env, timeout=60)
    checked = run([*NANOBOT, "check", "-c", "../cfg.toml"])
    assert checked.returncode == 0, checked.stderr
    assert "k-123" not in checked.stdout + checked.stderr
    chatted = run([*NANOBOT, "chat", "-c", "../cfg.toml", "-m", "hi"])
    assert chatted.stdout == "keyed: hi\n", chatted.stderr
    assert (home / "store" / "sessions.sqlite3").is_file()
    assert not (work / "store").exists()
    (home / "key.txt").unlink()
    missing = run([*NANOBOT, "check", "-c", "../cfg.toml"])
    assert missing.returncode == 1
    assert one_error_line(missing) == (
        f"error: providers.keyed.key: cannot read secret file {home / 'key.txt'}:"
        f" No such file or directory (in ../cfg.toml)"
    )


BAD_SETTINGS = [
    ("[runtime]\nturn_timeout = nan", "runtime.turn_timeout: must be a finite number, got nan"),
    ("[runtime]\nshutdown_grace = nan", "runtime.shutdown_grace: must be a finite number, got nan"),
    ("[runtime]\nrestart_delay = inf", "runtime.restart_delay: must be a finite number, got inf"),
    ("[runtime]\nqueue_size = 18446744073709551616", "runtime.queue_size: must be between"),
    ("[agent]\nhistory_messages = 18446744073709551616", "agent.history_messages: must be between"),
    ("[agent]\nmax_tool_iterations = 1e400", "agent.max_tool_iterations: expected an integer"),
    ("[media.image]\nmax_bytes = 18446744073709551616", "media.image.max_bytes: must be between"),
]


@pytest.mark.parametrize(("toml", "expected"), BAD_SETTINGS)
def test_check_refuses_each_setting_a_turn_cannot_use(home: Path, toml: str, expected: str) -> None:
    (home / "bad.toml").write_text(f"{toml}\n[channels.console]\n")
    result = nanobot(home, "check", "-c", "bad.toml")
    assert result.returncode == 1, result.stderr
    assert one_error_line(result).startswith(f"error: {expected}")


def test_check_refuses_a_nan_video_duration(home: Path) -> None:
    pytest.importorskip("nanobot_video_ffmpeg")
    if shutil.which("ffmpeg") is None:
        pytest.skip("the video plugin needs ffmpeg on PATH")
    (home / "bad.toml").write_text("[media.video]\nmax_duration = nan\n")
    result = nanobot(home, "check", "-c", "bad.toml")
    assert result.returncode == 1, result.stderr
    assert one_error_line(result).startswith(
        "error: media.video.max_duration: must be a finite number, got nan"
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"[agent]\nmodel = '\xff'\n", "line 2: not UTF-8 text (byte 0xff)"),
        ("[agent]\n".encode("utf-16"), "the file is UTF-16; save it as UTF-8"),
        (b"a = " + b"[" * 50_000 + b"]" * 50_000, "nested more than 32 levels deep"),
    ],
)
def test_a_config_file_nanobot_cannot_read_is_one_line(
    home: Path, data: bytes, expected: str
) -> None:
    (home / "bad.toml").write_bytes(data)
    for command in ("check", "chat", "run"):
        result = nanobot(home, command, "-c", "bad.toml")
        assert result.returncode == 1, (command, result.stderr)
        assert expected in one_error_line(result)
        assert len(result.stderr.splitlines()) == 1


def test_an_unreadable_config_exits_1(home: Path) -> None:
    (home / "folder.toml").mkdir()
    result = nanobot(home, "check", "-c", "folder.toml")
    assert result.returncode == 1
    assert one_error_line(result) == "error: config file folder.toml is a directory"
    if Path("/proc/self/mem").is_file():  # a file even root cannot read: EIO at offset 0
        result = nanobot(home, "check", "-c", "/proc/self/mem")
        assert result.returncode == 1
        assert one_error_line(result) == (
            "error: cannot read config file /proc/self/mem: Input/output error"
        )
