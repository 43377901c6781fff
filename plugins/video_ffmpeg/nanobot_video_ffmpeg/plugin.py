"""Entry point ``video_ffmpeg``: registers the media processor ``video``.

Finding ffmpeg happens in the factory, so ``nanobot check`` reports a missing
binary; the factory starts nothing.
"""

from __future__ import annotations

from typing import Any

from nanobot_core import hookimpl
from nanobot_core.registry import Register

from .config import VideoConfig
from .ffmpeg import find_ffmpeg
from .processor import VideoProcessor


def make_processor(config: VideoConfig, host: Any) -> VideoProcessor:
    return VideoProcessor(config, find_ffmpeg(config.ffmpeg))


@hookimpl
def register_media_processors(register: Register) -> None:
    register("video", make_processor, config=VideoConfig)
