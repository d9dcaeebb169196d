"""Video: scan frames at an interval, anonymize every frame with covers that do not flicker."""

from discreet.video.anonymize import AnonymizedVideo, anonymize_video
from discreet.video.container import (
    VIDEO_ERROR_CODES,
    VideoError,
    VideoInfo,
    VideoLimits,
    is_video,
    open_video,
)
from discreet.video.scan import FrameScan, VideoScan, scan_video

__all__ = [
    "VIDEO_ERROR_CODES", "AnonymizedVideo", "FrameScan", "VideoError", "VideoInfo", "VideoLimits", "VideoScan",
    "anonymize_video", "is_video", "open_video", "scan_video",
]
