"""Real OGG/Opus files for the tests, made by the ffmpeg binary that imageio-ffmpeg ships."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import trio


async def make_opus(path: Path, seconds: float, *, bitrate: str = "24k") -> Path:
    """A mono OGG/Opus file of exactly ``seconds`` of a 440 Hz tone."""
    await trio.run_process(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            *("-nostdin", "-v", "error", "-y"),
            *("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"),
            *("-c:a", "libopus", "-b:a", bitrate, "-f", "ogg", str(path)),
        ]
    )
    return path
