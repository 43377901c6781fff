"""Running ffmpeg on untrusted input: where the binary is, and how every call is made.

Every call is an argument list (no shell) with ``-nostdin``, runs in its own
process group (under ``nice`` where there is one) with a minimal environment
and the turn's workdir as its current directory, and lives inside the
caller's cancel scope: when that
scope is cancelled (timeout, turn cancelled, shutdown) the whole group is
killed with SIGKILL and the process is reaped before the scope exits.
Nothing is kept at module level: no registry of processes, no ``atexit``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence
from functools import partial
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import trio
from attrs import frozen

from nanobot_core import ConfigError, Unavailable

# Containers a phone, a chat app or a screen recorder produces, all self-contained:
# none of them can name another file or URL to open. Playlists and lists of files
# (hls, dash, concat, image sequences, ...) are not here, so ffmpeg refuses them.
CONTAINERS = ("mov", "matroska", "avi", "gif", "mpegts", "flv", "ogg", "mpeg", "asf")

# MPEG-TS packets: 188 bytes, or 192 (Blu-ray/AVCHD .m2ts, a 4-byte timestamp first) or
# 204 (Reed-Solomon parity after), each starting with the sync byte 0x47.
_TS_PACKETS = ((188, 0), (192, 4), (204, 0))
SNIFF_BYTES = 204 * 64  # what ``sniff`` needs at most: 64 packets
_TS_MIN_PACKETS = 3  # PAT, PMT and one PES: the least a TS with a video holds


def sniff(head: bytes) -> str | None:
    """``mpegts`` when ``head`` (a file's first bytes, ``SNIFF_BYTES`` or the whole file)
    is MPEG-TS packets, else ``None`` (ffmpeg then guesses among ``CONTAINERS``).

    ffmpeg's own probe scores MPEG-TS only past ten packets (~2 KB; 5.1 and 9 alike):
    a clip of a frame or two is then taken as MPEG-PS ("mpeg", low score) and fails
    to open. Every packet in ``head`` must start with the sync byte, so a file of
    another kind passes only by having 0x47 at each of those offsets.
    """
    for size, offset in _TS_PACKETS:
        starts = range(offset, len(head), size)  # a last, partial packet's too
        if len(starts) >= _TS_MIN_PACKETS and all(head[at] == 0x47 for at in starts):
            return "mpegts"
    return None


_ENV = {"LC_ALL": "C"}  # no FFREPORT / AV_LOG_* from the parent environment
SUPPORTED = (5, 1)  # the oldest ffmpeg the processor is tested with (Debian 12's)
KINDS = frozenset({"video", "video_note", "animation"})


def install_hint() -> str:
    """How to get the bundled ffmpeg, in the form that works where this plugin came from:
    the folder of a clone (pip's ``direct_url.json`` names a local directory) or the index."""
    try:
        text = distribution("nanobot-video-ffmpeg").read_text("direct_url.json")
        url = json.loads(text).get("url", "") if text else ""
    except (PackageNotFoundError, ValueError, AttributeError):
        url = ""
    if url.startswith("file://"):
        folder = Path(url.removeprefix("file://"))
        try:
            shown = folder.relative_to(Path.cwd())
            where = f"./{shown}" if str(shown) != "." else "."
        except ValueError:
            where = str(folder)
        return f"pip install '{where}[bundled]'"
    return "pip install 'nanobot-video-ffmpeg[bundled]'"


_VERSION = re.compile(r"^ffmpeg version n?(\d+)\.(\d+)")


def version_of(binary: Path) -> tuple[int, int] | None:
    """``(major, minor)`` from ``ffmpeg -version``; ``None`` for a git build (``N-...``),
    which is newer than any release, or when it cannot be read."""
    try:
        done = subprocess.run(
            [str(binary), "-hide_banner", "-version"],
            capture_output=True, timeout=10, check=False, env=_ENV, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    m = _VERSION.match(done.stdout.decode("ascii", "replace"))
    return (int(m[1]), int(m[2])) if m else None


def _supported(binary: Path) -> tuple[bool, str]:
    found = version_of(binary)
    return found is None or found >= SUPPORTED, f"{found[0]}.{found[1]}" if found else ""


def _bundled() -> Path | None:
    try:
        import imageio_ffmpeg  # type: ignore[import-untyped]  # the optional extra, lazily
    except ImportError:
        return None
    try:
        return Path(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError:  # installed without a binary for this platform
        return None


def find_ffmpeg(configured: Path | None) -> Path:
    """The configured binary, else ``ffmpeg`` on PATH, else imageio-ffmpeg's, the first
    that is 5.1 or newer. ``ConfigError`` for a configured one that cannot be used;
    ``Unavailable`` when none is found (nanobot runs on without video)."""
    low = "{} is ffmpeg {}; the video processor needs 5.1 or newer"
    if configured is not None:
        if not (configured.is_file() and os.access(configured, os.X_OK)):
            raise ConfigError(f"media.video.ffmpeg: {configured} is not an executable file")
        ok, version = _supported(configured)
        if not ok:
            raise ConfigError(
                f"media.video.ffmpeg: {low.format(configured, version)}; "
                f"install a newer one, or remove this key and run: {install_hint()}"
            )
        return configured
    older = ""
    for candidate in (shutil.which("ffmpeg"), _bundled()):
        if candidate:
            ok, version = _supported(Path(candidate))
            if ok:
                return Path(candidate)
            older = older or low.format(candidate, version)
    found = older or "ffmpeg not found on PATH"
    raise Unavailable(
        f"{found}; install ffmpeg 5.1 or newer (apt install ffmpeg, brew install ffmpeg) "
        f"or run: {install_hint()}",
        kinds=KINDS,
    )


def input_args(
    path: Path,
    container: str | None = None,
    seek: float | None = None,
    max_pixels: int | None = None,
    decoder: str | None = None,
) -> list[str]:
    """Options and ``-i`` for one input: a local file, one allowed container, nothing else.

    ``-protocol_whitelist file`` forbids every network protocol and every
    protocol that wraps another (``concat:``, ``subfile:``, ``data:``, ...).
    ``-format_whitelist`` lets ffmpeg pick only a self-contained container while
    probing; later calls force (``-f``) the container the probe found, so no
    second guess can land on another demuxer. ``file:`` + an absolute path: a
    name cannot start with ``-`` or be read as ``protocol:...``.

    The probe's container comes from ffmpeg's report, which the file can write
    into (a Matroska doctype is logged before the report), so it is checked here
    again: no text in a file can make a later call force a playlist demuxer.

    ``max_pixels``, for inputs that decode video: the decoder refuses any larger
    picture, so a stream whose size grows after its first header (checked
    before decoding) cannot make ffmpeg allocate bigger frames.

    ``decoder``: the video decoder to use instead of ffmpeg's choice.
    """
    args = ["-protocol_whitelist", "file"]
    if container is not None and container not in CONTAINERS:
        raise ValueError(f"container {container!r} is not an allowed one")
    if container is None:
        args += ["-format_whitelist", ",".join(CONTAINERS)]
    else:
        args += ["-format_whitelist", container, "-f", container]
    if max_pixels is not None:
        args += ["-max_pixels", str(max_pixels)]
    if seek is not None:
        args += ["-ss", f"{seek:.6f}"]
    if decoder is not None:  # libvpx for VP8/VP9 with alpha, which ffmpeg's own decoders drop
        args += ["-c:v", decoder]
    return [*args, "-i", f"file:{path.absolute()}"]


@frozen
class Result:
    returncode: int
    stdout: bytes
    stderr: str


async def _kill_group(process: trio.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # its own group: the group id is its pid


def find_nice() -> list[str]:
    """``nice -n 10`` when the system has it: ffmpeg's many threads then yield the CPU
    to the event loop, which otherwise waits tens of ms for a slice on a small machine."""
    nice = shutil.which("nice")
    return [nice, "-n", "10"] if nice else []


async def run(
    binary: Path,
    args: Sequence[str],
    *,
    cwd: Path,
    loglevel: str = "error",
    prefix: Sequence[str] = (),
) -> Result:
    """Run ffmpeg with ``args`` and return its exit status and output; never raises on failure.

    ``prefix`` is put before the binary (``find_nice()``; it execs ffmpeg in place).
    Cancelling the caller's scope kills the process group and reaps it first.
    """
    command = [
        *prefix,
        str(binary),
        "-nostdin",
        "-nostats",
        "-hide_banner",
        "-loglevel",
        loglevel,
        *args,
    ]
    done = await trio.run_process(
        command,
        stdin=subprocess.DEVNULL,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        cwd=cwd,
        env=_ENV,
        # Its own process group, so one signal reaches everything it starts, but in our
        # session: Linux puts a new session in its own scheduler "autogroup", where
        # `nice` no longer lowers it against us (the event loop lagged ~100 ms).
        process_group=0,
        deliver_cancel=_kill_group,
    )
    return Result(done.returncode, done.stdout, done.stderr.decode("utf-8", "replace"))


MAX_LINE = 4096  # longer stdout lines are dropped unread (a framecrc line is ~60 bytes)


async def each_line(
    binary: Path,
    args: Sequence[str],
    on_line: Callable[[str], None],
    *,
    cwd: Path,
    prefix: Sequence[str] = (),
) -> int:
    """Run ffmpeg like ``run``, handing each stdout line to ``on_line`` as it is written.

    Memory stays bounded by one read and one line, however long the output:
    for listings of millions of packets. stderr is discarded (``-loglevel
    error``). Returns the exit status. Cancelling kills the group and reaps it.
    """
    command = [
        *prefix,
        str(binary),
        "-nostdin",
        "-nostats",
        "-hide_banner",
        "-loglevel",
        "error",
        *args,
    ]
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            partial(
                trio.run_process,
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                check=False,
                cwd=cwd,
                env=_ENV,
                process_group=0,
                deliver_cancel=_kill_group,
            )
        )
        assert process.stdout is not None
        tail = b""
        skipping = False  # inside a line over MAX_LINE: drop it up to its end
        async with process.stdout:
            while chunk := await process.stdout.receive_some(65536):
                *lines, rest = (tail + chunk).split(b"\n")
                for line in lines:
                    if not skipping:
                        on_line(line.decode("ascii", "replace"))
                    skipping = False
                if len(rest) > MAX_LINE:
                    rest, skipping = b"", True
                tail = rest
        if tail and not skipping:
            on_line(tail.decode("ascii", "replace"))
    return process.returncode if process.returncode is not None else -1
