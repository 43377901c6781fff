"""``[media.video]``: limits and where ffmpeg lives."""

from __future__ import annotations

from pathlib import Path

from attrs import field, frozen

from nanobot_core.validators import between, positive

# The largest picture H.265 allows at any level (6 to 6.2: MaxLumaPs 35,651,584, e.g.
# 8192x4352); H.264's level 6.x stops at 8192x4320. 8K phone video (7680x4320) passes.
# One such frame decodes to ~53 MB (yuv420p), and the processor decodes up to
# ``max_frames`` inputs at once, each holding a few reference frames.
MAX_PIXELS = 8192 * 4352


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
    max_pixels: int = field(
        default=MAX_PIXELS, validator=positive, metadata={"help": "width x height of a frame"}
    )
