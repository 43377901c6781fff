"""SIGTERM to a real ``nanobot chat --attach video.mp4`` while ffmpeg extracts frames."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from .conftest import Media

NANOBOT = Path(sys.executable).parent / "nanobot"


def extracting(parent: psutil.Process, real: str) -> dict[psutil.Process, list[str]]:
    """The real ffmpeg processes under ``parent`` that extract frames, with their arguments."""
    try:
        children = parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    found = {}
    for child in children:
        try:
            cmdline = child.cmdline()
        except psutil.Error:
            continue
        if cmdline[:1] == [real] and any("frame-" in arg for arg in cmdline):
            found[child] = cmdline
    return found


@pytest.mark.skipif(not NANOBOT.exists(), reason="the nanobot command is not installed")
def test_sigterm_during_extraction_leaves_no_process_and_no_workdir(
    media: Media, ffmpeg_bin: Path, slow_ffmpeg: Callable[[str], Path], tmp_path: Path
) -> None:
    wrapper = slow_ffmpeg("frame-")  # frame extraction reads the 60 s clip in real time
    config = tmp_path / "nanobot.toml"
    config.write_text(
        f'[agent]\nmodel = "echo/echo"\n\n[media.video]\nffmpeg = "{wrapper}"\ntimeout = 120\n'
    )
    output = tmp_path / "output.txt"
    with output.open("wb") as sink:
        chat = subprocess.Popen(
            [str(NANOBOT), "chat", "-c", str(config), "--attach", str(media.ramp60), "-m", "?"],
            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        parent = psutil.Process(chat.pid)
        deadline = time.monotonic() + 60
        running: dict[psutil.Process, list[str]] = {}
        while not running and chat.poll() is None and time.monotonic() < deadline:
            running = extracting(parent, str(ffmpeg_bin))
            time.sleep(0.02)
        assert running, "the real ffmpeg never ran: " + output.read_text()[-2000:]
        [workdir] = {
            Path(arg.removeprefix("file:")).parent
            for cmdline in running.values()
            for arg in cmdline
            if arg.startswith("file:")
        }
        chat.send_signal(signal.SIGTERM)
        chat.wait(timeout=30)
    finally:
        if chat.poll() is None:
            chat.kill()
            chat.wait()
    _, alive = psutil.wait_procs(list(running), timeout=5)
    assert [p for p in alive if p.status() != psutil.STATUS_ZOMBIE] == []
    assert not workdir.exists()  # the turn's workdir, with the frames, is gone


@pytest.fixture
def no_ffmpeg(tmp_path: Path) -> dict[str, str]:
    """An environment with no ffmpeg anywhere: an empty PATH, imageio-ffmpeg hidden."""
    hide = tmp_path / "hide" / "imageio_ffmpeg"
    hide.mkdir(parents=True)
    (hide / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    empty = tmp_path / "bin"
    empty.mkdir()
    home = tmp_path / "home"
    return {
        "PATH": str(empty),
        "PYTHONPATH": str(hide.parent),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "LC_ALL": "C.UTF-8",
    }


def nanobot(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NANOBOT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


REASON = "ffmpeg not found on PATH; install ffmpeg 5.1 or newer"
LINE = f"media processor 'video' is unavailable: {REASON}"


@pytest.mark.skipif(not NANOBOT.exists(), reason="the nanobot command is not installed")
def test_without_ffmpeg_everything_else_works_and_says_why_once(
    no_ffmpeg: dict[str, str], media: Media, tmp_path: Path
) -> None:
    repo = Path(__file__).parents[3]
    # not configured: check passes with one warning naming the install form of this clone
    done = nanobot(no_ffmpeg, repo, "check")
    assert done.returncode == 0, done.stderr
    [warning] = [line for line in done.stderr.splitlines() if "unavailable" in line]
    assert warning.startswith(f"warning: {LINE}")
    assert warning.endswith("or run: pip install './plugins/video_ffmpeg[bundled]'")
    assert done.stdout.startswith("ok: ")
    # configured: check fails, with the same line
    config = tmp_path / "nanobot.toml"
    config.write_text('[agent]\nmodel = "echo/echo"\n\n[media.video]\nmax_frames = 4\n')
    done = nanobot(no_ffmpeg, tmp_path, "check", "-c", str(config))
    assert done.returncode == 1
    assert f"error: {LINE}" in done.stderr  # from another folder, the clone's absolute path:
    assert f"or run: pip install '{repo}/plugins/video_ffmpeg[bundled]'" in done.stderr
    # text still works, and a video gets the line
    done = nanobot(no_ffmpeg, tmp_path, "chat", "-c", str(config), "-m", "hello")
    assert done.returncode == 0 and "hello" in done.stdout, done.stderr
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(media.clip.read_bytes())
    done = nanobot(
        no_ffmpeg, tmp_path, "chat", "-c", str(config), "--attach", str(clip), "-m", "what?"
    )
    assert f"clip.mp4: {LINE}" in done.stdout + done.stderr
    # plugins says it under the plugin, in text and JSON
    done = nanobot(no_ffmpeg, tmp_path, "plugins")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("video_ffmpeg "))
    assert "loaded" in lines[at] and lines[at + 1].startswith(f"  {LINE}")
    done = nanobot(no_ffmpeg, tmp_path, "plugins", "--json")
    [entry] = [e for e in json.loads(done.stdout) if e["name"] == "video_ffmpeg"]
    assert entry["status"] == "loaded" and entry["error"].startswith(LINE)
