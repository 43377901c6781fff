"""What a file is, from its bytes: picture, audio or video, whatever its name says.

File names and ``mimetypes`` mislead (``.3gp`` is "audio/3gpp" even with a
video track, ``.ts`` is a Qt translation, an audio-only ``.mp4`` is "video").
The sniffing libraries on PyPI were checked against real files and tell no
track apart either (``filetype`` 1.2, ``puremagic`` 1.30: audio-only MP4, 3GP
and Matroska all come out as video, HEIC as MP4 or MPEG-TS not at all), so the
containers are read here: MP4/3GP/MOV by their ``hdlr`` boxes, Matroska/WebM by
``TrackType``, MPEG-TS by the stream types in its PMT, ASF by its stream
properties, Ogg by its first packet. Reads are bounded (headers and box
headers, never whole payloads); a file that fits nothing is ``None``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from attrs import frozen

from .messages import AttachmentKind

_HEAD = 4096
_MAX_BOXES = 10_000  # box and element headers visited per file, at most
_TS_SCAN = 1 << 20  # bytes of a transport stream searched for its tables

IMAGE, AUDIO, VIDEO = AttachmentKind.IMAGE, AttachmentKind.AUDIO, AttachmentKind.VIDEO


@frozen
class Sniffed:
    """A file's kind, its MIME type, and the short name of its format."""

    kind: AttachmentKind
    mime: str
    format: str  # "jpeg", "heif", "mp4", "3gp", "matroska", "mpegts", "ogg", "amr", ...
    samples: int | None = None  # audio samples the header says it holds, when it says


def sniff(path: Path) -> Sniffed | None:
    """The kind of the file at ``path`` from its content (blocking: run it in a thread)."""
    with open(path, "rb") as file:
        head = file.read(_HEAD)
        return _sniff(file, head)


def _sniff(file: BinaryIO, head: bytes) -> Sniffed | None:
    simple = _magic(head)
    if simple is not None:
        return simple
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        return _iso_media(file, head)
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return _matroska(file)
    if head[:4] == b"OggS":
        return _ogg(file, head)
    if head[:4] == b"RIFF":
        return _riff(head)
    if head[:16] == _ASF_HEADER:
        return _asf(file)
    if _is_transport_stream(head):
        return _transport_stream(file)
    return _mpeg_audio(head)


_SIGNATURES = (
    (b"\xff\xd8\xff", Sniffed(IMAGE, "image/jpeg", "jpeg")),
    (b"\x89PNG\r\n\x1a\n", Sniffed(IMAGE, "image/png", "png")),
    (b"GIF87a", Sniffed(IMAGE, "image/gif", "gif")),
    (b"GIF89a", Sniffed(IMAGE, "image/gif", "gif")),
    (b"II*\x00", Sniffed(IMAGE, "image/tiff", "tiff")),
    (b"MM\x00*", Sniffed(IMAGE, "image/tiff", "tiff")),
    (b"fLaC", Sniffed(AUDIO, "audio/flac", "flac")),
    (b"#!AMR-WB\n", Sniffed(AUDIO, "audio/amr-wb", "amr")),
    (b"#!AMR\n", Sniffed(AUDIO, "audio/amr", "amr")),
    (b"%PDF-", Sniffed(AttachmentKind.DOCUMENT, "application/pdf", "pdf")),
)


def _magic(head: bytes) -> Sniffed | None:
    for signature, sniffed in _SIGNATURES:
        if head.startswith(signature):
            return sniffed
    if head[:2] == b"BM" and len(head) > 18 and head[14] in (12, 40, 52, 56, 108, 124):
        return Sniffed(IMAGE, "image/bmp", "bmp")
    return None


# --- ISO base media (MP4, M4A, M4B, 3GP, MOV, HEIF, AVIF) ---------------------------

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_CONTAINERS = (b"moov", b"trak", b"mdia")


