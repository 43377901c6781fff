"""8 frames (768 px) from 20 s, 120 s and 600 s 1280x720 clips: the video plugin vs plain ffmpeg,
on each ffmpeg the plugin supports that is here: the bundled one (imageio-ffmpeg, 9.x) and the
system's (/usr/bin/ffmpeg, Debian 12: 5.1), side by side. Targets: the plugin 5x (120 s) and
20x (600 s) faster than the fps filter, on both.

Side by side in one run, medians of several runs:
- ``fps filter``: the earlier fork's one pass ``-vf fps=N/duration`` (decodes the whole file);
- ``8 seeks``: eight ``-ss T -i`` processes at once (accurate: decode from the keyframe before T);
- ``keyframes``: eight ``-skip_frame nokey`` seeks (fast, but snaps to keyframes: few distinct
  frames on short clips);
- ``plugin``: ``VideoProcessor.process`` without a transcriber (probe + keyframe listing +
  frames), and with one (frames, then the audio track).
Also: the audio formats for transcription (speed and size, 16 kHz mono) and the event-loop
lag of a trio task while the plugin works (target: max <= 10 ms).

Clips are testsrc + sine encoded by x264 (default keyframe interval: 250 frames = 10 s) with
the bundled ffmpeg, cached under the temp dir between runs (first run: ~1 min to make them).
The audio table and the loop lag use the bundled ffmpeg.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import trio
from nanobot_video_ffmpeg import VideoConfig, VideoProcessor
from nanobot_video_ffmpeg.audio import OPUS
from nanobot_video_ffmpeg.ffmpeg import _bundled, version_of

from nanobot_core import Attachment, AttachmentKind
from nanobot_core.protocols import MediaContext

N = 8
WIDTH = 768
LENGTHS = (20, 120, 600)
CACHE = Path(tempfile.gettempdir()) / "nanobot-bench-video-v2"
BUNDLED = _bundled()
assert BUNDLED is not None, "pip install imageio-ffmpeg (the [bundled] extra)"
FF = BUNDLED


def binaries() -> dict[str, Path]:
    found = {"bundled": BUNDLED}
    system = Path("/usr/bin/ffmpeg")
    if system.exists():
        found["system"] = system
    return found


def label(binary: Path) -> str:
    version = version_of(binary)
    return f"{version[0]}.{version[1]}" if version else "git"


def ff(*args: str, binary: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(binary or FF), "-nostdin", "-hide_banner", "-loglevel", "error", *args],
        check=False, capture_output=True,
    )  # fmt: skip


def clips() -> dict[int, Path]:
    """One 600 s encode (first run only, ~1 min), cut at keyframes into 20 s and 120 s."""
    CACHE.mkdir(exist_ok=True)
    paths = {d: CACHE / f"testsrc-{d}s.mp4" for d in LENGTHS}
    if not paths[600].exists():
        part = CACHE / "testsrc-600s.part.mp4"
        ff("-y", "-f", "lavfi", "-i", "testsrc=size=1280x720:rate=25:duration=600",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=600",
           "-c:v", "libx264", "-preset", "superfast", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-shortest", str(part))  # fmt: skip
        part.rename(paths[600])
    for seconds in (20, 120):
        if not paths[seconds].exists():
            part = paths[seconds].with_suffix(".part.mp4")
            ff("-y", "-i", str(paths[600]), "-t", str(seconds), "-c", "copy", str(part))
            part.rename(paths[seconds])
    return paths


def times(duration: float) -> list[float]:
    return [(i + 0.5) * duration / N for i in range(N)]


def fps_filter(path: Path, duration: float, out: Path, binary: Path) -> list[bytes]:
    ff("-i", str(path), "-vf", f"fps={N}/{duration},scale={WIDTH}:-2", "-frames:v", str(N),
       "-q:v", "3", "-y", str(out / "fps-%02d.jpg"), binary=binary)  # fmt: skip
    return [p.read_bytes() for p in sorted(out.glob("fps-*.jpg"))]


def seeks(path: Path, duration: float, out: Path, binary: Path, *extra: str) -> list[bytes]:
    def one(i: int, t: float) -> bytes | None:
        target = out / f"seek-{i}.jpg"
        ff(*extra, "-ss", f"{t:.3f}", "-i", str(path), "-frames:v", "1",
           "-vf", f"scale={WIDTH}:-2", "-q:v", "3", "-f", "mjpeg", "-y", str(target),
           binary=binary)  # fmt: skip
        return target.read_bytes() if target.exists() and target.stat().st_size else None

    with concurrent.futures.ThreadPoolExecutor(N) as pool:
        found = list(pool.map(one, range(N), times(duration)))
    return [f for f in found if f]


def keyframes(path: Path, duration: float, out: Path, binary: Path) -> list[bytes]:
    return seeks(path, duration, out, binary, "-skip_frame", "nokey")


async def plugin_frames(
    path: Path, transcribe: bool, workdir: Path, binary: Path | None = None
) -> list[bytes]:
    async def fake_transcriber(audio: Path) -> str:
        return "ok"

    processor = VideoProcessor(VideoConfig(max_frames=N, frame_width=WIDTH), binary or FF)
    context = MediaContext(workdir=workdir, transcribe=fake_transcriber if transcribe else None)
    attachment = Attachment(AttachmentKind.VIDEO, fetch=None, filename=path.name)  # type: ignore[arg-type]
    parts = await processor.process(path, attachment, context)
    return [p.data for p in parts if hasattr(p, "data")]


def measure(run: Callable[[Path], list[bytes]], runs: int) -> tuple[float, int, int]:
    """Median seconds, frames returned, distinct frames."""
    spent, frames = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            frames = run(Path(tmp))
            spent.append(time.perf_counter() - start)
    return statistics.median(spent), len(frames), len({hashlib.sha1(f).digest() for f in frames})


def rows_for(path: Path, duration: int, binary: Path) -> list[tuple[str, float, int, int]]:
    slow = 2 if duration >= 600 else 3
    b = binary
    return [
        ("fps filter (earlier fork)", *measure(lambda o: fps_filter(path, duration, o, b), slow)),
        ("8 parallel accurate seeks", *measure(lambda o: seeks(path, duration, o, b), 3)),
        ("8 keyframe-only seeks", *measure(lambda o: keyframes(path, duration, o, b), 3)),
        ("plugin (frames)", *measure(lambda o: trio.run(plugin_frames, path, False, o, b), 5)),
        (
            "plugin (frames + audio)",
            *measure(lambda o: trio.run(plugin_frames, path, True, o, b), 3),
        ),
    ]


def frames_table(paths: dict[int, Path]) -> None:
    found = binaries()
    names = {name: f"{name} {label(binary)}" for name, binary in found.items()}
    print(f"frames: {N} at {WIDTH} px, median of runs; per ffmpeg: seconds, distinct/returned "
          "frames, fps filter / this")  # fmt: skip
    print(f"{'clip':>6} {'method':<26}" + "".join(f" {names[n]:>28}" for n in found))
    for duration, path in paths.items():
        table = {name: rows_for(path, duration, binary) for name, binary in found.items()}
        for row in range(len(next(iter(table.values())))):
            cells = []
            for name in found:
                method, spent, count, distinct = table[name][row]
                base = table[name][0][1]
                cells.append(f"{spent:>9.3f} s {distinct:>2}/{count:<2} {base / spent:>7.1f}x")
            print(f"{duration:>5}s {method:<26}" + "".join(f" {c:>28}" for c in cells))


AUDIO = {
    "wav (pcm_s16le)": ["-c:a", "pcm_s16le", "-f", "wav"],
    "flac": ["-c:a", "flac", "-f", "flac"],
    "mp3 32k": ["-c:a", "libmp3lame", "-b:a", "32k", "-f", "mp3"],
    "opus 24k (default level 10)": [*OPUS[:6], "-f", "ogg"],
    "opus 24k level 0 (plugin)": OPUS,
}


def audio_table(path: Path, duration: int) -> None:
    print(f"audio for transcription: 16 kHz mono from the {duration} s clip; size scaled to 600 s")
    print(f"{'format':<30} {'seconds':>8} {'x real time':>12} {'MB per 600 s':>13}")
    for name, codec in AUDIO.items():
        spent, size = [], 0
        for _ in range(3):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "audio"
                start = time.perf_counter()
                ff("-i", str(path), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", "16000", *codec,
                   "-y", str(out))  # fmt: skip
                spent.append(time.perf_counter() - start)
                size = out.stat().st_size
        median = statistics.median(spent)
        per_600 = size * 600 / duration / 1e6
        print(f"{name:<30} {median:>8.3f} {duration / median:>12.0f} {per_600:>13.1f}")
    print("(hosted transcription caps uploads at 25 MB: WAV passes 25 MB at ~13 min)")


async def lag_during(path: Path | None, seconds: float = 0.0) -> tuple[float, float]:
    """Max and 99.9th percentile of how late a 1 ms trio sleep wakes up, in seconds,
    while the plugin processes ``path`` three times (frames + audio), or idle."""
    lags: list[float] = []

    async def probe_lag() -> None:
        while True:
            start = trio.current_time()
            await trio.sleep(0.001)
            lags.append(trio.current_time() - start - 0.001)

    with tempfile.TemporaryDirectory() as tmp:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(probe_lag)
            if path is None:
                await trio.sleep(seconds)
            else:
                for _ in range(3):
                    await plugin_frames(path, True, Path(tmp))
            nursery.cancel_scope.cancel()
    lags.sort()
    return lags[-1], lags[int(len(lags) * 0.999)]


def main() -> None:
    paths = clips()
    frames_table(paths)
    print()
    audio_table(paths[120], 120)
    print()
    start = time.perf_counter()
    worst, p999 = trio.run(lag_during, paths[600])
    spent = time.perf_counter() - start
    idle_worst, idle_p999 = trio.run(lag_during, None, spent)
    print(
        f"event-loop lag while the plugin works (600 s clip, frames + audio, 3 runs): "
        f"max {worst * 1000:.1f} ms, p99.9 {p999 * 1000:.1f} ms (target: max <= 10 ms); "
        f"idle loop for as long: max {idle_worst * 1000:.1f} ms, p99.9 {idle_p999 * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
