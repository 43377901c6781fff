"""What is in a video file, read from ffmpeg's own report (no ffprobe needed).

``ffmpeg -i FILE`` with no output prints the container, the duration and one
line per stream to stderr, then exits 1. Only lines at ffmpeg's own indentation
are read, so metadata text inside the file (always indented further, or
behind ``: ``) cannot pose as a stream or a duration.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from attrs import frozen

_INPUT = re.compile(r"^Input #0, (?P<names>.+?), from '")
_DURATION = re.compile(
    r"^  Duration: (?:(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?)|N/A)"
    r"(?:, start: (?P<start>-?\d+(?:\.\d+)?))?"
)
_STREAM = re.compile(r"^  Stream #0:(?P<index>\d+)\S*: (?P<type>Video|Audio): (?P<rest>.*)$")
_ALPHA = re.compile(r"^      alpha_mode\s*: 1\s*$")
_SIZE = re.compile(r", (?P<w>\d{1,5})x(?P<h>\d{1,5})[ ,]")
_FPS = re.compile(r", (?P<fps>\d+(?:\.\d+)?k?) (?:fps|tbr)\b")


@frozen
class VideoStream:
    width: int  # as stored; the frames, turned upright by ffmpeg, tell the shown size
    height: int
    fps: float | None
    codec: str = ""  # from the framecrc header: vp8/vp9 with alpha need libvpx to keep it
    alpha: bool = False


@frozen
class Probe:
    """The parts of ffmpeg's report the processor uses.

    The video is the first stream that is not a cover picture (``0:V:0``), the
    audio the first audio stream (``0:a:0``): later calls name them so, never
    by an index read from the report.
    """

    container: str  # the demuxer's short name, to force it in later calls
    duration: float | None
    video: VideoStream | None
    audio: bool


# The probe's output: the chosen streams copied to framecrc for an instant (-t 0). Its
# header is written by ffmpeg from the streams' parameters, one "#key N: value" a line,
# with no text from the file in it: which streams exist, and the video's size.
PROBE_OUTPUT = ["-map", "0:V:0?", "-map", "0:a:0?", "-c", "copy", "-t", "0", "-f", "framecrc", "-"]
_HEADER = re.compile(r"^#(?P<key>media_type|dimensions|codec_id) (?P<n>\d+): (?P<value>\S+)$")
_DIMENSIONS = re.compile(r"^(\d{1,5})x(\d{1,5})$")


def parse_report(report: str, header: str) -> Probe | None:
    """Read ``ffmpeg -i`` stderr and the framecrc ``header`` of ``PROBE_OUTPUT``;
    ``None`` when ffmpeg did not open the file as a container.

    A stream's language tag is printed raw in the report, so a tag holding a
    newline can add a fake ``Stream #0:N: Video:`` line or break the real one.
    The streams and the video's size therefore come from ``header`` only; the
    report gives the container and duration (which precede every tag), and the
    frame rate and rotation of the video's line only when a line agrees with
    the header's size (a forged one may; it only shapes the plan, see docs), and
    whether the video has an alpha track (a forged one only picks the slower
    libvpx decoder). The rotation is not read: ffmpeg turns the frames upright.
    """
    types: dict[int, str] = {}
    sizes: dict[int, tuple[int, int]] = {}
    codecs: dict[int, str] = {}
    for line in header.splitlines():
        if m := _HEADER.match(line):
            if m["key"] == "media_type":
                types[int(m["n"])] = m["value"]
            elif m["key"] == "codec_id":
                codecs[int(m["n"])] = m["value"]
            elif d := _DIMENSIONS.match(m["value"]):
                sizes[int(m["n"])] = (int(d[1]), int(d[2]))
    has_video = types.get(0) == "video"
    audio = "audio" in types.values()
    container = None
    duration: float | None = None
    lines: list[tuple[VideoStream, bool]] = []  # video lines of the report, with alpha
    timed = False
    in_video = False  # the lines below a video stream's line (its side data)
    for line in report.splitlines():
        if line.startswith(("Stream mapping:", "Output #")):
            break  # the output's lines repeat the tags
        if container is None and (m := _INPUT.match(line)):
            container = m["names"].split(",")[0]
        elif not timed and (m := _DURATION.match(line)):
            timed = True  # the container's line comes first; a later one is text from the file
            if m["s"] is not None:
                duration = int(m["h"]) * 3600 + int(m["m"]) * 60 + float(m["s"])
        elif m := _STREAM.match(line):
            in_video = m["type"] == "Video" and "(attached pic)" not in m["rest"]
            if in_video:
                lines.append((_video_stream(m["rest"]), False))
        elif in_video and _ALPHA.match(line):
            lines[-1] = (lines[-1][0], True)
        elif not line.startswith("    "):
            in_video = False
    if container is None:
        return None
    video = None
    if has_video:
        width, height = sizes.get(0, (0, 0))
        codec = codecs.get(0, "")
        video = VideoStream(width, height, None, codec)
        for said, alpha in lines:
            if (said.width, said.height) == (width, height):
                video = VideoStream(width, height, said.fps, codec, alpha)
                break
    return Probe(container, duration, video, audio)


def _video_stream(rest: str) -> VideoStream:
    size = _SIZE.search(rest)
    fps = _FPS.search(rest)
    rate = None
    if fps:
        text = fps["fps"]
        rate = float(text[:-1]) * 1000 if text.endswith("k") else float(text)
    return VideoStream(
        width=int(size["w"]) if size else 0,
        height=int(size["h"]) if size else 0,
        fps=rate if rate and rate > 0 else None,
    )


DISCARD = 0x4  # AV_PKT_FLAG_DISCARD: decoded but never shown (edit-list pre-roll)


@frozen
class Packet:
    time: float  # seconds, in the file's own time (listings are made with -copyts)
    duration: float
    key: bool
    shown: bool


class KeyframeLines:
    """Packets from a ``-f framecrc`` listing of one stream, line by line.

    framecrc writes ``#tb 0: NUM/DEN`` and then one line per packet,
    ``stream, dts, pts, duration, size, crc``, with ``F=0x..`` (the packet's
    flags) appended only when the packet is not a plain keyframe. Nothing is
    kept per packet, so the listing can be read as ffmpeg writes it.

    ``from_dts``: for a listing made with ``-discard nokey`` by the mov demuxer,
    whose pts are wrong for every packet after a skipped one (its composition
    offsets go out of step) while its dts are right. A keyframe's time is then
    its dts plus the first packet's pts - dts: the reorder delay, which encoders
    keep constant. Were it not, a seek would land a keyframe early and decode
    more, and the frame would still be the one at the time it is labelled with.
    """

    def __init__(self, *, from_dts: bool = False) -> None:
        self.from_dts = from_dts
        self.base: Fraction | None = None
        self.delay: int | None = None

    def packet(self, line: str) -> Packet | None:
        """The packet ``line`` describes when it is one of stream 0, else ``None``."""
        if line.startswith("#tb 0:"):
            num, _, den = line.partition(":")[2].strip().partition("/")
            if num.isdigit() and den.isdigit() and int(den):
                self.base = Fraction(int(num), int(den))
            return None
        if self.base is None or not line.startswith("0,"):
            return None
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 6 or not all(f.lstrip("-").isdigit() for f in fields[1:4]):
            return None
        dts, pts, duration = int(fields[1]), int(fields[2]), int(fields[3])
        if self.delay is None:
            self.delay = max(pts - dts, 0)
        flags = 1
        for f in fields[6:]:
            if f.startswith("F=0x"):
                try:
                    flags = int(f[4:], 16)
                except ValueError:
                    return None
        time = float((dts + self.delay if self.from_dts else pts) * self.base)
        return Packet(time, float(max(duration, 0) * self.base), flags == 1, not flags & DISCARD)

    def key_time(self, line: str) -> float | None:
        """The packet's time when ``line`` is a key packet of stream 0, else ``None``."""
        packet = self.packet(line)
        return packet.time if packet is not None and packet.key else None


