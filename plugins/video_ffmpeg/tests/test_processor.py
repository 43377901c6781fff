"""The processor end to end with the real ffmpeg, on media the session generated."""

from __future__ import annotations

import itertools
import shutil
import tracemalloc
from pathlib import Path

import pytest
import trio
from nanobot_video_ffmpeg import VideoConfig, VideoProcessor
from nanobot_video_ffmpeg.probe import PROBE_OUTPUT

from nanobot_core import (
    Activity,
    Attachment,
    AttachmentKind,
    ImagePart,
    MediaError,
    ProviderUnavailable,
    TextPart,
)
from nanobot_core.protocols import MediaContext, MediaProcessor

from .conftest import Media, grey


def attachment(path: Path) -> Attachment:
    async def never(workdir: Path) -> Path:
        raise AssertionError("the processor must not fetch")

    return Attachment(AttachmentKind.VIDEO, fetch=never, filename=path.name)


def into(workdir: Path, source: Path, name: str | None = None) -> Path:
    """Where the core puts a fetched attachment: inside the turn's workdir."""
    target = workdir / (name or source.name)
    shutil.copyfile(source, target)
    return target


class Recorder:
    """A transcriber seam: records what it got and checks it is real audio."""

    def __init__(self, ffmpeg_bin: Path, text: str = "hello from the video") -> None:
        self.ffmpeg_bin = ffmpeg_bin
        self.text = text
        self.paths: list[Path] = []
        self.reports: list[str] = []

    async def __call__(self, path: Path) -> str:
        self.paths.append(path)
        done = await trio.run_process(
            [str(self.ffmpeg_bin), "-nostdin", "-hide_banner", "-i", str(path), "-f", "null", "-"],
            capture_stderr=True,
        )
        self.reports.append(done.stderr.decode())
        return self.text


class Activities:
    def __init__(self) -> None:
        self.seen: list[Activity] = []

    async def __call__(self, activity: Activity) -> None:
        self.seen.append(activity)


def frames_of(parts: tuple[object, ...]) -> list[tuple[str, ImagePart]]:
    labelled = []
    for label, image in itertools.pairwise(parts):
        if isinstance(image, ImagePart):
            assert isinstance(label, TextPart)
            labelled.append((label.text, image))
    return labelled


def seconds(label: str) -> int:
    minutes, _, secs = label.rpartition(" ")[2].partition(":")
    return int(minutes) * 60 + int(secs)


def time_from_brightness(table: list[tuple[float, int]], level: int) -> float:
    return min(table, key=lambda row: abs(row[1] - level))[0]


async def report_of(ffmpeg_bin: Path, image: ImagePart) -> str:
    """ffmpeg's report on a JPEG: its size is in the stream line."""
    done = await trio.run_process(
        [str(ffmpeg_bin), "-hide_banner", "-f", "mjpeg", "-i", "pipe:0"],
        stdin=image.data, capture_stderr=True, check=False,
    )  # fmt: skip
    return done.stderr.decode()


def test_is_a_media_processor(ffmpeg_bin: Path) -> None:
    processor = VideoProcessor(VideoConfig(), ffmpeg_bin)
    assert isinstance(processor, MediaProcessor)
    assert processor.capability == "video"
    assert processor.kinds == {
        AttachmentKind.VIDEO,
        AttachmentKind.VIDEO_NOTE,
        AttachmentKind.ANIMATION,
    }


@pytest.mark.parametrize("clip", ["ramp20", "ramp60", "ramp60_mkv"])
async def test_frames_spread_evenly_in_time_order_with_true_labels(
    clip: str, media: Media, ffmpeg_bin: Path, tmp_path: Path
) -> None:
    source = getattr(media, clip)
    duration = 20 if clip == "ramp20" else 60
    path = into(tmp_path, source)
    processor = VideoProcessor(VideoConfig(max_frames=8), ffmpeg_bin)
    parts = await processor.process(path, attachment(path), MediaContext(workdir=tmp_path))

    header = parts[0]
    assert isinstance(header, TextPart)
    assert f"0:{duration:02d}" in header.text or "1:00" in header.text
    assert "320x240" in header.text and "8 frames" in header.text
    shots = frames_of(parts)
    assert len(parts) == 1 + 2 * 8 + 1
    assert len(shots) == 8
    table = media.brightness[source]
    slot = duration / 8
    previous = -1.0
    for i, (label, image) in enumerate(shots):
        assert image.mime_type == "image/jpeg" and image.data[:2] == b"\xff\xd8"
        assert image.description == f"video {label}"
        actual = time_from_brightness(table, grey(ffmpeg_bin, image.data))
        # each frame comes from its own slot of the clip, so they are distinct and spread
        assert i * slot - 0.5 <= actual <= (i + 1) * slot + 0.5, (i, label, actual)
        # and its label tells the time it shows
        assert abs(seconds(label) - actual) <= 1.0, (label, actual)
        assert actual > previous
        previous = actual


