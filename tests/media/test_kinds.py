"""A file's kind from its bytes: containers read for their tracks, names ignored."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanobot_core.kinds import _sniff, sniff
from nanobot_core.messages import AttachmentKind

IMAGE, AUDIO, VIDEO = AttachmentKind.IMAGE, AttachmentKind.AUDIO, AttachmentKind.VIDEO

EXPECTED = {
    "jpeg_rotated": (IMAGE, "jpeg"),
    "heic": (IMAGE, "heif"),
    "avif": (IMAGE, "avif"),
    "tiff": (IMAGE, "tiff"),
    "png_alpha": (IMAGE, "png"),
    "gif_animated": (IMAGE, "gif"),
    "webp_animated": (IMAGE, "webp"),
    "apng": (IMAGE, "png"),
    "jpeg_named_png": (IMAGE, "jpeg"),
    "png_named_mp4": (IMAGE, "png"),
    "ogg_opus": (AUDIO, "opus"),
    "wav": (AUDIO, "wav"),
    "mp3": (AUDIO, "mp3"),
    "flac": (AUDIO, "flac"),
    "m4a": (AUDIO, "mp4"),
    "mp4_audio": (AUDIO, "mp4"),
    "m4b": (AUDIO, "mp4"),
    "amr": (AUDIO, "amr"),
    "wma": (AUDIO, "asf"),
    "adts": (AUDIO, "aac"),
    "gp3_audio": (AUDIO, "3gp"),
    "ts_audio": (AUDIO, "mpegts"),
    "mka": (AUDIO, "matroska"),
    "gp3_video": (VIDEO, "3gp"),
    "ts_video": (VIDEO, "mpegts"),
    "mkv_video": (VIDEO, "matroska"),
    "webm_video": (VIDEO, "webm"),
    "mp4_video": (VIDEO, "mp4"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_by_content(samples: Any, name: str) -> None:
    sniffed = sniff(getattr(samples, name))
    assert sniffed is not None
    assert (sniffed.kind, sniffed.format) == EXPECTED[name]


def test_names_that_mislead(samples: Any) -> None:
    # what the standard library would have said from the names alone
    assert mimetypes.guess_type("clip.3gp")[0] == "audio/3gpp"
    assert mimetypes.guess_type("clip.ts")[0] == "text/vnd.trolltech.linguist"
    assert sniff(samples.gp3_video).kind is VIDEO  # type: ignore[union-attr]
    assert sniff(samples.ts_video).kind is VIDEO  # type: ignore[union-attr]
    assert sniff(samples.png_named_mp4).mime == "image/png"  # type: ignore[union-attr]
    assert sniff(samples.mp4_audio).mime == "audio/mp4"  # type: ignore[union-attr]


def test_what_is_no_known_format(samples: Any, tmp_path: Path) -> None:
    assert sniff(samples.not_an_image) is None
    assert sniff(samples.empty) is None
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.7\n%...")
    assert sniff(pdf).kind is AttachmentKind.DOCUMENT  # type: ignore[union-attr]


def test_samples_counted_where_the_header_says(samples: Any) -> None:
    assert sniff(samples.silent_ogg).samples == 0  # type: ignore[union-attr]
    assert sniff(samples.ogg_opus).samples == 48000  # type: ignore[union-attr]  # 1 s, 48 kHz
    assert sniff(samples.wav).samples == 16000  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["mp4_video", "mkv_video", "ts_video", "gp3_audio", "wma"])
def test_a_cut_or_damaged_container_never_crashes_the_sniffer(
    samples: Any, name: str, tmp_path: Path
) -> None:
    data = getattr(samples, name).read_bytes()
    for cut in (8, 40, 200, len(data) // 2):
        path = tmp_path / "cut"
        path.write_bytes(data[:cut])
        result = sniff(path)
        assert result is None or result.kind in (AUDIO, VIDEO)


PREFIXES = [
    b"\x00\x00\x00\x18ftypisom",
    b"\x1a\x45\xdf\xa3",
    b"OggS",
    b"RIFF\x00\x00\x00\x00WAVE",
    b"\x47",
    bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"),
    b"\xff\xf1",
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PREFIXES), st.binary(max_size=2000))
def test_random_bytes_after_a_known_header(prefix: bytes, body: bytes) -> None:
    import io

    data = prefix + body
    result = _sniff(io.BytesIO(data), data[:4096])
    assert result is None or result.kind in (IMAGE, AUDIO, VIDEO)
