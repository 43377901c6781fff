"""SIGTERM to a real ``nanobot chat --attach video.mp4`` while ffmpeg extracts frames."""

from __future__ import annotations

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