def _iso_media(file: BinaryIO, head: bytes) -> Sniffed | None:
    brands = _brands(head)
    major = brands[0] if brands else b""
    if major in _AVIF_BRANDS or (major in _HEIF_BRANDS and _AVIF_BRANDS & set(brands)):
        return Sniffed(IMAGE, "image/avif", "avif")
    if major in _HEIF_BRANDS:
        return Sniffed(IMAGE, "image/heif", "heif")
    handlers = set(_handlers(file))
    family = "3gp" if major.startswith(b"3g") else "mov" if major == b"qt  " else "mp4"
    if b"vide" in handlers:
        mime = {"3gp": "video/3gpp", "mov": "video/quicktime"}.get(family, "video/mp4")
        return Sniffed(VIDEO, mime, family)
    if b"soun" in handlers:
        return Sniffed(AUDIO, "audio/3gpp" if family == "3gp" else "audio/mp4", family)
    return None


def _brands(head: bytes) -> list[bytes]:
    if head[4:8] != b"ftyp":
        return []
    size = min(struct.unpack(">I", head[:4])[0], len(head))
    return [head[8:12]] + [head[i : i + 4] for i in range(16, size - 3, 4)]


def _boxes(
    file: BinaryIO, start: int, end: int, budget: list[int]
) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box between ``start`` and ``end``."""
    at = start
    while at + 8 <= end and budget[0] > 0:
        budget[0] -= 1
        file.seek(at)
        header = file.read(16)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header[:8])
        body = at + 8
        if size == 1 and len(header) == 16:
            size, body = struct.unpack(">Q", header[8:16])[0], at + 16
        elif size == 0:  # to the end of the file
            size = end - at
        if size < body - at:
            return
        yield kind, body, min(at + size, end)
        at += size


def _handlers(file: BinaryIO) -> Iterator[bytes]:
    """The handler type (``vide``, ``soun``, ...) of every track under ``moov``."""
    end = file.seek(0, 2)
    budget = [_MAX_BOXES]

    def walk(start: int, stop: int, depth: int) -> Iterator[bytes]:
        for kind, body, box_end in _boxes(file, start, stop, budget):
            if depth < len(_CONTAINERS) and kind == _CONTAINERS[depth]:
                yield from walk(body, box_end, depth + 1)
            elif depth == len(_CONTAINERS) and kind == b"hdlr":
                file.seek(body + 8)  # version/flags, pre_defined
                yield file.read(4)

    yield from walk(0, end, 0)


# --- Matroska and WebM ------------------------------------------------------------------

_SEGMENT, _TRACKS, _TRACK_ENTRY, _TRACK_TYPE, _CLUSTER, _DOCTYPE = (
    0x18538067,
    0x1654AE6B,
    0xAE,
    0x83,
    0x1F43B675,
    0x4282,
)


def _vint(file: BinaryIO, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer: (value, length); ``None`` at the end or on junk.

    An all-ones size (unknown length) comes back as -1.
    """
    first = file.read(1)
    if not first or first[0] == 0:
        return None
    length = 9 - first[0].bit_length()
    rest = file.read(length - 1)
    if len(rest) < length - 1:
        return None
    value = first[0] if keep_marker else first[0] & (0xFF >> length)
    for byte in rest:
        value = (value << 8) | byte
    if not keep_marker and value == (1 << (7 * length)) - 1:
        return -1, length
    return value, length


def _elements(
    file: BinaryIO, start: int, end: int, budget: list[int]
) -> Iterator[tuple[int, int, int]]:
    """(id, payload start, payload end) of each EBML element in ``start..end``."""
    at = start
    while at < end and budget[0] > 0:
        budget[0] -= 1
        file.seek(at)
        ident, size = _vint(file, keep_marker=True), _vint(file, keep_marker=False)
        if ident is None or size is None:
            return
        body = at + ident[1] + size[1]
        stop = end if size[0] < 0 else min(body + size[0], end)
        yield ident[0], body, stop
        if size[0] < 0 and ident[0] != _SEGMENT:
            return  # an unknown-size cluster: the tracks came before it
        at = stop if size[0] >= 0 else body


