"""``python -m nanobot_core.testing.openai_server``: the test server as a program.

A way to try nanobot end to end with no key and no network: chat completions
answer with ``--reply``, transcriptions with ``--transcript``, and speech with
a real OGG/Opus voice note (one second of silence, made here without ffmpeg),
which the ``tts_openai`` plugin measures and the console writes out. Ctrl+C
(SIGINT) or SIGTERM stops it; see ``docs/testing-server.md``.
"""

from __future__ import annotations

import argparse
import signal
import struct
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from . import openai_server
from .openai_server import OpenAIServer, Response

PROG = "python -m nanobot_core.testing.openai_server"
DEFAULT_PORT = 8765
DEFAULT_REPLY = "Hello from the offline test server."
DEFAULT_TRANSCRIPT = "This is what the test server heard."

_OPUS_RATE = 48_000
_PRE_SKIP = 312  # what libopus's encoder announces
_FRAME_SAMPLES = 960  # 20 ms at 48 kHz
_SILENT_FRAME = b"\xf8\xff\xfe"  # TOC: CELT fullband 20 ms mono, one frame; the frame: silence


def silent_opus(seconds: float = 1.0, *, serial: int = 0x6E616E6F) -> bytes:
    """An OGG/Opus file (RFC 7845) of ``seconds`` of silence, mono, 48 kHz."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, _PRE_SKIP, _OPUS_RATE, 0, 0)
    vendor = b"nanobot test server"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    samples = round(seconds * _OPUS_RATE)
    frames = -(-(samples + _PRE_SKIP) // _FRAME_SAMPLES)  # the last one is trimmed by granule
    pages = [
        _page([head], granule=0, sequence=0, serial=serial, flags=0x02),  # beginning of stream
        _page([tags], granule=0, sequence=1, serial=serial),
    ]
    sequence = 2
    for start in range(0, frames, 200):  # 200 packets of 3 bytes fit one page's 255 segments
        count = min(200, frames - start)
        last = start + count == frames
        granule = samples + _PRE_SKIP if last else (start + count) * _FRAME_SAMPLES
        packets = [_SILENT_FRAME] * count
        pages.append(_page(packets, granule, sequence, serial, flags=0x04 if last else 0))
        sequence += 1
    return b"".join(pages)


def _page(packets: list[bytes], granule: int, sequence: int, serial: int, flags: int = 0) -> bytes:
    lacing = bytearray()
    for packet in packets:  # each packet: 255s, then the rest (< 255, possibly 0)
        lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
    assert len(lacing) <= 255, "too many packets for one page"
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing))
    page = bytearray(header + lacing + b"".join(packets))
    page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
    return bytes(page)


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        value = byte << 24
        for _ in range(8):
            value = ((value << 1) ^ 0x04C11DB7) if value & 0x80000000 else value << 1
        table.append(value & 0xFFFFFFFF)
    return table


_CRC_TABLE = _crc_table()


def _ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32: polynomial 0x04C11DB7, initial value 0, not reflected."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ byte]
    return crc


class _Server(OpenAIServer):
    """The test server on a chosen port (the class itself always takes an ephemeral one)."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._port = port

    def start(self) -> OpenAIServer:
        httpd = openai_server._HTTPServer(("127.0.0.1", self._port), openai_server._Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-test-server"
        )
        self._thread.start()
        return self


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="An OpenAI-compatible server on 127.0.0.1 for trying nanobot offline: "
        "chat, transcription and speech (a real OGG/Opus voice note). Ctrl+C stops it.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument("--reply", default=DEFAULT_REPLY, help="what every chat reply says")
    parser.add_argument(
        "--transcript", default=DEFAULT_TRANSCRIPT, help="what every transcription says"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; 0 after a clean stop, 1 when the port is taken."""
    args = parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser().error(f"--port must be between 0 and 65535, got {args.port}")
    server = _Server(args.port)
    server.chat.default = Response.chat(args.reply)
    server.transcriptions.default = Response.transcription(args.transcript)
    server.speech.default = Response.audio(silent_opus(1.0))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            server.start()
        except OSError as error:
            where = f"127.0.0.1:{args.port}"
            print(f"error: cannot listen on {where}: {error.strerror}", file=sys.stderr)
            return 1
        print(f"serving OpenAI-compatible API at {server.base_url} (Ctrl+C stops)", flush=True)
        while not stop.wait(0.5):  # a timed wait lets the signal handler run promptly
            pass
        server.stop()
        counts = {
            "chat": len(server.chat.requests),
            "transcription": len(server.transcriptions.requests),
            "speech": len(server.speech.requests),
        }
        summary = ", ".join(f"{name} {count}" for name, count in counts.items())
        print(f"stopped after {len(server.requests)} requests ({summary})", flush=True)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
