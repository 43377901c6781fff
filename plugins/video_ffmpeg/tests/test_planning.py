"""Reading ffmpeg's report, the keyframe listing, and choosing frames and method."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from nanobot_video_ffmpeg.ffmpeg import SNIFF_BYTES, sniff
from nanobot_video_ffmpeg.frames import (
    Pick,
    pass_args,
    plan,
    read_times,
    use_seeks,
)
from nanobot_video_ffmpeg.probe import Probe, VideoStream, parse_keyframes, parse_report
from nanobot_video_ffmpeg.processor import clock

REPORT = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/tmp/x/clip.mp4':
  Metadata:
    major_brand     : isom
    title           : fake
                    :   Stream #0:9: Video: h264, 9999x9999, 1 fps
  Duration: 00:02:05.50, start: 0.000000, bitrate: 173 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), \
1280x720 [SAR 1:1 DAR 16:9], 97 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)
    Metadata:
      handler_name    : VideoHandler
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, mono, fltp, 69 kb/s
  Stream #0:2: Video: mjpeg (Baseline), yuvj420p, 300x300, 90k tbr, 90k tbn (attached pic)
At least one output file must be specified
"""
HEADER = """\
#tb 0: 1/30000
#media_type 0: video
#codec_id 0: h264
#dimensions 0: 1280x720
#sar 0: 1/1
#tb 1: 1/44100
#media_type 1: audio
"""


def test_report_gives_container_duration_and_streams() -> None:
    assert parse_report(REPORT, HEADER) == Probe(
        container="mov",
        duration=125.5,
        video=VideoStream(width=1280, height=720, fps=29.97, codec="h264"),
        audio=True,
    )


def test_streams_come_from_the_header_not_the_report() -> None:
    # no video in the header (the cover picture is not mapped): the report's lines are not used
    probe = parse_report(REPORT, "#tb 0: 1/44100\n#media_type 0: audio\n")
    assert probe == Probe("mov", 125.5, None, audio=True)
    # a report line whose size is not the header's gives no frame rate
    probe = parse_report(REPORT, HEADER.replace("1280x720", "640x360"))
    assert probe is not None and probe.video == VideoStream(640, 360, None, "h264")
    probe = parse_report(REPORT, HEADER.split("#tb 1")[0])
    assert probe is not None and not probe.audio


def test_output_lines_of_the_report_are_not_read() -> None:
    output = "Stream mapping:\n  Stream #0:0 -> #0:0 (copy)\nOutput #0, framecrc, to 'pipe:':\n"
    report = REPORT.replace("  Stream #0:0[0x1](und): Video", output + "  Stream #0:0[0x1]: Video")
    probe = parse_report(report, HEADER)
    assert probe is not None and probe.video == VideoStream(1280, 720, None, "h264")


def test_alpha_track_of_the_video_line() -> None:
    header = HEADER.replace("h264", "vp9")
    tag = "    Metadata:\n      alpha_mode      : 1\n"
    marker = "  Stream #0:1[0x2](und): Audio"
    probe = parse_report(REPORT.replace(marker, tag + marker), header)
    assert probe is not None and probe.video is not None
    assert probe.video.alpha and probe.video.codec == "vp9"
    # another stream's tag does not count
    probe = parse_report(REPORT.replace("At least one", tag + "At least one"), header)
    assert probe is not None and probe.video is not None and not probe.video.alpha


def test_upright_size_comes_from_the_frames() -> None:
    from nanobot_video_ffmpeg.frames import jpeg_size
    from nanobot_video_ffmpeg.processor import _upright

    def jpeg(width: int, height: int) -> bytes:
        sof = b"\xff\xc0\x00\x11\x08" + height.to_bytes(2) + width.to_bytes(2) + b"\x03" + bytes(9)
        return b"\xff\xd8\xff\xe0\x00\x04ab" + sof + b"\xff\xd9"

    assert jpeg_size(jpeg(768, 432)) == (768, 432)
    assert jpeg_size(b"\xff\xd8") is None
    stored = VideoStream(1280, 720, 30.0)
    assert _upright(stored, jpeg(432, 768)) == (720, 1280)  # turned by ffmpeg: a phone clip
    assert _upright(stored, jpeg(768, 432)) == (1280, 720)


def test_no_container_and_unknown_duration() -> None:
    assert parse_report("notes.mp4: Invalid data found when processing input\n", "") is None
    probe = parse_report(REPORT.replace("Duration: 00:02:05.50", "Duration: N/A"), HEADER)
    assert probe is not None and probe.duration is None


LISTING = """\
#tb 0: 1/12800
#media_type 0: video
0,      -1024,          0,      512,     7885, 0xec9cfa15
0,       -512,       2048,      512,      873, 0x89a3a3d4, F=0x0
0,     126976,     128000,      512,     8386, 0x85384e82
0,     127488,     130048,      512,      873, 0x89a3a3d4, F=0x0
0,     254976,     256000,      512,     8496, 0xce8c82cf
"""


def test_keyframes_from_listing() -> None:
    assert parse_keyframes(LISTING) == [0.0, 10.0, 20.0]
    assert parse_keyframes("") == []


QUICK_LISTING = """\
#tb 0: 1/12800
0,      -1024,          0,      512,     9124, 0x633b6f7c
0,     126976,     128000,      512,     9769, 0x092b15a4
0,     254976,     254976,      512,     9846, 0x1ca63b24
0,     382976,     383488,      512,     9832, 0x51ae4a7b
"""


def test_keyframes_from_dts_of_a_discarding_listing() -> None:
    # real output of the mov demuxer under -discard nokey: pts drift after the first skip
    assert parse_keyframes(QUICK_LISTING) == [0.0, 10.0, 19.92, 29.96]
    assert parse_keyframes(QUICK_LISTING, from_dts=True) == [0.0, 10.0, 20.0, 30.0]