def _matroska(file: BinaryIO) -> Sniffed | None:
    end = file.seek(0, 2)
    budget = [_MAX_BOXES]
    webm = False
    types: set[int] = set()
    for ident, body, stop in _elements(file, 0, end, budget):
        if ident == 0x1A45DFA3:
            for inner, start, inner_end in _elements(file, body, stop, budget):
                if inner == _DOCTYPE:
                    file.seek(start)
                    webm = file.read(inner_end - start).rstrip(b"\0") == b"webm"
        elif ident == _SEGMENT:
            types = _track_types(file, body, stop, budget)
            break
    family, container = ("webm", "webm") if webm else ("matroska", "x-matroska")
    if 1 in types:
        return Sniffed(VIDEO, f"video/{container}", family)
    if 2 in types:
        return Sniffed(AUDIO, f"audio/{container}", family)
    return None


def _track_types(file: BinaryIO, start: int, end: int, budget: list[int]) -> set[int]:
    types: set[int] = set()
    for ident, body, stop in _elements(file, start, end, budget):
        if ident == _CLUSTER:
            break
        if ident != _TRACKS:
            continue
        for entry, entry_start, entry_end in _elements(file, body, stop, budget):
            if entry != _TRACK_ENTRY:
                continue
            for field, value_start, value_end in _elements(file, entry_start, entry_end, budget):
                if field == _TRACK_TYPE and 0 < value_end - value_start <= 8:
                    file.seek(value_start)
                    types.add(int.from_bytes(file.read(value_end - value_start), "big"))
        break
    return types


# --- Ogg, RIFF, ASF ----------------------------------------------------------------------

_OGG_CODECS = (
    (b"OpusHead", "opus"),
    (b"\x01vorbis", "vorbis"),
    (b"\x7fFLAC", "flac"),
    (b"Speex   ", "speex"),
)


def _ogg(file: BinaryIO, head: bytes) -> Sniffed | None:
    if len(head) < 28:
        return None
    first = head[27 + head[26] :]
    if first.startswith(b"\x80theora"):
        return Sniffed(VIDEO, "video/ogg", "ogg")
    for signature, codec in _OGG_CODECS:
        if first.startswith(signature):
            samples = _ogg_samples(file, first if codec == "opus" else b"")
            return Sniffed(AUDIO, "audio/ogg", "ogg" if codec != "opus" else "opus", samples)
    return None


def _ogg_samples(file: BinaryIO, opus_head: bytes) -> int | None:
    """The last page's granule position (less Opus's pre-skip): the samples in the stream."""
    end = file.seek(0, 2)
    file.seek(max(0, end - 65536))
    tail = file.read()
    at = tail.rfind(b"OggS")
    if at < 0 or len(tail) < at + 14:
        return None
    granule = struct.unpack("<q", tail[at + 6 : at + 14])[0]
    pre_skip = struct.unpack("<H", opus_head[10:12])[0] if len(opus_head) >= 12 else 0
    return max(0, granule - pre_skip) if granule >= 0 else 0


def _riff(head: bytes) -> Sniffed | None:
    form = head[8:12]
    if form == b"WEBP":
        return Sniffed(IMAGE, "image/webp", "webp")
    if form == b"AVI ":
        return Sniffed(VIDEO, "video/x-msvideo", "avi")
    if form == b"WAVE":
        return Sniffed(AUDIO, "audio/wav", "wav", _wav_samples(head))
    return None


def _wav_samples(head: bytes) -> int | None:
    at, block = 12, 0
    while at + 8 <= len(head):
        kind, size = head[at : at + 4], struct.unpack("<I", head[at + 4 : at + 8])[0]
        if kind == b"fmt " and at + 22 <= len(head):
            block = struct.unpack("<H", head[at + 20 : at + 22])[0]
        if kind == b"data":
            return size // block if block else None
        at += 8 + size + (size & 1)
    return None


_ASF_HEADER = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_ASF_VIDEO = bytes.fromhex("c0ef19bc4d5bcf11a8fd00805f5c442b")
_ASF_AUDIO = bytes.fromhex("409e69f84d5bcf11a8fd00805f5c442b")


def _asf(file: BinaryIO) -> Sniffed | None:
    file.seek(16)
    size = struct.unpack("<Q", file.read(8).ljust(8, b"\0"))[0]
    file.seek(0)
    header = file.read(min(size, 1 << 20))  # the header object lists every stream
    if _ASF_VIDEO in header:
        return Sniffed(VIDEO, "video/x-ms-asf", "asf")
    if _ASF_AUDIO in header:
        return Sniffed(AUDIO, "audio/x-ms-wma", "asf")
    return None


