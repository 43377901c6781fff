"""The README and the offline demo, followed as written: a fresh venv from a copy of the clone,
then `nanobot chat` against the test server launched as docs/testing-server.md says."""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
TESTING_SERVER = ROOT / "docs" / "testing-server.md"
_BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)


def blocks(text: str, language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(text) if lang == language]


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The user's environment (pip's cache and settings kept), nanobot's folders in tmp_path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NANOBOT_", "OPENAI_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    return env


def copy_of_the_clone(target: Path) -> Path:
    """The files a fresh clone has: tracked ones, plus new ones not ignored (uncommitted work)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listing.returncode != 0:
        pytest.skip("not a git checkout: cannot tell which files a clone has")
    for name in filter(None, listing.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.mark.venv
def test_the_readme_install_and_first_command_work_in_a_fresh_venv(tmp_path: Path) -> None:
    first = next(b for b in blocks(README.read_text(), "sh") if "nanobot chat" in b)
    assert first.startswith("python3 -m venv .venv && .venv/bin/pip install . &&"), first
    clone = copy_of_the_clone(tmp_path / "clone")
    result = subprocess.run(
        ["bash", "-ec", first],
        cwd=clone,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "echo: hello"
    assert "no config file found; using built-in defaults" in result.stderr
    assert (clone / ".venv" / "bin" / "nanobot").exists()


def offline_demo() -> tuple[list[str], str, list[str]]:
    """The server command, offline.toml and the chat commands of the doc's offline section."""
    section = TESTING_SERVER.read_text().split("## Trying nanobot offline", 1)[1]
    commands = [line for block in blocks(section, "sh") for line in block.splitlines()]
    server = next(line for line in commands if "nanobot_core.testing.openai_server" in line)
    toml = next(block for block in blocks(section, "toml") if block.startswith("# offline.toml"))
    chats = [line for line in commands if "nanobot chat" in line]
    return shlex.split(server), toml, chats


def as_here(words: list[str], cwd: Path) -> list[str]:
    """`.venv/bin/python` and `.venv/bin/nanobot` as this test's interpreter; globs expanded."""
    program, *args = words
    head = {
        ".venv/bin/python": [sys.executable],
        ".venv/bin/nanobot": [sys.executable, "-m", "nanobot_core"],
    }[program]
    expanded: list[str] = []
    for arg in args:
        expanded += (sorted(glob.glob(arg, root_dir=cwd)) or [arg]) if "*" in arg else [arg]
    return head + expanded


def test_the_offline_demo_runs_through_nanobot_chat(tmp_path: Path) -> None:
    pytest.importorskip("nanobot_provider_openai", reason="the provider plugin is not installed")
    pytest.importorskip("nanobot_tts_openai", reason="the tts plugin is not installed")
    server_words, toml, chats = offline_demo()
    reply = server_words[server_words.index("--reply") + 1]
    env = clean_env(tmp_path)
    server = subprocess.Popen(
        [*as_here(server_words, tmp_path), "--port", "0"],  # the documented 8765 may be taken
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        match = re.fullmatch(
            r"serving OpenAI-compatible API at (http://127\.0\.0\.1:\d+/v1) \(Ctrl\+C stops\)\n",
            banner,
        )
        assert match is not None, banner + server.stderr.read()  # type: ignore[union-attr]
        config = toml.replace("http://127.0.0.1:8765/v1", match.group(1))
        assert tomllib.loads(config)["providers"]["openai"]["base_url"] == match.group(1)
        (tmp_path / "offline.toml").write_text(config)
        for chat in chats:
            result = subprocess.run(
                as_here(shlex.split(chat), tmp_path),
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, result.stderr
            text, audio = result.stdout.splitlines()
            assert text == reply
            written = tmp_path / audio.removeprefix("audio: ")
            assert re.fullmatch(r"nanobot-reply-\d{8}-\d{6}-1\.ogg", written.name), audio
            head = written.read_bytes()[:64]
            assert head.startswith(b"OggS") and b"OpusHead" in head
        server.send_signal(signal.SIGINT)  # Ctrl+C
        out, err = server.communicate(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, err
    assert err == ""
    assert out == "stopped after 5 requests (chat 2, transcription 1, speech 2)\n"
