"""The ``video`` media processor: a video in, timestamped frames and a transcript out."""

from __future__ import annotations

import logging
import math
import os
import secrets
import shutil
from pathlib import Path

import attrs
import trio

from nanobot_core import Activity, Attachment, AttachmentKind, MediaError, NanobotError
from nanobot_core.media import describe_size
from nanobot_core.messages import ImagePart, Part, TextPart
from nanobot_core.protocols import MediaContext

from . import audio, ffmpeg, frames
from .config import VideoConfig
from .probe import PROBE_OUTPUT, Probe, Scan, VideoStream, parse_report

log = logging.getLogger(__name__)


def clock(seconds: float) -> str:
    """``0:12``, ``12:05``, ``1:02:03``."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _pixels(count: int) -> str:
    """``1 pixel``, ``76,800 pixels``, ``268.4 megapixels``."""
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f} megapixels"
    return f"{count:,} pixel{'' if count == 1 else 's'}"


QUICK_FRAMES = 600  # a clip of fewer frames (by its header) has every packet listed


def _upright(video: VideoStream, jpeg: bytes) -> tuple[int, int]:
    """The size as shown: ffmpeg turned the frames upright, so a frame whose orientation is
    not the stored one tells the video is rotated by 90 degrees (as phones record)."""
    shown = frames.jpeg_size(jpeg)
    width, height = video.width, video.height
    if shown and width != height and (shown[0] > shown[1]) != (width > height):
        return height, width
    return width, height


class VideoProcessor:
    """Frames spread over the whole video, each labelled with its time, then the transcript."""

    kinds = frozenset({AttachmentKind.VIDEO, AttachmentKind.VIDEO_NOTE, AttachmentKind.ANIMATION})
    capability = "video"

    def __init__(self, config: VideoConfig, binary: Path) -> None:
        self.config = config
        self.binary = binary
        self.max_bytes = config.max_bytes  # the core refuses larger files before fetching them
        self.prefix = ffmpeg.find_nice()

    async def process(
        self, path: Path, attachment: Attachment, context: MediaContext
    ) -> tuple[Part, ...]:
        name = attachment.filename or path.name
        await context.set_activity(Activity.EXTRACTING)
        size = (await trio.Path(path).stat()).st_size
        self._check_size(size)
        # Found at start-up, but an upgrade may have removed it since; under ``nice`` a
        # missing binary would otherwise read as an empty report, "not a video".
        if not await trio.to_thread.run_sync(os.access, self.binary, os.X_OK):
            raise MediaError(f"ffmpeg is no longer at {self.binary}; reinstall it and restart")
        deadline = trio.current_time() + self.config.timeout
        scratch = context.workdir / f"video-{secrets.token_hex(6)}"
        await trio.Path(scratch).mkdir()
        try:
            return await self._process(path, name, context, scratch, deadline)
        finally:
            with trio.CancelScope(shield=True):  # nothing of ours outlives the call
                await trio.to_thread.run_sync(shutil.rmtree, scratch, True)

    # Messages name no file: the core shows them after the attachment's name.
    def _check_size(self, size: int) -> None:
        limit = self.config.max_bytes
        if size == 0:
            raise MediaError("the file is empty (0 bytes), not a video")
        if size > limit:
            raise MediaError(
                f"the video is {describe_size(size)}, {describe_size(size - limit)} over the "
                f"{describe_size(limit)} limit"
            )

    async def _process(
        self, path: Path, name: str, context: MediaContext, scratch: Path, deadline: float
    ) -> tuple[Part, ...]:
        probe, scan = await self._probe_and_scan(path, name, scratch, deadline)
        assert probe.video is not None
        length = scan.length if scan.complete else probe.duration
        assert length is not None
        self._check_length(length)
        # Frames first, then the audio: no transcription is paid for a video whose frames
        # cannot be read, and on two cores running both at once saves little (~0.15 s on
        # a 10-minute clip; see the benchmark).
        wanted = self._frame_count(probe, scan, length)
        shots, alpha_note = await self._frames(
            path, name, probe, scan, length, wanted, scratch, deadline
        )
        probe_claim, probe = probe.duration, attrs.evolve(probe, duration=length)
        assert probe.video is not None
        if not probe.audio:
            note = "No transcript: the video has no audio track."
        elif context.transcribe is None:
            note = "No transcript: no transcriber is configured."
        else:
            note = await self._transcript(path, probe, scratch, deadline, context)
        width, height = _upright(probe.video, shots[0][1])
        header = (
            f"Video {name}: {clock(length)} long, {width}x{height}; "
            f"{len(shots)} frames spread over the whole video follow, each after its time"
            + ("" if len(shots) >= wanted else
               f" (only {len(shots)} of {wanted} frames could be decoded: "
               "the video track may be damaged or end early)")
            + alpha_note
            + self._cut_note(probe_claim, length)
            + (", then the transcript of its audio." if note.startswith("Transcript") else ".")
        )  # fmt: skip
        parts: list[Part] = [TextPart(header)]
        for time, data in shots:
            parts.append(TextPart(f"frame at {clock(time)}"))
            parts.append(ImagePart(data, "image/jpeg", description=f"video frame at {clock(time)}"))
        parts.append(TextPart(note))
        return tuple(parts)

    @staticmethod
    def _cut_note(claimed: float | None, length: float) -> str:
        """A header that says more than the file holds (cut off mid-upload, or lying)."""
        if claimed is None or claimed <= length + 1.0:
            return ""
        return f"; its header says {clock(claimed)}, but the video ends at {clock(length)}"

    def _frame_count(self, probe: Probe, scan: Scan, length: float) -> int:
        """``max_frames``, or every frame of a clip that has fewer (a short animation)."""
        assert probe.video is not None
        if scan.complete:
            return max(1, min(self.config.max_frames, scan.count))
        if probe.video.fps is None:
            return self.config.max_frames
        return max(1, min(self.config.max_frames, math.floor(length * probe.video.fps)))

    def _too_slow(self) -> MediaError:
        return MediaError(
            f"processing the video took longer than {self.config.timeout:g} s; ffmpeg was stopped"
        )

    async def _ffmpeg(
        self, args: list[str], scratch: Path, deadline: float, loglevel: str = "error"
    ) -> ffmpeg.Result:
        with trio.move_on_at(deadline) as scope:
            return await ffmpeg.run(
                self.binary, args, cwd=scratch, loglevel=loglevel, prefix=self.prefix
            )
        assert scope.cancelled_caught
        raise self._too_slow()

    async def _probe(self, path: Path, name: str, scratch: Path, deadline: float) -> Probe:
        async with await trio.open_file(path, "rb") as file:
            head = await file.read(ffmpeg.SNIFF_BYTES)
        report = await self._ffmpeg(
            [*ffmpeg.input_args(path, ffmpeg.sniff(head)), *PROBE_OUTPUT],
            scratch,
            deadline,
            loglevel="info",
        )
        probe = parse_report(report.stderr, report.stdout.decode("ascii", "replace"))
        if probe is None or probe.container not in ffmpeg.CONTAINERS:
            log.debug("ffmpeg could not open %s: %s", name, report.stderr[-2000:])
            # A real container whose index or data is cut off, not a guess on some other file.
            truncated = "misdetection possible" not in report.stderr and any(
                sign in report.stderr for sign in ("moov atom not found", "End of file")
            )
            raise MediaError(
                "the video is truncated or corrupt" if truncated
                else "not a video ffmpeg will read (no known self-contained container)"
            )  # fmt: skip
        if probe.video is None:
            if probe.audio:
                raise MediaError("the file has no video track (it is audio only)")
            raise MediaError("the file has no video track")
        pixels, most = probe.video.width * probe.video.height, self.config.max_pixels
        if pixels > most:  # before any decoding: frames that size cost memory per input
            raise MediaError(
                f"the video is {probe.video.width}x{probe.video.height} ({_pixels(pixels)}), "
                f"{_pixels(pixels - most)} over the {_pixels(most)} limit"
            )
        return probe

    def _check_length(self, length: float) -> None:
        limit = self.config.max_duration
        if length <= 0:
            raise MediaError("no frame could be decoded: the video track is empty")
        if length > limit + 0.5:  # containers overshoot by a few audio frames
            over = clock(length - limit)  # rounded as the length is: > 0.5, so >= 0:01
            raise MediaError(
                f"the video is {clock(length)} long, {over} over the {clock(limit)} limit"
            )

    def _quick(self, probe: Probe) -> bool:
        """Whether the keyframes alone will do: a mov/mp4 whose header gives a length within
        the limit and long enough that the frames need no counting. Else every packet is
        listed (still no decoding): the length and frame count are then measured."""
        assert probe.video is not None
        claimed = probe.duration
        if probe.container != "mov" or claimed is None or claimed <= 0:
            return False
        rate = probe.video.fps or frames.DEFAULT_FPS
        return claimed <= self.config.max_duration + 0.5 and claimed * rate >= QUICK_FRAMES

    async def _probe_and_scan(
        self, path: Path, name: str, scratch: Path, deadline: float
    ) -> tuple[Probe, Scan]:
        """The probe, and beside it (two processes at once) a keyframe listing of the file
        as mp4/mov, which most videos are: used when the probe says ``_quick``, else
        stopped and the full listing is made. Saves one ffmpeg start (60 ms for Debian's
        shared-library build)."""
        guess = Scan(from_dts=True)
        finished: list[int] = []

        async def speculate(cancel: trio.CancelScope) -> None:
            with cancel, trio.move_on_at(deadline):
                args = self._listing_args(path, "mov", quick=True)
                finished.append(
                    await ffmpeg.each_line(
                        self.binary, args, guess.add_line, cwd=scratch, prefix=self.prefix
                    )
                )

        refused: MediaError | None = None
        async with trio.open_nursery() as nursery:
            cancel = trio.CancelScope()
            nursery.start_soon(speculate, cancel)
            try:
                probe = await self._probe(path, name, scratch, deadline)
            except MediaError as error:  # raised after the nursery: not inside a group
                refused = error
            quick = refused is None and self._quick(probe)
            if not quick:
                cancel.cancel()
        if refused is not None:
            raise refused
        if quick and finished == [0]:
            return probe, guess
        return probe, await self._scan(path, probe, scratch, deadline)

    @staticmethod
    def _listing_args(path: Path, container: str, *, quick: bool) -> list[str]:
        # For mov/mp4, ``-discard nokey`` makes the demuxer skip every other packet
        # unread: 4x faster on a 10-minute clip (see KeyframeLines).
        return [
            "-copyts",
            *(["-discard", "nokey"] if quick else []),
            *ffmpeg.input_args(path, container),
            *("-map", "0:V:0", "-c", "copy", "-f", "framecrc", "-"),
        ]

    async def _scan(self, path: Path, probe: Probe, scratch: Path, deadline: float) -> Scan:
        """Every packet of the video, listed as ffmpeg writes them (``Scan``), no decoding.

        Only an even sample of times is kept (``Sample``): a file of tiny packets (a
        100 MB file can hold millions) costs no memory.
        """
        scan = Scan()
        args = self._listing_args(path, probe.container, quick=False)
        with trio.move_on_at(deadline) as scope:
            await ffmpeg.each_line(
                self.binary, args, scan.add_line, cwd=scratch, prefix=self.prefix
            )
            return scan
        assert scope.cancelled_caught
        raise self._too_slow()

    async def _frames(
        self,
        path: Path,
        name: str,
        probe: Probe,
        scan: Scan,
        length: float,
        count: int,
        scratch: Path,
        deadline: float,
    ) -> tuple[list[tuple[float, bytes]], str]:
        """The frames and a note for the header (the alpha track could not be decoded)."""
        assert probe.video is not None
        keyframes = scan.keys.times()
        times = scan.frames.times() if scan.complete else None
        picks = frames.plan(length, count, keyframes, probe.video.fps, times)
        shots = await self._decode(path, probe, picks, keyframes, scan, scratch, deadline, True)
        note = ""
        if not shots and frames.decoder_for(probe) is not None:
            # libvpx refused the alpha track (or this ffmpeg has no libvpx): the picture
            # without its transparency, said as such.
            shots = await self._decode(
                path, probe, picks, keyframes, scan, scratch, deadline, False
            )
            if shots:
                note = "; its transparency could not be decoded, so it is shown without"
        if not shots:
            raise MediaError("no frame could be decoded: the video is truncated or corrupt")
        return shots, note

    async def _decode(
        self,
        path: Path,
        probe: Probe,
        picks: tuple[frames.Pick, ...],
        keyframes: list[float],
        scan: Scan,
        scratch: Path,
        deadline: float,
        alpha: bool,
    ) -> list[tuple[float, bytes]]:
        out = scratch / ("frames" if alpha else "plain")
        await trio.Path(out).mkdir()
        width, origin = self.config.frame_width, scan.origin or 0.0
        seeks = frames.use_seeks(picks, keyframes, probe.video.fps if probe.video else None,
                                 probe.container)  # fmt: skip
        make = frames.seek_args if seeks else frames.pass_args
        result = await self._ffmpeg(
            make(path, probe, picks, width, out, self.config.max_pixels, origin, alpha),
            scratch,
            deadline,
        )
        shots: list[tuple[float, bytes]] = []
        seen: set[float] = set()
        printed: list[float] = []
        if not seeks:
            printed = await self._printed(out / frames.times_file(0))
        for i in range(len(picks)):
            if seeks:
                first = await self._printed(out / frames.times_file(i))
                time = first[0] if first else None
            else:
                time = printed[i] if i < len(printed) else None
            jpeg = trio.Path(out / f"frame-{i:02d}.jpg")
            if time is None or not await jpeg.exists() or not (data := await jpeg.read_bytes()):
                continue
            time = max(time - origin, 0.0)
            if time not in seen:  # two seeks that landed on one frame give it once
                seen.add(time)
                shots.append((time, data))
        if not shots:
            log.debug("no frame decoded: %s", result.stderr[-2000:])
        return sorted(shots, key=lambda shot: shot[0])

    async def _printed(self, path: Path) -> list[float]:
        file = trio.Path(path)
        if not await file.exists():
            return []
        return frames.read_times(await file.read_text("ascii", "replace"))

    async def _transcript(
        self,
        path: Path,
        probe: Probe,
        scratch: Path,
        deadline: float,
        context: MediaContext,
    ) -> str:
        assert context.transcribe is not None
        track = scratch / "audio.ogg"
        result = await self._ffmpeg(
            audio.audio_args(path, probe, track, audio.OPUS), scratch, deadline
        )
        if result.returncode != 0 and "libopus" in result.stderr:  # a build without libopus
            await trio.Path(track).unlink(missing_ok=True)
            track = scratch / "audio.wav"
            result = await self._ffmpeg(
                audio.audio_args(path, probe, track, audio.WAV), scratch, deadline
            )
        if result.returncode != 0 or not await trio.Path(track).exists():
            log.debug("audio extraction failed: %s", result.stderr[-2000:])
            return "No transcript: the audio track could not be decoded."
        await context.set_activity(Activity.TRANSCRIBING)
        try:
            text = (await context.transcribe(track)).strip()
        except NanobotError as error:
            return f"No transcript: transcription failed ({error})."
        finally:
            await trio.Path(track).unlink(missing_ok=True)
        if not text:
            return "Transcript of the video's audio: (no speech recognised)"
        return f"Transcript of the video's audio:\n{text}"
