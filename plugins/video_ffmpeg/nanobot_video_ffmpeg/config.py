"""``[media.video]``: limits and where ffmpeg lives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
from attrs import field, frozen

from nanobot_core.config import FieldError


def _between(low: float, high: float) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
        if not low <= value <= high:
            raise FieldError(attribute.name, f"must be between {low:g} and {high:g}, got {value}")

    return check


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise FieldError(attribute.name, f"must be greater than 0, got {value}")


@frozen
class VideoConfig:
    """Settings of the ``video`` media processor.

    ``ffmpeg`` is the binary to run; unset, the processor uses ``ffmpeg`` on
    ``PATH``, else the one bundled by the optional ``imageio-ffmpeg`` package.
    """

    max_frames: int = field(default=8, validator=_between(1, 64))
    max_duration: float = field(default=600.0, validator=_positive, metadata={"help": "seconds"})
    max_bytes: int = field(default=100 * 1024 * 1024, validator=_positive)
    timeout: float = field(
        default=60.0, validator=_positive, metadata={"help": "seconds for all ffmpeg work"}
    )
    frame_width: int = field(default=768, validator=_between(16, 4096))
    ffmpeg: Path | None = None
