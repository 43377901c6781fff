"""Audio a transcriber does not take, converted by ffmpeg to Ogg/Opus, mono, 16 kHz.

The transcription API documents flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav and
webm; AMR voice memos, WMA, ADTS AAC, 3GP audio, MPEG-TS and Matroska audio
are converted first. Opus at 24 kbit/s in speech mode keeps a minute in about
180 kB, the format Telegram voice notes already have.

ffmpeg runs on untrusted input under the rules of the video plugin's runner:
an argument list with ``-nostdin``, only local files (``-protocol_whitelist
file``) and self-contained containers (``-format_whitelist``), its own process
group under ``nice``, a minimal environment, the turn's workdir as its
directory and for its output, and a timeout. Cancelling the caller's scope
kills the whole group and reaps it before the scope exits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import trio

from .errors import ConfigError, MediaError

INSTALL_HINT = "install ffmpeg, or run: pip install imageio-ffmpeg"

# Demuxers of single audio files and of the containers phones and recorders write;
# none of them can name another file or URL (playlists and concat lists are not here).
DEMUXERS = (
    "mov", "matroska", "mpegts", "ogg", "asf", "amr", "aac", "mp3", "wav", "flac",
    "avi", "flv", "aiff", "caf", "w64",
)  # fmt: skip
OPUS = ["-c:a", "libopus", "-b:a", "24k", "-application", "voip", "-f", "ogg"]
_ENV = {"LC_ALL": "C"}  # no FFREPORT / AV_LOG_* from the parent environment


def find_ffmpeg(configured: Path | None = None) -> Path | None:
    """The configured binary, else ``ffmpeg`` on PATH, else imageio-ffmpeg's, else ``None``."""
    if configured is not None:
        if not (configured.is_file() and os.access(configured, os.X_OK)):
            raise ConfigError(f"media.audio.ffmpeg: {configured} is not an executable file")
        return configured
    on_path = shutil.which("ffmpeg")
    if on_path:
        return Path(on_path)
    try:
        import imageio_ffmpeg  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        return Path(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError:  # installed without a binary for this platform
        return None


async def to_speech_ogg(binary: Path, source: Path, out: Path) -> None:
    """Write the first audio track of ``source`` into ``out`` as Ogg/Opus, mono, 16 kHz.

    Both paths are absolute and ``out`` must not exist. Raises ``MediaError``
    when ffmpeg cannot read the file. The caller's scope bounds the time; when
    it is cancelled ffmpeg is killed and reaped. Nothing is left at ``out`` on
    any failure.
    """
    if not (source.is_absolute() and out.is_absolute()):
        raise ValueError("to_speech_ogg takes absolute paths")
    args = [
        "-protocol_whitelist", "file", "-format_whitelist", ",".join(DEMUXERS),
        "-i", f"file:{source}",
        "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", "16000", *OPUS,
        "-n", f"file:{out}",
    ]  # fmt: skip
    try:
        returncode, stderr = await _run(binary, args, cwd=out.parent)
    except BaseException:
        with trio.CancelScope(shield=True):
            await _remove(out)
        raise
    if returncode != 0:
        await _remove(out)
        raise MediaError(f"the audio could not be converted ({_last_line(stderr, source)}).")


async def _run(binary: Path, args: list[str], *, cwd: Path) -> tuple[int, str]:
    nice = shutil.which("nice")
    prefix = [nice, "-n", "10"] if nice else []
    command = [*prefix, str(binary), "-nostdin", "-hide_banner", "-loglevel", "error", *args]
    done = await trio.run_process(
        command,
        stdin=subprocess.DEVNULL,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        cwd=cwd,
        env=_ENV,
        process_group=0,  # one signal reaches all it starts; our session keeps `nice` effective
        deliver_cancel=_kill_group,
    )
    return done.returncode, done.stderr.decode("utf-8", "replace")


async def _kill_group(process: trio.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # its own group: the group id is its pid


async def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        await trio.Path(path).unlink()


def _last_line(stderr: str, source: Path) -> str:
    """ffmpeg's last complaint, without the workdir's path in it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    text = lines[-1] if lines else "ffmpeg failed"
    return text.replace(f"file:{source}", source.name)[:160]
