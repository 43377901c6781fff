"""Which frames to take, and the cheapest way to have ffmpeg decode them.

The clip is cut into ``count`` equal slots; each slot gives one frame, so
frames are distinct and spread over the whole clip. A slot's frame is the
keyframe inside the slot nearest its middle when there is one (decoding it
costs one frame), else the frame at the middle of the slot (decoding it costs
every frame from the keyframe before it). Keyframe times come from a
demux-only packet listing (no decoding; ``-discard nokey`` would be cheaper
but makes the mov demuxer report wrong times for B-frame streams).

Two ways to decode, chosen per clip by how many frames each would decode:
- seeks: one ffmpeg process, one input per frame, each input seeked (``-ss``
  before ``-i``: jump to the keyframe before, decode up to the time) and
  decoded on its own thread — ffmpeg runs inputs in parallel;
- one pass: one input decoded from the start up to the last time, a
  ``select`` filter keeping the first frame at or after each time.
Long clips with regular keyframes take the seeks (a few frames per pick);
short clips with sparse keyframes take the pass. See the benchmark.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from attrs import frozen

from . import ffmpeg
from .probe import Probe

OPEN_COST = 15  # frames: what opening and probing one more input costs, roughly
UNKNOWN_GOP = 10.0  # seconds before a time assumed decoded when no keyframe is known
DEFAULT_FPS = 30.0
JPEG_QUALITY = "3"  # mjpeg qscale: 2 best .. 31 worst; 3 reads well at 768 px


@frozen
class Pick:
    time: float  # seconds from the start: where the frame is, and its label
    on_key: bool
    slack: float = 0.0  # take the first frame at or after ``time - slack``

    @property
    def threshold(self) -> float:
        return self.time - self.slack


def plan(
    duration: float, count: int, keyframes: list[float], fps: float | None = None
) -> tuple[Pick, ...]:
    picks = []
    for i in range(count):
        low, high = i * duration / count, (i + 1) * duration / count
        middle = (low + high) / 2
        inside = [k for k in keyframes if low <= k < high]
        if inside:
            picks.append(Pick(min(inside, key=lambda k: abs(k - middle)), on_key=True))
        elif fps:
            picks.append(_frame_near(low, high, middle, fps))
        else:
            picks.append(Pick(middle, on_key=False))
    return tuple(picks)


class KeptKeyframes:
    """The few keyframe times ``plan`` and ``seek_cost`` can use, out of any number.

    Per slot of ``plan(duration, count, ...)``: the keyframe nearest its middle
    (what ``plan`` picks; the earlier one on a tie, as ``min`` over sorted
    times does) and the last one (the "keyframe before" that ``seek_cost``
    needs for a later slot without keyframes); and the last one before 0.
    Keyframes after the last slot serve neither, so
    at most ``2 * count + 1`` times are kept, however many packets the file
    has, and both functions give the same results as with every time.
    """

    def __init__(self, duration: float, count: int) -> None:
        self.duration, self.count = duration, count
        self.nearest: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.before_start: float | None = None

    def _slot(self, time: float) -> int | None:
        duration, count = self.duration, self.count
        i = min(max(int(time * count / duration), 0), count - 1)
        # the same float bounds as plan's ``low <= k < high``
        while i > 0 and time < i * duration / count:
            i -= 1
        while i < count - 1 and time >= (i + 1) * duration / count:
            i += 1
        if not (i * duration / count <= time < (i + 1) * duration / count):
            return None
        return i

    def add(self, time: float) -> None:
        if time < 0:
            if self.before_start is None or time > self.before_start:
                self.before_start = time
            return
        i = self._slot(time)
        if i is None:
            return
        if i not in self.last or time > self.last[i]:
            self.last[i] = time
        middle = (i * self.duration / self.count + (i + 1) * self.duration / self.count) / 2
        best = self.nearest.get(i)
        if best is None or (abs(time - middle), time) < (abs(best - middle), best):
            self.nearest[i] = time

    def times(self) -> list[float]:
        kept = {*self.nearest.values(), *self.last.values()}
        if self.before_start is not None:
            kept.add(self.before_start)
        return sorted(kept)


def _frame_near(low: float, high: float, middle: float, fps: float) -> Pick:
    """The frame nearest ``middle`` inside the slot, assuming a constant frame rate.

    With few frames per slot (a short animation), "the first frame after the middle"
    would fall in the next slot; half a frame of slack absorbs timestamp jitter.
    """
    first, last = math.ceil(low * fps - 1e-6), math.ceil(high * fps - 1e-6) - 1
    index = min(max(math.floor(middle * fps), first), max(first, last))
    return Pick(index / fps, on_key=False, slack=0.5 / fps)


def seek_cost(picks: tuple[Pick, ...], keyframes: list[float], fps: float) -> float:
    def decoded(pick: Pick) -> float:
        if pick.on_key:
            return 2
        before = max((k for k in keyframes if k <= pick.time), default=pick.time - UNKNOWN_GOP)
        return (pick.time - max(before, 0.0)) * fps + 1

    return sum(decoded(p) + OPEN_COST for p in picks)


def pass_cost(picks: tuple[Pick, ...], fps: float) -> float:
    return max(p.time for p in picks) * fps + OPEN_COST


def use_seeks(picks: tuple[Pick, ...], keyframes: list[float], fps: float | None) -> bool:
    rate = fps or DEFAULT_FPS
    return seek_cost(picks, keyframes, rate) < pass_cost(picks, rate)


def _scale(width: int) -> str:
    return f"scale='min({width},iw)':-2"


def _seek_to(time: float) -> float:
    # Round up to the microsecond ffmpeg parses: never land just before a keyframe,
    # which would make ffmpeg decode the whole group of pictures before it.
    return math.ceil(time * 1_000_000) / 1_000_000


def seek_args(
    path: Path, probe: Probe, picks: tuple[Pick, ...], width: int, out: Path, max_pixels: int
) -> list[str]:
    assert probe.video is not None
    # One thread per input decoder and per encoder: the inputs already run side by side,
    # and fewer runnable threads keep the event loop's wake-ups prompt on small machines.
    args: list[str] = ["-filter_threads", "1"]
    for pick in picks:
        args += [
            "-threads",
            "1",
            *ffmpeg.input_args(
                path, probe.container, seek=_seek_to(pick.threshold), max_pixels=max_pixels
            ),
        ]
    for i in range(len(picks)):
        args += [
            "-map", f"{i}:V:0", "-an", "-sn", "-dn",
            "-frames:v", "1", "-vf", _scale(width), "-q:v", JPEG_QUALITY, "-threads", "1",
            "-f", "mjpeg", "-n", str(out / f"frame-{i:02d}.jpg"),
        ]  # fmt: skip
    return args


def pass_args(
    path: Path, probe: Probe, picks: tuple[Pick, ...], width: int, out: Path, max_pixels: int
) -> list[str]:
    assert probe.video is not None
    wanted = "+".join(
        f"gte(t,{p.threshold:.6f})*"
        + ("isnan(prev_selected_t)" if i == 0 else f"lt(prev_selected_t,{p.threshold:.6f})")
        for i, p in enumerate(picks)
    )
    return [
        *ffmpeg.input_args(path, probe.container, max_pixels=max_pixels),
        "-map", "0:V:0", "-an", "-sn", "-dn",
        "-vf", f"select='{wanted}',showinfo,{_scale(width)}",
        "-fps_mode", "passthrough", "-frames:v", str(len(picks)), "-q:v", JPEG_QUALITY,
        "-f", "image2", "-start_number", "0", "-n", str(out / "frame-%02d.jpg"),
    ]  # fmt: skip


_SHOWINFO = re.compile(
    r"^\[Parsed_showinfo_\d+ @ 0x[0-9a-f]+\] n:\s*\d+ pts:\s*-?\d+ pts_time:(-?[\d.]+)\s", re.M
)


def shown_times(stderr: str) -> list[float]:
    """Times of the frames the one-pass ``select`` kept, in order, from ``showinfo``."""
    return [float(t) for t in _SHOWINFO.findall(stderr)]
