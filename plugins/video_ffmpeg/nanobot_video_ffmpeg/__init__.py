"""nanobot-video-ffmpeg: turns a video into frames and a transcript for the model."""

from .config import VideoConfig
from .processor import VideoProcessor

__all__ = ["VideoConfig", "VideoProcessor"]
