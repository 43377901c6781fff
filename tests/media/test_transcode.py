"""Audio converted for a transcriber, on the bundled ffmpeg and on Debian's 5.1."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import psutil
import pytest
import trio

from nanobot_core import MediaError
from nanobot_core.kinds import sniff
from nanobot_core.transcode import find_ffmpeg, to_speech_ogg


def ffmpeg_children() -> list[psutil.Process]:
    me = psutil.Process()
    return [p for p in me.children(recursive=True) if "ffmpeg" in " ".join(p.cmdline())]


def opus_head(path: Path) -> tuple[int, int]:
    """(channels, input sample rate) from the first Ogg packet."""
    data = path.read_bytes()
    packet = data[27 + data[26] :]
    assert packet.startswith(b"OpusHead")
    return packet[9], struct.unpack("<I", packet[12:16])[0]


@pytest.mark.parametrize("name", ["amr", "wma", "adts", "gp3_audio", "ts_audio", "mka"])
async def test_each_undocumented_format_becomes_speech_ogg(
    samples: Any, ffmpeg: Path, name: str, tmp_path: Path
) -> None:
    out = tmp_path / "speech.ogg"
    await to_speech_ogg(ffmpeg, getattr(samples, name), out)
    sniffed = sniff(out)
    assert sniffed is not None and sniffed.format == "opus"
    assert sniffed.samples is not None and 40_000 < sniffed.samples < 56_000  # ~1 s at 48 kHz
    assert opus_head(out) == (1, 16000)


async def test_the_audio_track_of_a_video(samples: Any, ffmpeg: Path, tmp_path: Path) -> None:
    out = tmp_path / "speech.ogg"
    await to_speech_ogg(ffmpeg, samples.gp3_video, out)
    assert sniff(out).format == "opus"  # type: ignore[union-attr]


async def test_what_ffmpeg_cannot_read_is_one_line_and_leaves_nothing(
    samples: Any, ffmpeg: Path, tmp_path: Path
) -> None:
    out = tmp_path / "speech.ogg"
    with pytest.raises(MediaError) as raised:
        await to_speech_ogg(ffmpeg, samples.not_an_image, out)
    message = str(raised.value)
    assert message.startswith("the audio could not be converted (")
    assert "\n" not in message and str(samples.root) not in message
    assert not out.exists()


async def test_a_playlist_cannot_make_ffmpeg_open_other_files(
    samples: Any, ffmpeg: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.ts"
    secret.write_bytes(samples.ts_audio.read_bytes())  # plain ffmpeg converts this playlist
    playlist = tmp_path / "voice.ogg"
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1,\nsecret.ts\n#EXT-X-ENDLIST\n")
    out = tmp_path / "out.ogg"
    with pytest.raises(MediaError, match="could not be converted"):
        await to_speech_ogg(ffmpeg, playlist, out)
    assert not out.exists()


async def test_cancelling_kills_and_reaps_ffmpeg(ffmpeg: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "endless.wav"
    os.mkfifo(fifo)  # ffmpeg waits on it forever: only cancellation ends the call
    out = tmp_path / "out.ogg"
    with trio.move_on_after(1) as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(to_speech_ogg, ffmpeg, fifo, out)
            while not ffmpeg_children():  # noqa: ASYNC110  # the OS's process table has no event
                await trio.sleep(0.02)
    assert scope.cancelled_caught
    assert ffmpeg_children() == []
    assert not out.exists()


def test_find_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bundled: Path) -> None:
    from nanobot_core import ConfigError

    with pytest.raises(ConfigError, match=r"^media\.audio\.ffmpeg: .* is not an executable file"):
        find_ffmpeg(tmp_path / "nope")
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH: the bundled one
    assert find_ffmpeg() == bundled