class Sample:
    """Up to ``cap`` of the values added, evenly spread over them (every 2^k-th)."""

    def __init__(self, cap: int = 4096) -> None:
        self.cap, self.stride, self.seen = cap, 1, 0
        self.items: list[float] = []

    def add(self, value: float) -> None:
        if self.seen % self.stride == 0:
            self.items.append(value)
            if len(self.items) >= self.cap:
                self.items, self.stride = self.items[::2], self.stride * 2
        self.seen += 1

    def times(self) -> list[float]:
        return sorted(self.items)


class Scan:
    """What one pass over the video's packet listing tells, in bounded memory.

    Times are relative to ``origin``, the first shown packet: the time a player
    shows as 0:00 for the video. A complete listing (every packet, not only the
    keyframes) also gives how many frames there are and where the last one
    ends: the video's real length, whatever its header says.
    """

    def __init__(self, *, from_dts: bool = False, keep: Any = None) -> None:
        self.lines = KeyframeLines(from_dts=from_dts)
        self.complete = not from_dts
        self.origin: float | None = None
        self.count = 0
        self.end = 0.0
        self.keys: Any = keep if keep is not None else Sample()  # add(time) and times()
        self.frames = Sample()

    def add_line(self, line: str) -> None:
        packet = self.lines.packet(line)
        if packet is None or not packet.shown:
            return
        if self.origin is None:
            self.origin = packet.time
        time = packet.time - self.origin
        self.count += 1
        self.end = max(self.end, time + packet.duration)
        self.frames.add(time)
        if packet.key:
            self.keys.add(time)

    @property
    def length(self) -> float:
        return self.end if self.count else 0.0


def parse_keyframes(listing: str, *, from_dts: bool = False) -> list[float]:
    """Every key packet time (seconds, sorted) of a whole listing: see ``KeyframeLines``."""
    lines = KeyframeLines(from_dts=from_dts)
    times = {t for line in listing.splitlines() if (t := lines.key_time(line)) is not None}
    return sorted(times)
