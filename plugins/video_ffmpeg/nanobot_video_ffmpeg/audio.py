"""The audio track, made small for a transcriber.

OGG/Opus, 16 kHz mono, 24 kbit/s speech mode: about 180 kB a minute, so
even a 10-minute video stays far below the 25 MB upload cap of hosted
transcription APIs (16 kHz WAV would be 19 MB), and it is the format of
Telegram voice notes, which every transcriber here already takes.
``-compression_level 0`` trades a little size for a 2x faster encode (see
the benchmark). Without libopus (some builds) it falls back to 16 kHz WAV.
"""

from __future__ import annotations

from pathlib import Path

from . import ffmpeg
from .probe import Probe

OPUS = [
    "-c:a",
    "libopus",
    "-b:a",
    "24k",
    "-application",
    "voip",
    "-compression_level",
    "0",
    "-f",
    "ogg",
]
WAV = ["-c:a", "pcm_s16le", "-f", "wav"]


def audio_args(path: Path, probe: Probe, out: Path, codec: list[str]) -> list[str]:
    """The track, cut at the duration that was checked against ``max_duration``: a header
    may claim 5 s for an hour of audio, and the transcriber would be paid for the hour."""
    assert probe.audio and probe.duration is not None
    return [
        *ffmpeg.input_args(path, probe.container),
        "-map", "0:a:0", "-vn", "-sn", "-dn", "-t", f"{probe.duration:.3f}",
        "-ac", "1", "-ar", "16000", *codec, "-n", str(out),
    ]  # fmt: skip
