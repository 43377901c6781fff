"""``[media.video]``: limits and where ffmpeg lives."""

from __future__ import annotations

from pathlib import Path

from attrs import field, frozen

from nanobot_core.validators import between, positive


@frozen
class VideoConfig:
    """Settings of the ``video`` media processor.

    ``ffmpeg`` is the binary to run; unset, the processor uses ``ffmpeg`` on
    ``PATH``, else the one bundled by the optional ``imageio-ffmpeg`` package.
    """

    max_frames: int = field(default=8, validator=between(1, 64))
    max_duration: float = field(default=600.0, validator=positive, metadata={"help": "seconds"})
    max_bytes: int = field(default=100 * 1024 * 1024, validator=positive)
    timeout: float = field(
        default=60.0, validator=positive, metadata={"help": "seconds for all ffmpeg work"}
    )
    frame_width: int = field(default=768, validator=between(16, 4096))
    ffmpeg: Path | None = None
