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


EXACT = 0.0004  # seconds of slack for a pick at a listed frame's time (1000 fps apart: 0.001)


def plan(
    duration: float,
    count: int,
    keyframes: list[float],
    fps: float | None = None,
    frames: list[float] | None = None,
) -> tuple[Pick, ...]:
    """One pick per slot, in time order. ``frames``: the frames' times when the listing
    gave them; picks are then those frames (a slot with none, in a variable-rate clip,
    takes the nearest frame not picked yet), so every pick is a distinct frame."""
    picks: list[Pick] = []
    taken: set[float] = set()
    for i in range(count):
        low, high = i * duration / count, (i + 1) * duration / count
        middle = (low + high) / 2
        # Never a time picked already: with few frames per slot, and times rounded to the
        # container's clock (Matroska's 1 ms: 1/12 s is 0.083, before the slot's 0.0833),
        # the slot before may have taken this slot's only frame; another one is due.
        inside = [k for k in keyframes if low <= k < high and k not in taken]
        if inside:
            pick = Pick(min(inside, key=lambda k: abs(k - middle)), on_key=True)
        elif frames is not None:
            free = [f for f in frames if f not in taken]
            shown = [f for f in free if low <= f < high] or free
            if not shown:
                continue
            pick = Pick(min(shown, key=lambda f: abs(f - middle)), on_key=False, slack=EXACT)
        elif fps:
            pick = _frame_near(low, high, middle, fps)
        else:
            pick = Pick(middle, on_key=False)
        if pick.time not in taken:
            taken.add(pick.time)
            picks.append(pick)
    return tuple(sorted(picks, key=lambda p: p.time))


def _frame_near(low: float, high: float, middle: float, fps: float) -> Pick:
    """The frame nearest ``middle`` inside the slot, assuming a constant frame rate.

    With few frames per slot (a short animation), "the first frame after the middle"
    would fall in the next slot; half a frame of slack absorbs timestamp jitter.
    """
    first, last = math.ceil(low * fps - 1e-6), math.ceil(high * fps - 1e-6) - 1
    index = min(max(math.floor(middle * fps), first), max(first, last))
    # index / fps can land a rounding error before the slot (1 / 1.0000000000000002 fps)
    return Pick(max(index / fps, low), on_key=False, slack=0.5 / fps)


def seek_cost(picks: tuple[Pick, ...], keyframes: list[float], fps: float) -> float:
    def decoded(pick: Pick) -> float:
        if pick.on_key:
            return 2
        before = max((k for k in keyframes if k <= pick.time), default=pick.time - UNKNOWN_GOP)
        return (pick.time - max(before, 0.0)) * fps + 1

    return sum(decoded(p) + OPEN_COST for p in picks)


def pass_cost(picks: tuple[Pick, ...], fps: float) -> float:
    return max(p.time for p in picks) * fps + OPEN_COST


# Containers whose demuxer seeks to the keyframe before a time from an index. MPEG-TS
# and the like seek by guessing byte offsets and can land past the time, or mid-GOP.
SEEKABLE = ("mov", "matroska")


def use_seeks(
    picks: tuple[Pick, ...], keyframes: list[float], fps: float | None, container: str = "mov"
) -> bool:
    if container not in SEEKABLE:
        return False
    rate = fps or DEFAULT_FPS
    return seek_cost(picks, keyframes, rate) < pass_cost(picks, rate)


def _scale(width: int) -> str:
    return f"scale='min({width},iw)':-2"


BACKGROUND = "0xF4F4F4"  # what transparent parts of a sticker are shown on: a plain light grey


def _composite() -> str:
    """A frame with alpha laid on a plain light background (what a chat app shows)."""
    return (
        f"split[fg][bg];[bg]drawbox=c={BACKGROUND}@1:t=fill,format=yuv420p[plain];"
        "[plain][fg]overlay=format=auto:shortest=1,"
    )


def times_file(i: int) -> str:
    return f"frame-{i:02d}.txt"


def _times(out: Path, i: int) -> str:
    """Write each frame's pts to a file: the ``metadata`` filter prints a frame only when it
    has a key, so one is added first. ``out`` is a folder in ffmpeg's working directory,
    named relatively: no path text in the filter graph to escape."""
    return (
        "metadata=mode=add:key=nanobot:value=1,"
        f"metadata=mode=print:file={out.name}/{times_file(i)},"
    )


_PRINTED = re.compile(r"^frame:\s*\d+\s+pts:\s*-?\d+\s+pts_time:(-?\d+(?:\.\d+)?(?:e-?\d+)?)")


