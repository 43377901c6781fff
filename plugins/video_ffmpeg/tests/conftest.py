"""Media the tests make once per session with one fixed ffmpeg (the bundled one), and the
ffmpegs the processor is tested with: the bundled one and Debian's 5.1 when present.

``NANOBOT_TEST_FFMPEG`` picks them: ``bundled``, ``system`` (``/usr/bin/ffmpeg``), or
a path; a comma-separated list for several (default ``bundled,system``). A missing
system ffmpeg is a skip with its reason. pytest-trio has no session-scoped async
fixtures, so generation is a sync fixture calling ``subprocess``.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from nanobot_video_ffmpeg.ffmpeg import SUPPORTED, version_of

SYSTEM_FFMPEG = Path("/usr/bin/ffmpeg")


def _bundled() -> Path:
    import imageio_ffmpeg

    return Path(imageio_ffmpeg.get_ffmpeg_exe())


def _chosen() -> list[str]:
    return [n.strip() for n in os.environ.get("NANOBOT_TEST_FFMPEG", "bundled,system").split(",")]


@pytest.fixture(scope="session")
def maker() -> Path:
    """The ffmpeg that makes every fixture file: always the bundled one (ffmpeg 9 options)."""
    return _bundled()


@pytest.fixture(scope="session", params=_chosen())
def ffmpeg_bin(request: pytest.FixtureRequest) -> Path:
    """The ffmpeg under test, once per chosen binary."""
    name: str = request.param
    if name == "bundled":
        return _bundled()
    binary = SYSTEM_FFMPEG if name == "system" else Path(name)
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.skip(f"no ffmpeg at {binary} (Debian: apt-get install ffmpeg)")
    version = version_of(binary)
    if version is not None and version < SUPPORTED:
        pytest.skip(f"{binary} is ffmpeg {version}, older than the supported 5.1")
    return binary


def _ff(binary: Path, *args: str) -> None:
    subprocess.run(
        [str(binary), "-nostdin", "-hide_banner", "-loglevel", "error", *args], check=True
    )


def ramp(seconds: int) -> str:
    # A flat picture whose brightness grows with time: a frame tells when it was taken.
    return (
        f"color=c=black:s=320x240:r=25:d={seconds},format=yuv420p,"
        f"eq=brightness='0.1+0.7*t/{seconds}':eval=frame"
    )


@attrs.frozen
class Media:
    root: Path
    ramp20: Path  # 20 s, default keyframe interval (250 frames: keyframes at 0 and 10 s), sine
    ramp60: Path  # 60 s, a keyframe every second (as phones record), sine
    ramp60_mkv: Path  # the same streams in Matroska
    silent: Path  # 5 s testsrc, no audio track
    clip: Path  # 8 s testsrc 640x360 + sine
    portrait: Path  # clip with a 90 degree display matrix, as phones record upright video
    animation: Path  # 0.5 s at 10 fps, no audio: 5 frames
    truncated: Path  # ramp20 cut in half (its index sits at the end, so it is gone)
    truncated_faststart: Path  # index first, media data cut at 60 %
    lying_duration: Path  # ramp60.mkv whose header says 5 s
    forged_duration: Path  # ramp60.mkv whose language tag writes "Duration: 2 s" in the report
    forged_container: Path  # ramp60.mkv whose doctype writes "Input #0, hls" in the report
    growing: Path  # 5 s at 320x240, then 5 s at 640x480 in the same stream (header: 320x240)
    forged_stream: Path  # clip.mp4 in Matroska whose language tags fake a 16x16 video line
    many_packets: Path  # 60 s of 16x16 raw frames at 1000 fps in Matroska: 60,000 key packets
    brightness: dict[Path, list[tuple[float, int]]]  # per ramp: (time, grey level) at 10 fps
    samples: dict[str, Path]  # real-world kinds, see ``samples``


def _ffmpeg_has(binary: Path, what: str, name: str) -> bool:
    listing = subprocess.run(
        [str(binary), "-hide_banner", f"-{what}"], capture_output=True, check=False
    ).stdout.decode()
    return any(line.split()[1:2] == [name] for line in listing.splitlines() if line.strip())


def set_mkv_duration(data: bytes, milliseconds: float) -> bytes:
    at = data.index(b"\x44\x89\x88")  # Segment Duration, an 8-byte float in ms
    return data[: at + 3] + struct.pack(">d", milliseconds) + data[at + 11 :]


def break_alpha(data: bytes) -> bytes:
    """A WebM whose alpha track (each block's BlockAdditional) is replaced by noise."""
    out, at, rng = bytearray(data), 0, random.Random(1)
    while (at := out.find(b"\x75\xa1", at)) >= 0:  # BlockAdditions
        j = out.find(b"\xa5", at, at + 16)  # BlockAdditional
        if j < 0 or not out[j + 1] & 0xC0:
            at += 2
            continue
        if out[j + 1] & 0x80:
            size, start = out[j + 1] & 0x7F, j + 2
        else:
            size, start = ((out[j + 1] & 0x3F) << 8) | out[j + 2], j + 3
        out[start : start + size] = bytes(rng.randrange(256) for _ in range(size))
        at = start + size
    return bytes(out)


def indexed(binary: Path, path: Path, frames: int, rate: float, pts: str, gop: int) -> None:
    """A clip whose frame N shows a white bar at x = 2N (N < 128), with timestamps ``pts``
    (an ffmpeg expression of N, in TB units), a keyframe every ``gop`` frames."""
    source = (
        f"color=black:s=256x16:r={rate}:d={frames / rate + 1},format=yuv420p,"
        "geq=lum='if(between(X,2*N,2*N+1),235,16)':cb=128:cr=128,"
        f"trim=end_frame={frames},setpts='{pts}'"
    )
    _ff(binary, "-f", "lavfi", "-i", source, "-fps_mode", "passthrough", "-c:v", "libx264",
        "-preset", "veryfast", "-qp", "0", "-g", str(gop), "-keyint_min", str(gop),
        "-sc_threshold", "0", "-y", str(path))  # fmt: skip


def frame_index(binary: Path, jpeg: bytes) -> int:
    """Which frame of an ``indexed`` clip a JPEG shows: where its white bar is."""
    row = subprocess.run(
        [str(binary), "-nostdin", "-loglevel", "error", "-f", "mjpeg", "-i", "pipe:0",
         "-vf", "scale=256:1", "-pix_fmt", "gray", "-f", "rawvideo", "pipe:1"],
        input=jpeg, capture_output=True, check=True,
    ).stdout  # fmt: skip
    return max(range(len(row)), key=lambda x: row[x]) // 2


STICKER = (  # a Telegram video sticker: 512x512 VP9 with alpha, a disc on transparency
    "testsrc=size=128x128:rate=30:duration={d},format=yuva420p,"
    "geq=lum='lum(X,Y)':cb='cb(X,Y)':cr='cr(X,Y)':a='if(lt(hypot(X-64,Y-64),40),255,0)'"
)


def samples(binary: Path, root: Path, clip: Path) -> dict[str, Path]:
    """One file per kind a phone or Telegram sends, made with ``binary``."""
    out: dict[str, Path] = {}

    def make(name: str, *args: str) -> Path:
        path = root / name
        _ff(binary, *args, str(path))
        out[name.split(".")[0]] = path
        return path

    src = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=4"]
    make("alpha.webm", "-f", "lavfi", "-i", STICKER.format(d=1.6), "-c:v", "libvpx-vp9",
         "-b:v", "200k")  # fmt: skip
    broken = root / "broken_alpha.webm"
    broken.write_bytes(break_alpha(out["alpha"].read_bytes()))
    out["broken_alpha"] = broken
    sticker = root / "sticker.webm"  # header: Duration 00:00:00.00 (1 ms); 48 frames
    sticker.write_bytes(set_mkv_duration(out["alpha"].read_bytes(), 1.0))
    out["sticker"] = sticker
    nodur = root / "nodur.webm"  # written to a pipe: no Duration, no cues
    nodur.write_bytes(subprocess.run(
        [str(binary), "-nostdin", "-loglevel", "error", *src, "-c:v", "libvpx-vp9",
         "-b:v", "200k", "-deadline", "realtime", "-f", "webm", "pipe:1"],
        capture_output=True, check=True,
    ).stdout)  # fmt: skip
    out["nodur"] = nodur
    vfr = root / "vfr.mkv"  # 60 frames at 20 fps, then 30 at 5 fps: 9 s
    indexed(binary, vfr, 90, 20, "if(lt(N,60),N/20,3+(N-60)/5)/TB", gop=30)
    out["vfr"] = vfr
    make("phone.3gp", *src, "-f", "lavfi", "-i", "sine=d=4:sample_rate=8000", "-c:v", "libx264",
         "-preset", "veryfast", "-c:a", "aac", "-ac", "1", "-shortest")  # fmt: skip
    make("mpegts.ts", *src, "-f", "lavfi", "-i", "sine=d=4", "-c:v", "libx264", "-preset",
         "veryfast", "-c:a", "aac", "-shortest")  # fmt: skip
    make("matroska.mkv", *src, "-c:v", "libx264", "-preset", "veryfast")
    make("second.mp4", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30:duration=1",
         "-c:v", "libx264", "-preset", "veryfast")  # fmt: skip
    make("audio_only.mp4", "-f", "lavfi", "-i", "sine=d=3", "-c:a", "aac")
    make("rotated.mp4", "-display_rotation", "-90", "-i", str(clip), "-c", "copy")
    for name, codec, extra in (
        ("hevc.mp4", "libx265", ["-x265-params", "log-level=error", "-tag:v", "hvc1"]),
        ("av1.mkv", "libaom-av1", ["-cpu-used", "8", "-b:v", "100k"]),
        ("vp9.webm", "libvpx-vp9", ["-b:v", "200k", "-deadline", "realtime"]),
    ):
        if _ffmpeg_has(binary, "encoders", codec):
            make(name, *src, "-c:v", codec, *extra)
    absurd = root / "absurd.mp4"  # a 1 s clip whose mvhd/tkhd/mdhd say 39 hours
    data = bytearray(out["second"].read_bytes())
    for box, offset in ((b"mvhd", 16), (b"tkhd", 24), (b"mdhd", 16)):
        at = data.index(box)
        scale = 1000 if box == b"tkhd" else int.from_bytes(data[at + offset : at + offset + 4])
        field = at + (24 if box == b"tkhd" else offset + 4)
        data[field : field + 4] = (39 * 3600 * scale).to_bytes(4)
    absurd.write_bytes(bytes(data))
    out["absurd"] = absurd
    return out


def ebml_header(mkv: bytes, doctype: bytes) -> bytes:
    """``mkv`` with another EBML DocType (the header's size byte rewritten to match)."""
    assert mkv[:4] == b"\x1a\x45\xdf\xa3" and mkv[4] & 0x80  # a one-byte size
    header, rest = mkv[5 : 5 + (mkv[4] & 0x7F)], mkv[5 + (mkv[4] & 0x7F) :]
    at = header.index(b"\x42\x82")  # DocType, a one-byte size
    end = at + 3 + (header[at + 2] & 0x7F)
    header = header[:at] + b"\x42\x82" + bytes([0x80 | len(doctype)]) + doctype + header[end:]
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(header)]) + header + rest


