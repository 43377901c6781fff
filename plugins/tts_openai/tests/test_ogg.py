from __future__ import annotations

from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from nanobot_tts_openai.ogg import (
    OggError,
    _crc,
    duration_from,
    last_page,
    opus_duration,
    read_page,
)

from .media import make_opus


@pytest.mark.parametrize("seconds", [0.1, 1.0, 2.5, 7.3])
async def test_duration_of_files_made_by_ffmpeg(tmp_path: Path, seconds: float) -> None:
    path = await make_opus(tmp_path / "tone.ogg", seconds)
    assert await opus_duration(path) == pytest.approx(seconds, abs=1e-3)


async def test_duration_of_a_long_file_reads_only_head_and_tail(tmp_path: Path) -> None:
    # 40 s at 64 kbit/s is ~320 KB: the tail that is read does not reach the head.
    path = await make_opus(tmp_path / "long.ogg", 40.0, bitrate="64k")
    assert path.stat().st_size > 300_000
    assert await opus_duration(path) == pytest.approx(40.0, abs=1e-3)


async def test_oggs_inside_trailing_bytes_is_not_taken_for_a_page(tmp_path: Path) -> None:
    path = await make_opus(tmp_path / "tone.ogg", 1.5)
    with path.open("ab") as file:
        file.write(b"OggS\x00\x04" + b"\xff" * 8 + b"\x00" * 40)  # a header with a bad CRC
    assert await opus_duration(path) == pytest.approx(1.5, abs=1e-3)


async def test_a_cut_off_last_page_is_skipped(tmp_path: Path) -> None:
    path = await make_opus(tmp_path / "tone.ogg", 3.0)
    data = path.read_bytes()
    last = last_page(data, read_page(data, 0).serial)  # type: ignore[union-attr]
    assert last is not None
    cut = data[: last.offset + last.size - 10]
    # the previous page ends earlier, so the duration is shorter but still measured
    assert 0 < duration_from(data[:4096], cut) < 3.0


async def test_pre_skip_is_subtracted(tmp_path: Path) -> None:
    path = await make_opus(tmp_path / "tone.ogg", 1.0)
    data = path.read_bytes()
    first = read_page(data, 0)
    assert first is not None and first.payload.startswith(b"OpusHead")
    pre_skip = int.from_bytes(first.payload[10:12], "little")
    assert pre_skip > 0
    last = last_page(data, first.serial)
    assert last is not None
    assert last.granule == 48_000 + pre_skip


async def test_not_ogg(tmp_path: Path) -> None:
    path = tmp_path / "noise.ogg"
    await trio.Path(path).write_bytes(bytes(range(256)) * 100)
    with pytest.raises(OggError, match="OpusHead"):
        await opus_duration(path)


async def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.ogg"
    path.touch()
    with pytest.raises(OggError):
        await opus_duration(path)


async def test_only_the_header_pages(tmp_path: Path) -> None:
    path = await make_opus(tmp_path / "tone.ogg", 1.0)
    data = path.read_bytes()
    first = read_page(data, 0)
    assert first is not None
    # OpusHead and OpusTags pages carry granule 0: no audio yet
    tags = read_page(data, first.size)
    assert tags is not None
    assert duration_from(data, data[: first.size + tags.size]) == 0.0


def _reference_crc(data: bytes) -> int:
    """Ogg's CRC-32 the slow, obvious way (RFC 3533): MSB first, polynomial 0x04C11DB7."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


@given(st.binary(max_size=600))
def test_the_crc_is_oggs(data: bytes) -> None:
    assert _crc(data) == _reference_crc(data)


def test_the_crc_of_a_known_value() -> None:
    # CRC-32/MPEG-2 without its 0xFFFFFFFF initial value and final xor ("CRC-32/OGG")
    assert _crc(b"123456789") == 0x89A1897F