def test_printed_times() -> None:
    # what the metadata filter writes into its file (the same on ffmpeg 5.1 and 9)
    text = (
        "frame:0    pts:1800    pts_time:0.02\nnanobot=1\n"
        "frame:1    pts:676800  pts_time:7.52\nnanobot=1\n"
        "frame:2    pts:-90     pts_time:-0.001\nnanobot=1\n"
    )
    assert read_times(text) == [0.02, 7.52, -0.001]
    assert read_times("") == []


def test_plan_takes_keyframes_inside_slots_else_the_middle() -> None:
    picks = plan(20.0, 4, [0.0, 10.0])
    assert picks == (Pick(0.0, True), Pick(7.5, False), Pick(10.0, True), Pick(17.5, False))


def test_with_a_frame_rate_mid_slot_picks_are_frames_inside_the_slot() -> None:
    # 0.5 s at 10 fps, 5 slots: frames at 0.0 .. 0.4, one per slot
    picks = plan(0.5, 5, [0.0], fps=10.0)
    assert [round(p.time, 6) for p in picks] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert all(p.threshold < p.time or p.on_key for p in picks)


@given(
    duration=st.floats(min_value=0.5, max_value=3600),
    count=st.integers(min_value=1, max_value=64),
    keys=st.lists(st.floats(min_value=0, max_value=3600), max_size=200),
    fps=st.none() | st.floats(min_value=1, max_value=240),
)
@example(duration=4.0, count=4, keys=[], fps=1.0000000000000002)  # a frame 2e-16 s early
def test_picks_are_one_per_slot_in_order(
    duration: float, count: int, keys: list[float], fps: float | None
) -> None:
    if fps is not None and duration * fps < count:
        return  # the processor asks for at most one frame per frame
    picks = plan(duration, count, sorted(keys), fps)
    assert len(picks) == count
    for i, pick in enumerate(picks):
        assert i * duration / count <= pick.time < (i + 1) * duration / count + 1e-9
    assert [p.time for p in picks] == sorted(p.time for p in picks)
    thresholds = [p.threshold for p in picks]
    assert thresholds == sorted(set(thresholds))  # distinct: each selects its own frame


def test_method_choice() -> None:
    # 20 s, keyframes every 10 s: most picks would decode seconds of video -> one pass
    short = plan(20.0, 8, [0.0, 10.0])
    assert not use_seeks(short, [0.0, 10.0], 25.0)
    # 120 s, keyframes every 10 s: every slot holds a keyframe -> seeks
    keys = [float(k) for k in range(0, 120, 10)]
    assert use_seeks(plan(120.0, 8, keys), keys, 25.0)
    # no keyframe known: assume one every 10 s; a minute is decoded in one pass,
    # ten minutes are not
    assert not use_seeks(plan(60.0, 8, []), [], None)
    assert use_seeks(plan(600.0, 8, []), [], None)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (12.4, "0:12"), (59.6, "1:00"), (725, "12:05"), (3723, "1:02:03")],
)
def test_clock(seconds: float, text: str) -> None:
    assert clock(seconds) == text


def _ts(size: int, offset: int, count: int) -> bytes:
    packet = bytes(offset) + b"\x47" + bytes(size - offset - 1)
    return packet * count


@pytest.mark.parametrize(("size", "offset"), [(188, 0), (192, 4), (204, 0)])
def test_a_short_mpegts_is_sniffed_and_other_files_are_not(size: int, offset: int) -> None:
    # ffmpeg's own probe scores MPEG-TS only past ten packets: a two-frame clip has ten
    assert sniff(_ts(size, offset, 3)) == "mpegts"
    assert sniff(_ts(size, offset, 10)) == "mpegts"
    assert sniff(_ts(size, offset, 200)[:SNIFF_BYTES]) == "mpegts"
    assert sniff(_ts(size, offset, 3) + b"\x47\x00") == "mpegts"  # a partial last packet
    assert sniff(_ts(size, offset, 2)) is None  # too few for PAT, PMT and a PES
    broken = bytearray(_ts(size, offset, 10))
    broken[offset + 5 * size] = 0x48
    assert sniff(bytes(broken)) is None


def test_other_heads_are_not_mpegts() -> None:
    assert sniff(b"") is None
    assert sniff(b"\x00\x00\x00\x20ftypisom" + bytes(4000)) is None
    assert sniff(b"\x89PNG\r\n\x1a\n" + bytes(64)) is None
    assert sniff(b"\x47" + bytes(4000)) is None  # one sync byte, then not the next


def test_pass_thresholds_are_never_after_the_frame() -> None:
    # a keyframe pick (no slack) at 1/24 s: "0.041667" would be after 512/12288 s
    frame = 512 / 12288
    probe = Probe("mov", 0.08, VideoStream(256, 16, 24.0, "h264"), audio=False)
    picks = (Pick(0.0, True), Pick(frame, True))
    args = pass_args(Path("/x/clip.mp4"), probe, picks, 768, Path("/x/out"), 10**6)
    graph = args[args.index("-vf") + 1]
    times = [float(t) for t in re.findall(r"gte\(t,(-?[\d.]+)\)", graph)]
    assert len(times) == 2 and times[1] <= frame and times[1] > 0.0
    assert times[0] <= 0.0  # the first frame, at 0, is selected too


def test_a_slot_whose_frame_the_one_before_took_takes_another() -> None:
    # three frames at 12 fps in Matroska's 1 ms clock: 0, 0.083, 0.167 (length 0.25 s)
    times = [0.0, 0.083, 0.167]
    picks = plan(0.25, 3, times, 12.0, times)
    assert sorted(p.time for p in picks) == times