def read_times(text: str) -> list[float]:
    """The ``pts_time`` of each frame the ``metadata`` filter printed, in order."""
    return [float(m[1]) for line in text.splitlines() if (m := _PRINTED.match(line))]


def _seek_to(time: float) -> float:
    # Round up to the microsecond ffmpeg parses: never land just before a keyframe,
    # which would make ffmpeg decode the whole group of pictures before it.
    return math.ceil(time * 1_000_000) / 1_000_000


def decoder_for(probe: Probe) -> str | None:
    return _decoder(probe, True)


def _decoder(probe: Probe, alpha: bool) -> str | None:
    """libvpx for VP8/VP9 with an alpha track: ffmpeg's own decoders drop the alpha."""
    assert probe.video is not None
    if not (alpha and probe.video.alpha):
        return None
    return {"vp9": "libvpx-vp9", "vp8": "libvpx"}.get(probe.video.codec)


def seek_args(
    path: Path,
    probe: Probe,
    picks: tuple[Pick, ...],
    width: int,
    out: Path,
    max_pixels: int,
    origin: float = 0.0,
    alpha: bool = True,
) -> list[str]:
    """One input per pick, seeked, each giving one JPEG and its time (``frame-NN.txt``).

    ``-copyts``: the times printed are the file's own, as in the listing (``origin``
    is its first frame); ``-ss`` counts from the container's start, which the
    listing's first frame is taken to be (a stray offset moves a pick, never a label).
    """
    assert probe.video is not None
    decoder = _decoder(probe, alpha)
    # One thread per input decoder and per encoder: the inputs already run side by side,
    # and fewer runnable threads keep the event loop's wake-ups prompt on small machines.
    args: list[str] = ["-filter_threads", "1", "-copyts"]
    for pick in picks:
        args += [
            "-threads",
            "1",
            *ffmpeg.input_args(
                path,
                probe.container,
                seek=_seek_to(max(pick.threshold, 0.0)),
                max_pixels=max_pixels,
                decoder=decoder,
            ),
        ]
    chain = _composite() if decoder else ""
    for i in range(len(picks)):
        args += [
            "-map", f"{i}:V:0", "-an", "-sn", "-dn", "-frames:v", "1",
            "-vf", f"{chain}{_times(out, i)}{_scale(width)}", "-fps_mode", "passthrough",
            "-q:v", JPEG_QUALITY, "-threads", "1",
            "-f", "mjpeg", "-n", str(out / f"frame-{i:02d}.jpg"),
        ]  # fmt: skip
    return args


def pass_args(
    path: Path,
    probe: Probe,
    picks: tuple[Pick, ...],
    width: int,
    out: Path,
    max_pixels: int,
    origin: float = 0.0,
    alpha: bool = True,
) -> list[str]:
    """One input decoded from the start; ``select`` keeps the first frame at or after
    each pick; their times go to ``frame-00.txt`` (``-copyts``: the file's own times)."""
    assert probe.video is not None
    decoder = _decoder(probe, alpha)
    # The filter compares each frame's time (a double) with a threshold written to the
    # microsecond: a pick on a keyframe (no slack of its own) at 1/24 s = 0.0416666...
    # written as 0.041667 would select nothing. At least ``EXACT`` below the pick keeps
    # the written threshold at or before the frame, and past the frame before it.
    at = [f"{origin + min(p.threshold, p.time - EXACT):.6f}" for p in picks]
    wanted = "+".join(
        f"gte(t,{at[i]})*"
        + ("isnan(prev_selected_t)" if i == 0 else f"lt(prev_selected_t,{at[i]})")
        for i in range(len(picks))
    )
    chain = _composite() if decoder else ""
    return [
        "-copyts",
        *ffmpeg.input_args(path, probe.container, max_pixels=max_pixels, decoder=decoder),
        "-map", "0:V:0", "-an", "-sn", "-dn",
        "-vf", f"select='{wanted}',{chain}{_times(out, 0)}{_scale(width)}",
        "-fps_mode", "passthrough", "-frames:v", str(len(picks)), "-q:v", JPEG_QUALITY,
        "-f", "image2", "-start_number", "0", "-n", str(out / "frame-%02d.jpg"),
    ]  # fmt: skip


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's frame header (SOFn), or ``None``."""
    i = 2
    while i + 9 < len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            return int.from_bytes(data[i + 7 : i + 9], "big"), height
        i += 2 + length
    return None