# --- MPEG transport stream -----------------------------------------------------------

_TS_VIDEO = {0x01, 0x02, 0x10, 0x1B, 0x24, 0x33, 0x42, 0xD1, 0xEA}
_TS_AUDIO = {0x03, 0x04, 0x0F, 0x11, 0x1C, 0x81, 0x82, 0x83, 0x84, 0x86, 0x87}


def _packet_size(head: bytes) -> tuple[int, int] | None:
    """(packet size, offset of the first sync byte): 188-byte TS or 192-byte M2TS."""
    for size, offset in ((188, 0), (192, 4)):
        if len(head) >= offset + 2 * size + 1 and all(
            head[offset + i * size] == 0x47 for i in range(3)
        ):
            return size, offset
    return None


def _is_transport_stream(head: bytes) -> bool:
    return _packet_size(head) is not None


def _transport_stream(file: BinaryIO) -> Sniffed | None:
    file.seek(0)
    data = file.read(_TS_SCAN)
    layout = _packet_size(data)
    if layout is None:
        return None
    size, offset = layout
    pmt_pids: set[int] = set()
    types: set[int] = set()
    for at in range(offset, len(data) - 187, size):
        packet = data[at : at + 188]
        if packet[0] != 0x47 or not packet[1] & 0x40:  # only the start of a section
            continue
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        section = _section(packet)
        if section is None:
            continue
        if pid == 0 and section[0] == 0x00:
            pmt_pids |= _pat_programs(section)
        elif pid in pmt_pids and section[0] == 0x02:
            types |= _pmt_stream_types(section)
            if types & _TS_VIDEO:
                break
    if types & _TS_VIDEO:
        return Sniffed(VIDEO, "video/mp2t", "mpegts")
    if types & _TS_AUDIO:
        return Sniffed(AUDIO, "audio/mp2t", "mpegts")
    return None


def _section(packet: bytes) -> bytes | None:
    """The table section starting in ``packet`` (one packet's worth: PAT and PMT fit)."""
    control = (packet[3] >> 4) & 0x3
    at = 4
    if control in (2, 3):
        at += 1 + packet[4]
    if control == 2 or at >= len(packet):
        return None
    at += 1 + packet[at]  # pointer field
    return packet[at:] if at + 3 <= len(packet) else None


def _section_body(section: bytes, skip: int) -> bytes:
    length = ((section[1] & 0x0F) << 8) | section[2]
    return section[3 + skip : 3 + length - 4]  # the CRC is left out


def _pat_programs(section: bytes) -> set[int]:
    body = _section_body(section, 5)
    pids = set()
    for at in range(0, len(body) - 3, 4):
        program, pid = struct.unpack(">HH", body[at : at + 4])
        if program != 0:  # 0 is the network information table
            pids.add(pid & 0x1FFF)
    return pids


def _pmt_stream_types(section: bytes) -> set[int]:
    body = _section_body(section, 5)
    if len(body) < 4:
        return set()
    at = 4 + (((body[2] & 0x0F) << 8) | body[3])  # PCR PID, program info
    types = set()
    while at + 5 <= len(body):
        types.add(body[at])
        at += 5 + (((body[at + 3] & 0x0F) << 8) | body[at + 4])
    return types


# --- MP3 and ADTS AAC ----------------------------------------------------------------


def _mpeg_audio(head: bytes) -> Sniffed | None:
    if head.startswith(b"ID3"):
        return Sniffed(AUDIO, "audio/mpeg", "mp3")
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    if head[1] & 0xF6 == 0xF0:  # layer 0 with a 12-bit sync: ADTS
        return Sniffed(AUDIO, "audio/aac", "aac")
    layer, bitrate = (head[1] >> 1) & 0x3, head[2] >> 4
    if layer != 0 and bitrate not in (0, 15) and (head[1] >> 3) & 0x3 != 1:
        return Sniffed(AUDIO, "audio/mpeg", "mp3")
    return None
