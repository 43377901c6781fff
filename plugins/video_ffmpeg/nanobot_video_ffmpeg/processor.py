"""The ``video`` media processor: a video in, timestamped frames and a transcript out."""

from __future__ import annotations

import logging
import math
import os
import secrets
import shutil
from pathlib import Path

import trio

from nanobot_core import Activity, Attachment, AttachmentKind, MediaError, NanobotError
from nanobot_core.media import describe_size
from nanobot_core.messages import ImagePart, Part, TextPart
from nanobot_core.protocols import MediaContext

from . import audio, ffmpeg, frames
from .config import VideoConfig
from .probe import PROBE_OUTPUT, KeyframeLines, Probe, parse_report

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
        probe = await self._probe(path, name, scratch, deadline)
        assert probe.video is not None and probe.duration is not None
        # Frames first, then the audio: no transcription is paid for a video whose frames
        # cannot be read, and on two cores running both at once saves little (~0.15 s on
        # a 10-minute clip; see the benchmark).
        wanted = self._frame_count(probe)
        shots = await self._frames(path, name, probe, wanted, scratch, deadline)
        if not probe.audio:
            note = "No transcript: the video has no audio track."
        elif context.transcribe is None:
            note = "No transcript: no transcriber is configured."
        else:
            note = await self._transcript(path, probe, scratch, deadline, context)
        video = probe.video
        header = (
            f"Video {name}: {clock(probe.duration)} long, {video.width}x{video.height}; "
            f"{len(shots)} frames spread over the whole video follow, each after its time"
            + ("" if len(shots) == wanted else
               f" (only {len(shots)} of {wanted} frames could be decoded: "
               "the video track may be damaged or end early)")
            + (", then the transcript of its audio." if note.startswith("Transcript") else ".")
        )  # fmt: skip
        parts: list[Part] = [TextPart(header)]
        for time, data in shots:
            parts.append(TextPart(f"frame at {clock(time)}"))
            parts.append(ImagePart(data, "image/jpeg", description=f"video frame at {clock(time)}"))
        parts.append(TextPart(note))
        return tuple(parts)

    def _frame_count(self, probe: Probe) -> int:
        """``max_frames``, or every frame of a clip that has fewer (a short animation)."""
        assert probe.video is not None and probe.duration is not None
        if probe.video.fps is None:
            return self.config.max_frames
        return max(1, min(self.config.max_frames, math.floor(probe.duration * probe.video.fps)))

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
        report = await self._ffmpeg(
            [*ffmpeg.input_args(path), *PROBE_OUTPUT], scratch, deadline, loglevel="info"
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
            raise MediaError("the file has no video track")
        if probe.duration is None or probe.duration <= 0:
            raise MediaError("cannot tell how long the video is, so it was not processed")
        limit = self.config.max_duration
        if probe.duration > limit + 0.5:  # containers overshoot by a few audio frames
            over = clock(probe.duration - limit)  # rounded as the length is: > 0.5, so >= 0:01
            raise MediaError(
                f"the video is {clock(probe.duration)} long, {over} over the {clock(limit)} limit"
            )
        pixels, most = probe.video.width * probe.video.height, self.config.max_pixels
        if pixels > most:  # before any decoding: frames that size cost memory per input
            raise MediaError(
                f"the video is {probe.video.width}x{probe.video.height} ({_pixels(pixels)}), "
                f"{_pixels(pixels - most)} over the {_pixels(most)} limit"
            )
        return probe

    async def _keyframes(
        self, path: Path, probe: Probe, count: int, scratch: Path, deadline: float
    ) -> list[float]:
        """The keyframe times the plan for ``count`` frames can use (``KeptKeyframes``).

        The listing is read as ffmpeg writes it and only a few times are kept:
        a file of tiny packets (a 100 MB file can hold millions) costs no memory.
        """
        assert probe.video is not None and probe.duration is not None
        # Demux only, no decoding. For mov/mp4, ``-discard nokey`` makes the demuxer skip
        # every other packet unread: 4x faster on a 10-minute clip (see KeyframeLines).
        quick = probe.container == "mov"
        lines = KeyframeLines(from_dts=quick)
        kept = frames.KeptKeyframes(probe.duration, count)

        def on_line(line: str) -> None:
            if (time := lines.key_time(line)) is not None:
                kept.add(time)

        args = [
            *(["-discard", "nokey"] if quick else []),
            *ffmpeg.input_args(path, probe.container),
            *("-map", "0:V:0", "-c", "copy", "-f", "framecrc", "-"),
        ]
        with trio.move_on_at(deadline) as scope:
            await ffmpeg.each_line(self.binary, args, on_line, cwd=scratch, prefix=self.prefix)
            return kept.times()
        assert scope.cancelled_caught
        raise self._too_slow()

    async def _frames(
        self, path: Path, name: str, probe: Probe, count: int, scratch: Path, deadline: float
    ) -> list[tuple[float, bytes]]:
        assert probe.video is not None and probe.duration is not None
        keyframes = await self._keyframes(path, probe, count, scratch, deadline)
        picks = frames.plan(probe.duration, count, keyframes, probe.video.fps)
        out = scratch / "frames"
        await trio.Path(out).mkdir()
        width = self.config.frame_width
        if frames.use_seeks(picks, keyframes, probe.video.fps):
            result = await self._ffmpeg(
                frames.seek_args(path, probe, picks, width, out, self.config.max_pixels),
                scratch,
                deadline,
            )
            times = [p.time for p in picks]
        else:
            result = await self._ffmpeg(
                frames.pass_args(path, probe, picks, width, out, self.config.max_pixels),
                scratch,
                deadline,
                loglevel="info",
            )
            times = frames.shown_times(result.stderr)
        shots = []
        for i, time in enumerate(times):
            jpeg = trio.Path(out / f"frame-{i:02d}.jpg")
            if await jpeg.exists() and (data := await jpeg.read_bytes()):
                shots.append((time, data))
        if not shots:
            log.debug("no frame from %s: %s", name, result.stderr[-2000:])
            raise MediaError("no frame could be decoded: the video is truncated or corrupt")
        return shots

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