def grey(binary: Path, image: bytes | Path) -> int:
    """The mean grey level of a picture, decoded by ffmpeg."""
    source = ["-i", str(image)] if isinstance(image, Path) else ["-f", "mjpeg", "-i", "pipe:0"]
    out = subprocess.run(
        [str(binary), "-nostdin", "-loglevel", "error", *source,
         "-vf", "scale=1:1", "-pix_fmt", "gray", "-f", "rawvideo", "pipe:1"],
        input=None if isinstance(image, Path) else image,
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return out[0]


@pytest.fixture(scope="session")
def media(maker: Path, tmp_path_factory: pytest.TempPathFactory) -> Media:
    ffmpeg_bin = maker  # never the ffmpeg under test: fixtures are the same for every one
    root = tmp_path_factory.mktemp("video-media")
    sine = "sine=frequency=330:sample_rate=16000:duration={}"
    ramp20, ramp60 = root / "ramp20.mp4", root / "ramp60.mp4"
    for path, seconds, gop in ((ramp20, 20, []), (ramp60, 60, ["-g", "25"])):
        _ff(ffmpeg_bin, "-f", "lavfi", "-i", ramp(seconds), "-f", "lavfi", "-i",
            sine.format(seconds), "-c:v", "libx264", "-preset", "veryfast", *gop,
            "-c:a", "aac", "-shortest", str(path))  # fmt: skip
    ramp60_mkv = root / "ramp60.mkv"
    _ff(ffmpeg_bin, "-i", str(ramp60), "-c", "copy", str(ramp60_mkv))
    silent = root / "silent.mp4"
    _ff(ffmpeg_bin, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=5",
        "-c:v", "libx264", "-preset", "veryfast", str(silent))  # fmt: skip
    clip = root / "clip.mp4"
    _ff(ffmpeg_bin, "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25:duration=8",
        "-f", "lavfi", "-i", sine.format(8), "-c:v", "libx264", "-preset", "veryfast",
        "-c:a", "aac", "-shortest", str(clip))  # fmt: skip
    portrait = root / "portrait.mp4"
    _ff(ffmpeg_bin, "-display_rotation", "90", "-i", str(clip), "-c", "copy", str(portrait))
    animation = root / "animation.mp4"
    _ff(ffmpeg_bin, "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=0.5",
        "-c:v", "libx264", "-preset", "veryfast", str(animation))  # fmt: skip
    data = ramp20.read_bytes()
    truncated = root / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    faststart = root / "faststart.mp4"
    _ff(ffmpeg_bin, "-i", str(ramp20), "-c", "copy", "-movflags", "+faststart", str(faststart))
    data = faststart.read_bytes()
    truncated_faststart = root / "truncated_faststart.mp4"
    truncated_faststart.write_bytes(data[: len(data) * 6 // 10])
    # Hostile files: a real 60 s video whose header or report text lies.
    data = ramp60_mkv.read_bytes()
    at = data.index(b"\x44\x89\x88")  # Segment Duration, an 8-byte float in ms
    lying_duration = root / "lying_duration.mkv"
    lying_duration.write_bytes(data[: at + 3] + struct.pack(">d", 5000.0) + data[at + 11 :])
    forged_duration = root / "forged_duration.mkv"
    _ff(ffmpeg_bin, "-i", str(ramp60_mkv), "-c", "copy", "-metadata:s:a:0",
        "language=eng\n  Duration: 00:00:02.00, start: 0.000000, bitrate: 1 kb/s",
        str(forged_duration))  # fmt: skip
    forged_container = root / "forged_container.mkv"
    forged_container.write_bytes(ebml_header(data, b"webm\nInput #0, hls, from 'x':\n"))
    halves = []
    for size in ("320x240", "640x480"):
        half = root / f"half-{size}.h264"
        _ff(ffmpeg_bin, "-f", "lavfi", "-i", f"testsrc=size={size}:rate=25:duration=5",
            "-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-g", "25", "-f", "h264",
            str(half))  # fmt: skip
        halves.append(half.read_bytes())
    stream = root / "growing.h264"
    stream.write_bytes(b"".join(halves))
    growing = root / "growing.mkv"
    _ff(ffmpeg_bin, "-framerate", "25", "-i", str(stream), "-c", "copy", str(growing))
    # Audio first; its language writes a fake 16x16 video line, the video's language breaks
    # the real line in two, both ending inside an indented metadata line.
    forged_stream = root / "forged_stream.mkv"
    _ff(ffmpeg_bin, "-i", str(clip), "-map", "0:a", "-map", "0:v", "-c", "copy",
        "-metadata:s:a:0", "language=eng): Audio: aac\n  Stream #0:1: Video: h264, 16x16, 1 fps"
        "\n      title           ",
        "-metadata:s:v:0", "language=und\n    Metadata:\n      comment         ",
        str(forged_stream))  # fmt: skip
    many_packets = root / "many_packets.mkv"
    _ff(ffmpeg_bin, "-f", "lavfi", "-i", "color=c=gray:s=16x16:r=1000:d=60,format=gray",
        "-c:v", "rawvideo", str(many_packets))  # fmt: skip
    brightness = {}
    for path in (ramp20, ramp60):
        levels = subprocess.run(
            [str(ffmpeg_bin), "-nostdin", "-loglevel", "error", "-i", str(path),
             "-vf", "fps=10,scale=1:1", "-pix_fmt", "gray", "-f", "rawvideo", "pipe:1"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        brightness[path] = [(i / 10, level) for i, level in enumerate(levels)]
    brightness[ramp60_mkv] = brightness[ramp60]
    return Media(
        root, ramp20, ramp60, ramp60_mkv, silent, clip, portrait, animation, truncated,
        truncated_faststart, lying_duration, forged_duration, forged_container, growing,
        forged_stream, many_packets, brightness, samples(ffmpeg_bin, root, clip),
    )  # fmt: skip


@pytest.fixture
def slow_ffmpeg(ffmpeg_bin: Path, tmp_path: Path) -> Callable[[str], Path]:
    """A real ffmpeg behind a bash wrapper that, for calls whose arguments contain
    ``match``, reads input in real time (``-re``) from its start (seeks dropped, so
    a seek to one frame cannot end before a test sees it) and runs as a child of
    the wrapper (not exec'd): only killing the whole process group stops it.
    """

    def make(match: str) -> Path:
        script = tmp_path / "slow-ffmpeg"
        script.write_text(
            "#!/usr/bin/env bash\n"
            f"real={ffmpeg_bin}\n"
            f'if [[ "$*" != *"{match}"* ]]; then exec "$real" "$@"; fi\n'
            "args=()\n"
            "skip=0\n"
            'for a in "$@"; do\n'
            "  if ((skip)); then skip=0; continue; fi\n"
            "  [[ $a == -ss ]] && { skip=1; continue; }\n"
            '  [[ $a == -i ]] && args+=(-re); args+=("$a")\n'
            "done\n"
            '"$real" "${args[@]}" &\n'
            "wait $!\n"
        )
        script.chmod(0o755)
        return script

    return make


@pytest.fixture
def logging_ffmpeg(ffmpeg_bin: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The real ffmpeg behind a wrapper that appends each call's arguments to a log."""
    log = tmp_path / "calls.log"
    script = tmp_path / "logging-ffmpeg"
    script.write_text(f'#!/usr/bin/env bash\necho "$*" >> {log}\nexec {ffmpeg_bin} "$@"\n')
    script.chmod(0o755)
    return script, log
