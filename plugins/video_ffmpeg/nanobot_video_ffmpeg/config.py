"""``[media.video]``: limits and where ffmpeg lives."""

from __future__ import annotations

from pathlib import Path

import attrs
from attrs import field, frozen

_positive = attrs.validators.gt(0)


@frozen
class VideoConfig:
    """Settings of the ``video`` media processor.

    ``ffmpeg`` is the binary to run; unset, the processor uses ``ffmpeg`` on
    ``PATH``, else the one bundled by the optional ``imageio-ffmpeg`` package.
    """

    max_frames: int = field(default=8, validator=[_positive, attrs.validators.le(64)])
    max_duration: float = field(default=600.0, validator=_positive)  # seconds
    max_bytes: int = field(default=100 * 1024 * 1024, validator=_positive)
    timeout: float = field(
        default=60.0, validator=_positive
    )  # seconds, all ffmpeg work of one video
    frame_width: int = field(default=768, validator=[_positive, attrs.validators.le(4096)])
    ffmpeg: Path | None = None
