"""Untrusted input and process hygiene: playlists, timeouts, cancellation."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
import trio
from nanobot_video_ffmpeg import VideoConfig, VideoProcessor

from nanobot_core import MediaError, TextPart
from nanobot_core.protocols import MediaContext

from .conftest import Media
from .test_processor import Recorder, attachment, into

HLS = (
    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
    "#EXTINF:10.0,\nsecret.ts\n#EXT-X-ENDLIST\n"
)
CONCAT = "ffconcat version 1.0\nfile secret.mp4\n"


@contextmanager
def watched(fifo: Path) -> Iterator[list[bool]]:
    """A named pipe that records whether anything opened it for reading.

    A reader blocks in open() until a writer comes; the watcher keeps trying a
    non-blocking open for writing, which only succeeds while a reader waits.
    """
    os.mkfifo(fifo)
    opened: list[bool] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as error:
                assert error.errno == errno.ENXIO  # no reader yet
                stop.wait(0.002)
            else:
                opened.append(True)
                os.close(fd)  # the reader sees end of file

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield opened
    finally:
        stop.set()
        thread.join()


def plain_ffmpeg(ffmpeg_bin: Path, path: Path) -> None:
    subprocess.run(
        [str(ffmpeg_bin), "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "null", "-"],
        cwd=path.parent, capture_output=True, timeout=30, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "target"),
    [("clip.m3u8", HLS, "secret.ts"), ("clip.mp4", CONCAT, "secret.mp4")],
    ids=["hls-playlist", "concat-list-disguised-as-mp4"],
)
async def test_playlist_reading_another_file_is_refused(
    name: str, content: str, target: str, ffmpeg_bin: Path, tmp_path: Path
) -> None:
    attack = tmp_path / name
    attack.write_text(content)
    with watched(tmp_path / target) as opened:
        # The test means something: plain ffmpeg follows the list to the other file.
        await trio.to_thread.run_sync(plain_ffmpeg, ffmpeg_bin, attack)
    assert opened, "plain ffmpeg should have opened the referenced file"
    (tmp_path / target).unlink()

    with watched(tmp_path / target) as opened:
        with pytest.raises(MediaError, match=r"^not a video ffmpeg will read"):
            await VideoProcessor(VideoConfig(), ffmpeg_bin).process(
                attack, attachment(attack), MediaContext(workdir=tmp_path)
            )
        await trio.sleep(0.05)  # give a late open a chance to be seen
    assert not opened


async def test_hls_disguised_as_mp4_is_refused(ffmpeg_bin: Path, tmp_path: Path) -> None:
    # ffmpeg >= 7 no longer probes HLS behind a non-playlist extension; older ones did.
    # The processor refuses it whatever the ffmpeg: hls is not an allowed container.
    attack = tmp_path / "clip.mp4"
    attack.write_text(HLS)
    with watched(tmp_path / "secret.ts") as opened:
        with pytest.raises(MediaError, match=r"^not a video ffmpeg will read"):
            await VideoProcessor(VideoConfig(), ffmpeg_bin).process(
                attack, attachment(attack), MediaContext(workdir=tmp_path)
            )
        await trio.sleep(0.05)
    assert not opened


def commands(marker: Path) -> dict[psutil.Process, str]:
    """Live processes whose command line names our unique workdir, with that line."""
    found = {}
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(process.info["cmdline"] or ())
        if str(marker) in cmdline and process.info["status"] != psutil.STATUS_ZOMBIE:
            found[process] = cmdline
    return found


def ours(marker: Path) -> list[psutil.Process]:
    return list(commands(marker))


def survivors(marker: Path) -> list[psutil.Process]:
    """Processes of ours still alive once SIGKILL has had time to land.

    Our direct child is reaped before ``process`` returns; a grandchild (the real
    ffmpeg under the wrapper shell) got the same SIGKILL through its process group,
    but the kernel tears it down and init reaps it on their own time.
    """
    _, alive = psutil.wait_procs(ours(marker), timeout=5)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def our_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.is_running()]


async def test_timeout_kills_the_whole_ffmpeg_process_group(
    media: Media, ffmpeg_bin: Path, slow_ffmpeg: Callable[[str], Path], tmp_path: Path
) -> None:
    workdir = tmp_path / "turn-timeout"
    workdir.mkdir()
    path = into(workdir, media.ramp20)
    # every ffmpeg call reads at real time (20 s), in a child of a wrapper shell
    processor = VideoProcessor(VideoConfig(timeout=2), slow_ffmpeg("-i"))  # every call
    context = MediaContext(workdir=workdir, transcribe=Recorder(ffmpeg_bin))
    seen: list[int] = []
    real = str(ffmpeg_bin)

    async def spy() -> None:
        while True:
            seen.extend(p.pid for p, line in commands(workdir).items() if line.startswith(real))
            await trio.sleep(0.01)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(spy)
        with pytest.raises(MediaError, match=r"took longer than 2 s; ffmpeg was stopped$"):
            await processor.process(path, attachment(path), context)
        nursery.cancel_scope.cancel()
    assert seen, "the real ffmpeg should have been running"
    assert survivors(workdir) == []
    assert our_children() == []
    assert [p.name for p in await trio.Path(workdir).iterdir()] == ["ramp20.mp4"]


@pytest.mark.parametrize("step", ["framecrc", "frame-"])
async def test_cancelling_mid_extraction_leaves_no_process_and_no_file(
    step: str, media: Media, ffmpeg_bin: Path, slow_ffmpeg: Callable[[str], Path], tmp_path: Path
) -> None:
    workdir = tmp_path / f"turn-cancel-{step}"
    workdir.mkdir()
    path = into(workdir, media.ramp60)
    processor = VideoProcessor(VideoConfig(), slow_ffmpeg(step))
    context = MediaContext(workdir=workdir, transcribe=Recorder(ffmpeg_bin))
    running: list[str] = []

    async with trio.open_nursery() as nursery:

        async def turn() -> None:
            await processor.process(path, attachment(path), context)
            raise AssertionError("the slowed step should not finish")

        nursery.start_soon(turn)
        while not running:  # wait until the slowed ffmpeg is really at work
            running = [line for line in commands(workdir).values() if step in line]
            await trio.sleep(0.01)
        nursery.cancel_scope.cancel()

    assert any(step in cmd for cmd in running)
    assert survivors(workdir) == []
    assert our_children() == []
    assert [p.name for p in await trio.Path(workdir).iterdir()] == ["ramp60.mp4"]


def test_a_playlist_demuxer_is_not_in_the_allow_list() -> None:
    from nanobot_video_ffmpeg.ffmpeg import CONTAINERS

    assert not {"hls", "applehttp", "concat", "dash", "image2", "tee", "data"} & set(CONTAINERS)


async def test_report_text_written_by_the_file_cannot_choose_the_demuxer(
    media: Media, ffmpeg_bin: Path, logging_ffmpeg: tuple[Path, Path], tmp_path: Path
) -> None:
    # A Matroska doctype is logged before ffmpeg's report; this one writes the line
    # "Input #0, hls, from 'x':" there, before the real one.
    plain = await trio.run_process(
        [str(ffmpeg_bin), "-hide_banner", "-i", str(media.forged_container)],
        capture_stderr=True, check=False,
    )  # fmt: skip
    assert "\nInput #0, hls, from 'x':\n" in plain.stderr.decode()  # the forgery is real
    wrapper, log = logging_ffmpeg
    workdir = tmp_path / "turn"
    workdir.mkdir()
    path = into(workdir, media.forged_container)
    with pytest.raises(
        MediaError, match=r"^not a video ffmpeg will read \(no known self-contained container\)$"
    ):
        await VideoProcessor(VideoConfig(), wrapper).process(
            path, attachment(path), MediaContext(workdir=workdir)
        )
    calls = log.read_text().splitlines()  # the probe, maybe a listing guessed as mp4
    assert calls and not any("hls" in call for call in calls)  # none forces what the file wrote


def test_only_an_allowed_container_can_be_forced(tmp_path: Path) -> None:
    from nanobot_video_ffmpeg.ffmpeg import input_args

    path = tmp_path / "a.mkv"
    assert input_args(path, "matroska") == [
        "-protocol_whitelist", "file", "-format_whitelist", "matroska", "-f", "matroska",
        "-i", f"file:{path}",
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"^container 'hls' is not an allowed one$"):
        input_args(path, "hls")


async def test_a_stream_tag_cannot_shorten_the_duration_checked(
    media: Media, ffmpeg_bin: Path, tmp_path: Path
) -> None:
    # Matroska prints a stream's language raw: this one adds a second "Duration: 2 s" line.
    plain = await trio.run_process(
        [str(ffmpeg_bin), "-hide_banner", "-i", str(media.forged_duration)],
        capture_stderr=True, check=False,
    )  # fmt: skip
    assert "\n  Duration: 00:00:02.00, start" in plain.stderr.decode()  # the forgery is real
    path = into(tmp_path, media.forged_duration)
    with pytest.raises(MediaError, match=r"^the video is 1:00 long, 0:50 over the 0:10 limit$"):
        await VideoProcessor(VideoConfig(max_duration=10), ffmpeg_bin).process(
            path, attachment(path), MediaContext(workdir=tmp_path)
        )


async def test_a_stream_tag_cannot_forge_or_hide_the_video_stream(
    media: Media, ffmpeg_bin: Path, tmp_path: Path
) -> None:
    plain = await trio.run_process(
        [str(ffmpeg_bin), "-hide_banner", "-i", str(media.forged_stream)],
        capture_stderr=True, check=False,
    )  # fmt: skip
    report = plain.stderr.decode()
    # the forgery is real: a fake stream line at ffmpeg's own indentation, the real one broken
    assert "\n  Stream #0:1: Video: h264, 16x16, 1 fps\n" in report
    assert not re.search(r"^  Stream #0:1.*: Video: .*640x360", report, re.M)
    path = into(tmp_path, media.forged_stream)
    # the size checked is the real one: 640x360 is over a limit 16x16 would pass
    with pytest.raises(MediaError, match=r"^the video is 640x360 \(230,400 pixels\), 1 pixel"):
        await VideoProcessor(VideoConfig(max_pixels=640 * 360 - 1), ffmpeg_bin).process(
            path, attachment(path), MediaContext(workdir=tmp_path)
        )
    parts = await VideoProcessor(VideoConfig(), ffmpeg_bin).process(
        path, attachment(path), MediaContext(workdir=tmp_path)
    )
    header = parts[0]
    assert isinstance(header, TextPart)
    assert header.text.startswith("Video forged_stream.mkv: 0:08 long, 640x360; 8 frames")


async def test_a_header_claiming_less_than_the_file_holds_is_measured(
    media: Media, ffmpeg_bin: Path, tmp_path: Path
) -> None:
    # The header says 5 s (within the limit); the file holds 60 s: the packets say so.
    path = into(tmp_path, media.lying_duration)
    transcribe = Recorder(ffmpeg_bin)
    with pytest.raises(MediaError, match=r"^the video is 1:00 long, 0:50 over the 0:10 limit$"):
        await VideoProcessor(VideoConfig(max_duration=10), ffmpeg_bin).process(
            path, attachment(path), MediaContext(workdir=tmp_path, transcribe=transcribe)
        )
    assert transcribe.paths == []  # nothing was sent to the paid transcriber
    parts = await VideoProcessor(VideoConfig(max_duration=60), ffmpeg_bin).process(
        path, attachment(path), MediaContext(workdir=tmp_path, transcribe=transcribe)
    )
    header = parts[0]
    assert isinstance(header, TextPart) and header.text.startswith("Video lying_duration.mkv: 1:00")
    [report] = transcribe.reports
    h, m, s = re.findall(r"time=(\d+):(\d+):([\d.]+)", report)[-1]
    assert 59 <= int(h) * 3600 + int(m) * 60 + float(s) <= 60.1, report[-300:]