async def test_frames_are_scaled_to_frame_width(
    media: Media, ffmpeg_bin: Path, tmp_path: Path
) -> None:
    path = into(tmp_path, media.clip)
    processor = VideoProcessor(VideoConfig(max_frames=3, frame_width=200), ffmpeg_bin)
    parts = await processor.process(path, attachment(path), MediaContext(workdir=tmp_path))
    shots = frames_of(parts)
    assert len(shots) == 3
    for _, image in shots:
        assert "200x112" in await report_of(ffmpeg_bin, image)  # 640x360 scaled, height kept even


async def test_small_videos_are_not_upscaled(
    media: Media, ffmpeg_bin: Path, tmp_path: Path
) -> None:
    path = into(tmp_path, media.silent)
    parts = await VideoProcessor(VideoConfig(max_frames=2), ffmpeg_bin).process(
        path, attachment(path), MediaContext(workdir=tmp_path)
    )
    image = frames_of(parts)[0][1]
    assert "320x240" in await report_of(ffmpeg_bin, image)


async def test_upright_size_of_a_rotated_video(
    media: Media, ffmpeg_bin: Path, tmp_path: Path
) -> None:
    path = into(tmp_path, media.portrait)
    parts = await VideoProcessor(VideoConfig(max_frames=2), ffmpeg_bin).process(
        path, attachment(path), MediaContext(workdir=tmp_path)
    )
    header = parts[0]
    assert isinstance(header, TextPart) and "360x640" in header.text
    image = frames_of(parts)[0][1]
    assert "360x640" in await report_of(ffmpeg_bin, image)


async def test_short_animation_gives_each_of_its_frames(
    media: Media, ffmpeg_bin: Path, tmp_path: Path
) -> None:
    path = into(tmp_path, media.animation)
    parts = await VideoProcessor(VideoConfig(max_frames=8), ffmpeg_bin).process(
        path, attachment(path), MediaContext(workdir=tmp_path)
    )
    header = parts[0]
    assert isinstance(header, TextPart)
    assert "5 frames spread over" in header.text and "only" not in header.text
    shots = frames_of(parts)
    assert len(shots) == 5
    assert len({image.data for _, image in shots}) == 5


async def test_transcript_of_the_audio_track(
    media: Media, ffmpeg_bin: Path, tmp_path: Path
) -> None:
    path = into(tmp_path, media.ramp20)
    transcribe = Recorder(ffmpeg_bin)
    activities = Activities()
    context = MediaContext(workdir=tmp_path, transcribe=transcribe, set_activity=activities)
    parts = await VideoProcessor(VideoConfig(), ffmpeg_bin).process(path, attachment(path), context)

    last = parts[-1]
    assert isinstance(last, TextPart)
    assert last.text == "Transcript of the video's audio:\nhello from the video"
    [audio] = transcribe.paths
    assert audio.parent.parent == tmp_path  # written inside the turn's workdir
    report = transcribe.reports[0]
    assert "Audio: opus" in report and "mono" in report
    assert "time=00:00:19" in report or "time=00:00:20" in report  # the whole track
    assert not audio.exists()  # removed once transcribed
    assert activities.seen == [Activity.EXTRACTING, Activity.TRANSCRIBING]
    assert sorted(p.name for p in await trio.Path(tmp_path).iterdir()) == [
        "ramp20.mp4"
    ]  # nothing left behind


async def test_no_transcriber_configured(media: Media, ffmpeg_bin: Path, tmp_path: Path) -> None:
    path = into(tmp_path, media.clip)
    parts = await VideoProcessor(VideoConfig(max_frames=2), ffmpeg_bin).process(
        path, attachment(path), MediaContext(workdir=tmp_path, transcribe=None)
    )
    assert len(frames_of(parts)) == 2
    assert parts[-1] == TextPart("No transcript: no transcriber is configured.")


async def test_video_without_audio_track(media: Media, ffmpeg_bin: Path, tmp_path: Path) -> None:
    path = into(tmp_path, media.silent)
    transcribe = Recorder(ffmpeg_bin)
    parts = await VideoProcessor(VideoConfig(max_frames=4), ffmpeg_bin).process(
        path, attachment(path), MediaContext(workdir=tmp_path, transcribe=transcribe)
    )
    assert len(frames_of(parts)) == 4
    assert parts[-1] == TextPart("No transcript: the video has no audio track.")
    assert transcribe.paths == []


async def test_transcription_failure_is_said(
    media: Media, ffmpeg_bin: Path, tmp_path: Path
) -> None:
    path = into(tmp_path, media.clip)

    async def failing(audio: Path) -> str:
        raise ProviderUnavailable("the transcription service is unavailable")

    parts = await VideoProcessor(VideoConfig(max_frames=2), ffmpeg_bin).process(
        path, attachment(path), MediaContext(workdir=tmp_path, transcribe=failing)
    )
    assert len(frames_of(parts)) == 2
    assert parts[-1] == TextPart(
        "No transcript: transcription failed (the transcription service is unavailable)."
    )


async def test_text_file_named_mp4(ffmpeg_bin: Path, tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("just some text, not a video\n" * 50)
    with pytest.raises(
        MediaError, match=r"^not a video ffmpeg will read \(no known self-contained container\)$"
    ):
        await VideoProcessor(VideoConfig(), ffmpeg_bin).process(
            path, attachment(path), MediaContext(workdir=tmp_path)
        )
    assert [p.name for p in await trio.Path(tmp_path).iterdir()] == ["notes.mp4"]


async def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    # no ffmpeg may run at all: the binary does not even exist
    processor = VideoProcessor(VideoConfig(), Path("/nonexistent/ffmpeg"))
    with pytest.raises(MediaError, match=r"^the file is empty \(0 bytes\), not a video$"):
        await processor.process(path, attachment(path), MediaContext(workdir=tmp_path))


async def test_ffmpeg_gone_since_start_up(media: Media, tmp_path: Path) -> None:
    path = into(tmp_path, media.clip)
    processor = VideoProcessor(VideoConfig(), tmp_path / "uninstalled" / "ffmpeg")
    with pytest.raises(
        MediaError,
        match=r"^ffmpeg is no longer at .*/uninstalled/ffmpeg; reinstall it and restart$",
    ):
        await processor.process(path, attachment(path), MediaContext(workdir=tmp_path))
    assert [p.name for p in await trio.Path(tmp_path).iterdir()] == ["clip.mp4"]


async def test_truncated_file(media: Media, ffmpeg_bin: Path, tmp_path: Path) -> None:
    path = into(tmp_path, media.truncated)
    with pytest.raises(MediaError, match=r"^the video is truncated or corrupt$"):
        await VideoProcessor(VideoConfig(), ffmpeg_bin).process(
            path, attachment(path), MediaContext(workdir=tmp_path)
        )


async def test_truncated_file_with_index_first_gives_what_it_has(
    media: Media, ffmpeg_bin: Path, tmp_path: Path
) -> None:
    path = into(tmp_path, media.truncated_faststart)
    parts = await VideoProcessor(VideoConfig(max_frames=8), ffmpeg_bin).process(
        path, attachment(path), MediaContext(workdir=tmp_path)
    )
    # what is there is measured (the index lists all 20 s; the data stops near 0:12)
    shots = frames_of(parts)
    assert len(shots) == 8
    assert 10 <= seconds(shots[-1][0]) <= 13
    header = parts[0]
    assert isinstance(header, TextPart)
    assert "its header says 0:20, but the video ends at 0:1" in header.text


async def test_over_size_refused_before_ffmpeg_runs(media: Media, tmp_path: Path) -> None:
    path = into(tmp_path, media.clip)
    size = path.stat().st_size
    processor = VideoProcessor(VideoConfig(max_bytes=size - 2000), Path("/nonexistent/ffmpeg"))
    assert processor.max_bytes == size - 2000  # the core checks it before fetching
    with pytest.raises(MediaError, match=r"^the video is .* KB, 2\.0 KB over the .* KB limit$"):
        await processor.process(path, attachment(path), MediaContext(workdir=tmp_path))


async def test_over_long_refused_before_decoding(
    media: Media, logging_ffmpeg: tuple[Path, Path], tmp_path: Path
) -> None:
    wrapper, log = logging_ffmpeg
    workdir = tmp_path / "turn"
    workdir.mkdir()
    path = into(workdir, media.ramp20)
    processor = VideoProcessor(VideoConfig(max_duration=12.5), wrapper)
    with pytest.raises(MediaError, match=r"^the video is 0:20 long, 0:08 over the 0:12 limit$"):
        await processor.process(path, attachment(path), MediaContext(workdir=workdir))
    assert_nothing_decoded(log.read_text().splitlines(), path)


async def test_frames_over_max_pixels_refused_before_decoding(
    media: Media, logging_ffmpeg: tuple[Path, Path], tmp_path: Path
) -> None:
    wrapper, log = logging_ffmpeg
    workdir = tmp_path / "turn"
    workdir.mkdir()
    path = into(workdir, media.ramp20)  # 320x240 = 76,800 pixels
    processor = VideoProcessor(VideoConfig(max_pixels=320 * 240 - 1), wrapper)
    with pytest.raises(
        MediaError,
        match=r"^the video is 320x240 \(76,800 pixels\), 1 pixel over the 76,799 "
        r"pixels limit$",
    ):
        await processor.process(path, attachment(path), MediaContext(workdir=workdir))
    assert_nothing_decoded(log.read_text().splitlines(), path)
    exact = VideoProcessor(VideoConfig(max_pixels=320 * 240), wrapper)  # the limit itself passes
    parts = await exact.process(path, attachment(path), MediaContext(workdir=workdir))
    assert len(frames_of(parts)) == 8


def assert_nothing_decoded(calls: list[str], path: Path) -> None:
    """The probe ran, and the other calls only listed packets (copy to framecrc)."""
    assert any(call.endswith(f"-i file:{path} {' '.join(PROBE_OUTPUT)}") for call in calls)
    for call in calls:
        assert call.endswith("-c copy -f framecrc -") or call.endswith(" ".join(PROBE_OUTPUT))
        assert "frame-" not in call and "-vf" not in call


def test_max_pixels_message_in_megapixels() -> None:
    from nanobot_video_ffmpeg.processor import _pixels

    assert _pixels(16384 * 16384 - 8192 * 4352) == "232.8 megapixels"


async def test_a_stream_growing_past_max_pixels_is_not_decoded_past_its_header_size(
    media: Media, ffmpeg_bin: Path, tmp_path: Path
) -> None:
    # Its header says 320x240 (within the limit); its second half is 640x480.
    path = into(tmp_path, media.growing)
    parts = await VideoProcessor(VideoConfig(max_pixels=320 * 240), ffmpeg_bin).process(
        path, attachment(path), MediaContext(workdir=tmp_path)
    )
    shots = frames_of(parts)
    assert 1 <= len(shots) < 8
    for _, image in shots:
        assert ", 320x240" in await report_of(ffmpeg_bin, image)
    assert all(seconds(label) < 5 for label, _ in shots)
    # the limit is what stops it: a larger one decodes the second half
    parts = await VideoProcessor(VideoConfig(max_pixels=640 * 480), ffmpeg_bin).process(
        path, attachment(path), MediaContext(workdir=tmp_path)
    )
    assert len(frames_of(parts)) == 8


async def test_keyframe_listing_of_many_packets_is_read_in_bounded_memory(
    media: Media, ffmpeg_bin: Path, tmp_path: Path
) -> None:
    path = into(tmp_path, media.many_packets)
    listing = await trio.run_process(
        [str(ffmpeg_bin), "-nostdin", "-loglevel", "error", "-i", str(path),
         "-map", "0:0", "-c", "copy", "-f", "framecrc", "-"],
        capture_stdout=True,
    )  # fmt: skip
    assert listing.stdout.count(b"\n0,") == 60_000  # every packet a keyframe
    assert len(listing.stdout) > 3_400_000
    del listing
    processor = VideoProcessor(VideoConfig(), ffmpeg_bin)
    tracemalloc.start()
    try:
        parts = await processor.process(path, attachment(path), MediaContext(workdir=tmp_path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    labels = [seconds(label) for label, _ in frames_of(parts)]
    assert labels == [4, 11, 19, 26, 34, 41, 49, 56]  # the keyframes nearest each slot's middle
    # Holding the listing (bytes, text, lines) took ~13 MB here; it is read as written.
    assert peak < 1_000_000, peak


async def test_workdir_left_as_found(media: Media, ffmpeg_bin: Path, tmp_path: Path) -> None:
    path = into(tmp_path, media.ramp60)
    await VideoProcessor(VideoConfig(), ffmpeg_bin).process(
        path, attachment(path), MediaContext(workdir=tmp_path, transcribe=Recorder(ffmpeg_bin))
    )
    assert [p.name for p in await trio.Path(tmp_path).iterdir()] == ["ramp60.mp4"]


async def test_name_starting_with_dash(media: Media, ffmpeg_bin: Path, tmp_path: Path) -> None:
    path = into(tmp_path, media.clip, name="-y.mp4")
    parts = await VideoProcessor(VideoConfig(max_frames=2), ffmpeg_bin).process(
        path, attachment(path), MediaContext(workdir=tmp_path)
    )
    assert len(frames_of(parts)) == 2


@pytest.mark.parametrize("clip", ["ramp20", "ramp60"])
async def test_quick_keyframe_listing_matches_the_full_one(
    clip: str, media: Media, ffmpeg_bin: Path
) -> None:
    from nanobot_video_ffmpeg.probe import parse_keyframes

    path = getattr(media, clip)
    listings = []
    for extra in ([], ["-discard", "nokey"]):
        done = await trio.run_process(
            [str(ffmpeg_bin), "-nostdin", "-loglevel", "error", *extra, "-i", str(path),
             "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"],
            capture_stdout=True,
        )  # fmt: skip
        listings.append(done.stdout.decode())
    full = parse_keyframes(listings[0])
    assert len(full) >= 2
    assert parse_keyframes(listings[1], from_dts=True) == full
