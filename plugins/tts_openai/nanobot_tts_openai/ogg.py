"""The length of an OGG/Opus file, read from the stream itself (no ffprobe).

An Ogg page header carries a granule position; for Opus it counts 48 kHz
samples from the start of the stream, including the encoder's pre-skip
(RFC 7845, section 4). The duration is therefore

    (granule position of the last page - pre-skip from the OpusHead) / 48000

Only the file's first page (the OpusHead) and its tail are read, through trio,
so the cost does not grow with the file. Candidate pages are checked against
their CRC so an ``OggS`` inside audio data is not mistaken for a page.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import trio
from attrs import frozen

OPUS_RATE = 48_000
_MAGIC = b"OggS"
_HEADER = struct.Struct("<4sBBqIIIB")  # magic, version, flags, granule, serial, seq, crc, count
_MAX_PAGE = _HEADER.size + 255 + 255 * 255
_UNKNOWN_GRANULE = -1  # a page on which no packet ends


class OggError(ValueError):
    """The bytes are not an OGG/Opus stream this module can measure."""


@frozen
class Page:
    """One Ogg page found in a buffer: where it starts, its size and its header fields."""

    offset: int
    size: int
    granule: int
    serial: int
    payload: bytes


async def opus_duration(path: Path) -> float:
    """Seconds of audio in the OGG/Opus file at ``path``; raises ``OggError`` if it is not one."""
    async with await trio.open_file(path, "rb") as file:
        head = await file.read(_MAX_PAGE)
        size = await file.seek(0, 2)
        await file.seek(max(0, size - 2 * _MAX_PAGE))
        tail = await file.read()
    return duration_from(head, tail)  # C-speed work (rfind, zlib): microseconds


def duration_from(head: bytes, tail: bytes) -> float:
    """Seconds of audio, from the first bytes and the last bytes of an OGG/Opus stream."""
    first = read_page(head, 0)
    if first is None or not first.payload.startswith(b"OpusHead") or len(first.payload) < 12:
        raise OggError("not an OGG/Opus stream: no OpusHead page at the start")
    pre_skip: int = struct.unpack_from("<H", first.payload, 10)[0]
    last = last_page(tail, first.serial)
    if last is None:
        raise OggError("no complete Ogg page with a granule position at the end of the stream")
    return max(0, last.granule - pre_skip) / OPUS_RATE


def last_page(data: bytes, serial: int) -> Page | None:
    """The last valid page of stream ``serial`` in ``data`` that has a granule position."""
    position = data.rfind(_MAGIC)
    while position >= 0:
        page = read_page(data, position)
        if page is not None and page.serial == serial and page.granule != _UNKNOWN_GRANULE:
            return page
        position = data.rfind(_MAGIC, 0, position)
    return None


def read_page(data: bytes, offset: int) -> Page | None:
    """The page starting at ``offset`` if it is complete and its CRC matches, else ``None``."""
    if len(data) - offset < _HEADER.size:
        return None
    magic, version, _flags, granule, serial, _seq, crc, count = _HEADER.unpack_from(data, offset)
    if magic != _MAGIC or version != 0:
        return None
    body_start = offset + _HEADER.size + count
    if body_start > len(data):
        return None
    body_size = sum(data[offset + _HEADER.size : body_start])
    end = body_start + body_size
    if end > len(data):
        return None
    unsigned = bytearray(data[offset:end])
    unsigned[22:26] = b"\0\0\0\0"  # the CRC is computed with its own field zeroed
    if _crc(unsigned) != crc:
        return None
    return Page(offset, end - offset, granule, serial, bytes(data[body_start:end]))


# Ogg's CRC-32 (polynomial 0x04C11DB7, initial value 0, bits not reflected) is zlib's
# reflected CRC-32 run over bit-reversed bytes, with zlib's pre- and post-inversion
# undone and the result bit-reversed: C speed instead of a Python loop per byte.
_REVERSED_BYTES = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _crc(data: bytes | bytearray) -> int:
    """Ogg's CRC-32 of ``data``."""
    register = ~zlib.crc32(data.translate(_REVERSED_BYTES), 0xFFFFFFFF) & 0xFFFFFFFF
    return int(f"{register:032b}"[::-1], 2)
