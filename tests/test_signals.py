"""Signals to a real ``nanobot chat``/``run`` in the middle of a slow turn.

SIGTERM and SIGHUP are both a shutdown: the user is told to send the message
again, every child process is killed and reaped, and nothing stays in TMPDIR
(pointed at the test's own folder). After a SIGKILL the next start sweeps.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from nanobot_core.turn import INTERRUPTED

from .test_cli import NANOBOT, env_for, install_plugin

SLOW_PLUGIN = '''
import os
from pathlib import Path

import trio
from nanobot_core import ChatReply, TextPart, hookimpl


class SlowModel:
    """Says when it starts (a marker file), then takes a minute."""

    async def complete(self, request):
        Path(os.environ["SLOW_MARKER"]).write_text("started")
        await trio.sleep(60)
        return ChatReply(text="too late")


class Notes:
    kinds = frozenset({"document"})
    capability = ""

    async def process(self, path, attachment, context):
        return (TextPart("notes: " + path.read_text()),)


@hookimpl
def register_chat_models(register):
    register("slow", lambda config, host: SlowModel())


@hookimpl
def register_media_processors(register):
    register("document", lambda config, host: Notes())
'''

SHUTDOWN_SIGNALS = [signal.SIGTERM, signal.SIGHUP]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "tmp").mkdir()
    return home


@pytest.fixture
def slow_env(home: Path) -> dict[str, str]:
    site = home / "site"
    site.mkdir()
    install_plugin(site, "slowturn", SLOW_PLUGIN)
    (home / "nanobot.toml").write_text(
        '[agent]\nmodel = "slow/x"\n[channels.console]\n[runtime]\nshutdown_grace = 2\n'
    )
    (home / "notes.txt").write_text("remember the milk")
    return env_for(
        home, PYTHONPATH=str(site), TMPDIR=str(home / "tmp"), SLOW_MARKER=str(home / "started")
    )


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, f"nanobot ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@contextmanager
def started(args: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=cwd, env=env,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream:
                stream.close()


def descendants(process: subprocess.Popen[str]) -> list[psutil.Process]:
    try:
        return psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def still_running(children: list[psutil.Process]) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(children, timeout=5)
    return [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("signum", SHUTDOWN_SIGNALS, ids=lambda s: s.name)
def test_a_signal_during_a_chat_turn_tells_the_user_and_leaves_nothing(
    home: Path, slow_env: dict[str, str], signum: signal.Signals
) -> None:
    args = [*NANOBOT, "chat", "-m", "read this", "--attach", "notes.txt"]
    with started(args, slow_env, home) as chat:
        wait_for((home / "started").exists, chat, "the model was called")
        [root] = list((home / "tmp").iterdir())
        [turn] = [p for p in root.iterdir() if p.is_dir()]
        assert [p.name for p in turn.iterdir()] == ["document-notes.txt"]
        children = descendants(chat)
        chat.send_signal(signum)
        out, err = chat.communicate(timeout=30)
    assert chat.returncode == 2, err  # an interrupted turn is a failed one
    assert INTERRUPTED in err.splitlines() and out == ""
    assert f"received {signum.name}; shutting down" in err
    assert "Traceback" not in err
    assert still_running(children) == []
    assert list((home / "tmp").iterdir()) == []


@pytest.mark.parametrize("signum", SHUTDOWN_SIGNALS, ids=lambda s: s.name)
def test_a_signal_during_a_run_turn_tells_the_user_and_leaves_nothing(
    home: Path, slow_env: dict[str, str], signum: signal.Signals
) -> None:
    with started([*NANOBOT, "run"], slow_env, home) as run:
        assert run.stdin is not None
        run.stdin.write("hello\n")
        run.stdin.flush()
        wait_for((home / "started").exists, run, "the model was called")
        assert [p.name.split("-")[:2] for p in (home / "tmp").iterdir()] == [
            ["nanobot", str(run.pid)]
        ]
        children = descendants(run)
        run.send_signal(signum)
        out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    assert INTERRUPTED in err.splitlines() and out == ""
    assert f"received {signum.name}; shutting down" in err
    assert "Traceback" not in err
    assert still_running(children) == []
    assert list((home / "tmp").iterdir()) == []


def test_sighup_is_left_alone_under_nohup(home: Path, slow_env: dict[str, str]) -> None:
    (home / "nanobot.toml").write_text("[channels.console]\n")
    process = subprocess.Popen(
        [*NANOBOT, "run"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=home, env=slow_env,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),  # what nohup does
    )  # fmt: skip
    with process:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("one\n")
        process.stdin.flush()
        assert process.stdout.readline() == "echo: one\n"
        process.send_signal(signal.SIGHUP)
        process.stdin.write("two\n")
        process.stdin.flush()
        assert process.stdout.readline() == "echo: two\n"
        process.stdin.close()
        assert process.wait(timeout=30) == 0
    assert list((home / "tmp").iterdir()) == []


def test_the_next_start_sweeps_what_a_sigkill_left(home: Path, slow_env: dict[str, str]) -> None:
    args = [*NANOBOT, "chat", "-m", "read this", "--attach", "notes.txt"]
    with started(args, slow_env, home) as chat:
        wait_for((home / "started").exists, chat, "the model was called")
        chat.kill()
        chat.wait()
    [left] = list((home / "tmp").iterdir())
    assert left.name.startswith(f"nanobot-{chat.pid}-")
    (home / "nanobot.toml").write_text("[channels.console]\n")
    after = subprocess.run(
        [*NANOBOT, "chat", "-m", "hi"], capture_output=True, text=True, cwd=home, env=slow_env,
        timeout=60,
    )  # fmt: skip
    assert after.stdout == "echo: hi\n", after.stderr
    assert list((home / "tmp").iterdir()) == []


# --- a video turn: a real ffmpeg, in its own process group, killed with the group -------------


@pytest.fixture
def slow_video(home: Path) -> tuple[Path, Path, Path]:
    """A 30 s clip, and a wrapper that makes ffmpeg read it in real time as its child."""
    pytest.importorskip("nanobot_video_ffmpeg")
    real = shutil.which("ffmpeg")
    if real is None:
        pytest.skip("needs ffmpeg on PATH")
    clip = home / "clip.mp4"
    subprocess.run(
        [real, "-v", "error", "-f", "lavfi", "-i", "testsrc=d=30:s=160x120:r=10",
         "-f", "lavfi", "-i", "sine=d=30", "-c:v", "mpeg4", "-c:a", "aac", "-shortest", str(clip)],
        check=True, timeout=60,
    )  # fmt: skip
    wrapper = home / "slow-ffmpeg"
    wrapper.write_text(
        "#!/usr/bin/env bash\n"
        "args=()\n"
        'for a in "$@"; do [[ $a == -i ]] && args+=(-re); args+=("$a"); done\n'
        f'{real} "${{args[@]}}" &\n'
        "wait $!\n"
    )
    wrapper.chmod(0o755)
    return clip, wrapper, Path(real)


def interrupt_a_video_turn(
    home: Path, slow_video: tuple[Path, Path, Path], signum: signal.Signals
) -> tuple[subprocess.Popen[str], str, str, list[psutil.Process]]:
    """Signal ``nanobot chat --attach clip.mp4`` once the real ffmpeg runs; (process, out, err,
    the processes still running after it ended)."""
    clip, wrapper, real = slow_video
    (home / "video.toml").write_text(f'[media.video]\nffmpeg = "{wrapper}"\ntimeout = 120\n')
    env = env_for(home, TMPDIR=str(home / "tmp"))
    args = [*NANOBOT, "chat", "-c", "video.toml", "-m", "what is this?", "--attach", str(clip)]
    with started(args, env, home) as chat:

        def ffmpeg_runs() -> bool:  # on the clip: not the version check at start-up
            return any(
                _cmdline(p)[:1] == [str(real)] and "-i" in _cmdline(p) for p in descendants(chat)
            )

        wait_for(ffmpeg_runs, chat, "ffmpeg started")
        children = descendants(chat)
        chat.send_signal(signum)
        out, err = chat.communicate(timeout=30)
    return chat, out, err, still_running(children)


@pytest.mark.parametrize("signum", SHUTDOWN_SIGNALS, ids=lambda s: s.name)
def test_a_signal_during_a_video_turn_kills_ffmpeg_and_leaves_nothing(
    home: Path, slow_video: tuple[Path, Path, Path], signum: signal.Signals
) -> None:
    _, _, err, alive = interrupt_a_video_turn(home, slow_video, signum)
    assert alive == [], err
    assert list((home / "tmp").iterdir()) == []
    assert f"received {signum.name}; shutting down" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("signum", SHUTDOWN_SIGNALS, ids=lambda s: s.name)
def test_a_signal_during_a_video_turn_tells_the_user(
    home: Path, slow_video: tuple[Path, Path, Path], signum: signal.Signals
) -> None:
    chat, out, err, _ = interrupt_a_video_turn(home, slow_video, signum)
    assert INTERRUPTED in err.splitlines() and out == "", err
    assert chat.returncode == 2


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []
