"""Where frames come from: an image, a folder of images, a video file, a camera or a live stream.

`open_source(text)` decides from the text alone and fails with one line when it cannot
open it. Files are read frame by frame, every frame processed; cameras and streams are
live: a capture thread keeps only the newest frame (see bcn.runtime.capture).
"""

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bcn.defaults import RETRIES, STALL_TIMEOUT_S
from bcn.errors import BcnError
from bcn.images import IMAGE_SUFFIXES, image_files, read_image
from bcn.runtime.cameras import PICAM, CameraMode, apply_mode, is_picam, picam_size, picamera_opener

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {
    ".mp4",
    ".avi",
    ".mkv",
    ".mov",
    ".m4v",
    ".webm",
    ".mpg",
    ".mpeg",
    ".ts",
    ".mjpeg",
    ".mjpg",
    ".wmv",
    ".flv",
}
STREAM_SCHEMES = {"rtsp", "rtsps", "rtmp", "rtp", "srt", "udp", "tcp", "http", "https"}


def quiet_opencv() -> None:
    """Keep OpenCV's and FFmpeg's log lines off stderr unless the user asked for them."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


@dataclass
class Frame:
    """One image to detect on."""

    index: int  # 0-based position in the source
    image_id: str  # image file stem, or the frame index for videos and streams
    image: np.ndarray  # H x W x 3 uint8 BGR
    time: float  # UNIX time when the frame was read or captured
    captured_at: float  # time.monotonic() at the same moment, for latency
    pts: float | None = None  # seconds into a video file


class ImageSource:
    """Image files, in the given order; an unreadable file in a folder is skipped with a warning.

    An image's id is its file's stem, or its whole name where two files share a stem (a.jpg, a.png).
    """

    kind = "images"
    live = False
    fps = None
    dropped = reconnects = 0

    def __init__(self, paths: list[Path], name: str, skip_unreadable: bool):
        self.captured = 0
        self.paths = paths
        self.name = name
        self.skip_unreadable = skip_unreadable
        stems = [path.stem for path in paths]
        self.ids = [path.stem if stems.count(path.stem) == 1 else path.name for path in paths]

    def __iter__(self):
        for index, path in enumerate(self.paths):
            try:
                image = read_image(path)
            except BcnError as error:
                if not self.skip_unreadable:
                    raise
                log.warning(f"warning: {error.message}, skipped")
                continue
            self.captured += 1
            yield Frame(index, self.ids[index], image, time.time(), time.monotonic())

    def close(self) -> None:
        pass


class VideoFileSource:
    """A video file, every frame in order."""

    kind = "video"
    live = False
    dropped = reconnects = 0

    def __init__(self, path: Path):
        import cv2

        self.captured = 0
        self.name = path.stem
        self.path = path
        self.capture = cv2.VideoCapture(str(path))
        if not self.capture.isOpened():
            raise BcnError(f"{path}: OpenCV cannot decode this video")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else None

    def __iter__(self):
        import cv2

        index = 0
        while True:
            ok, image = self.capture.read()
            if not ok:
                self._warn_if_cut_short()
                return
            pts = self.capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
            self.captured += 1
            yield Frame(index, str(index), image, time.time(), time.monotonic(), pts)
            index += 1

    def _warn_if_cut_short(self) -> None:
        """One warning when decoding stopped before the frame count the file declares (corrupt data)."""
        import cv2

        declared = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if declared > self.captured:
            log.warning(
                f"warning: {self.path}: decoded {self.captured} of the {declared} frames it declares; "
                "the rest could not be decoded (a damaged or truncated file)"
            )

    def close(self) -> None:
        self.capture.release()


class LiveSource:
    """A camera or stream, read by a capture thread that keeps only the newest frame."""

    kind = "live"
    live = True

    def __init__(
        self,
        target: int | str,
        name: str,
        unavailable: str,
        reconnect: bool,
        retries: int,
        stall_timeout: float,
        mode=None,
        opener=None,
    ):
        from bcn.runtime.capture import LatestFrameCapture

        opener = opener or (lambda: _open_live(target, stall_timeout, mode))
        capture = opener()
        if capture is None:
            raise BcnError(unavailable)
        self.name = name
        label = f"camera {target}" if isinstance(target, int) else target
        self.capture = LatestFrameCapture(
            capture, opener, label, reconnect=reconnect, retries=retries, read_timeout_s=stall_timeout
        )
        self.fps = self.capture.fps

    def read(self, timeout: float) -> Frame | None:
        """The newest frame not yet taken, or None if none arrived within `timeout` seconds."""
        captured = self.capture.read(timeout)
        if captured is None:
            return None
        index = self.capture.processed - 1
        return Frame(index, str(index), captured.image, captured.time, captured.captured_at)

    @property
    def ended(self) -> bool:
        """True once the stream is gone for good (see `error`) and its last frame was taken."""
        return self.capture.ended

    @property
    def error(self) -> str | None:
        return self.capture.error

    @property
    def captured(self) -> int:
        return self.capture.captured

    @property
    def dropped(self) -> int:
        return self.capture.dropped

    @property
    def reconnects(self) -> int:
        return self.capture.reconnects

    def close(self) -> None:
        self.capture.close()


def _open_live(target: int | str, stall_timeout: float, mode=None):
    """An opened cv2.VideoCapture for a camera index (in `mode`, a CameraMode), URL or GStreamer pipeline, or None.

    FFmpeg streams give up opening or reading after `stall_timeout` seconds without data.
    OpenCV's own log lines are silenced meanwhile: a failure is reported by the caller.
    """
    import cv2

    log_level = cv2.setLogLevel(0)  # silent
    try:
        if isinstance(target, int):
            capture = cv2.VideoCapture(target)
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # where the driver allows, no queue of stale frames
            apply_mode(capture, mode)
        elif _is_gstreamer(target):
            capture = cv2.VideoCapture(target, cv2.CAP_GSTREAMER)
        else:
            timeout_ms = round(stall_timeout * 1000)
            capture = cv2.VideoCapture(
                target,
                cv2.CAP_FFMPEG,
                [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms],
            )
    finally:
        cv2.setLogLevel(log_level)
    if capture.isOpened():
        return capture
    capture.release()
    return None


def _is_gstreamer(text: str) -> bool:
    return "!" in text and "://" not in text.split("!")[0]


def _has_backend(backend: int) -> bool:
    import cv2

    return cv2.videoio_registry.hasBackend(backend)


def is_live(text: str) -> bool:
    """Whether SRC names a live source, as open_source reads it: a camera index, the Pi camera, a stream URL or a
    GStreamer pipeline (not an existing file of that name)."""
    text = text.strip()
    return text.isdigit() or is_picam(text) or "://" in text or (_is_gstreamer(text) and not Path(text).exists())


def open_source(
    text: str,
    reconnect: bool = True,
    retries: int = RETRIES,
    stall_timeout: float = STALL_TIMEOUT_S,
    camera: CameraMode | None = None,
):
    """Open SRC: an image, a folder of images, a video file, a camera index, the Pi camera (picam[:WxH]),
    a stream URL or a GStreamer pipeline.

    Live sources (camera, stream, pipeline) start capturing at once; reconnects go to the bcn log.
    `camera` asks a camera for a capture size and rate. A number is a camera index: write a
    folder or file named like one as ./0.
    """
    import cv2

    live = dict(reconnect=reconnect, retries=retries, stall_timeout=stall_timeout)
    text = text.strip()
    if not text:
        raise BcnError(
            "--source is empty: give an image, a folder of images, a video file, a camera index or a stream URL"
        )
    if camera and not (text.isdigit() or is_picam(text)):
        raise BcnError(f"{text}: --width, --height and --fps are for cameras (an index, or picam)")
    if text.isdigit():
        return LiveSource(
            int(text),
            f"camera{text}",
            f"camera {text}: cannot be opened (no such device, or it is busy)",
            mode=camera,
            **live,
        )
    if is_picam(text):
        opener = picamera_opener(picam_size(text, camera), camera.fps if camera else None)
        return LiveSource(
            PICAM,
            PICAM,
            f"{PICAM}: Picamera2 cannot open the camera (none connected, or it is busy: "
            "`rpicam-hello --list-cameras` lists them)",
            opener=opener,
            **live,
        )
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme not in STREAM_SCHEMES:
            raise BcnError(
                f"{text}: unsupported stream scheme '{scheme}' (use one of {', '.join(sorted(STREAM_SCHEMES))})"
            )
        if not _has_backend(cv2.CAP_FFMPEG):
            raise BcnError(f"{text}: this OpenCV build has no FFmpeg backend to open streams")
        return LiveSource(
            text, "stream", f"{text}: cannot open the stream (unreachable, or not a format FFmpeg reads)", **live
        )
    if _is_gstreamer(text) and not Path(text).exists():
        if not _has_backend(cv2.CAP_GSTREAMER):
            raise BcnError(
                "GStreamer pipeline given, but this OpenCV build has no GStreamer backend "
                "(use an OpenCV built with GStreamer, e.g. Debian's python3-opencv)"
            )
        return LiveSource(
            text, "stream", f"{text}: GStreamer cannot open this pipeline (it must end in appsink)", **live
        )
    path = Path(text)
    if path.is_dir():
        images = image_files(path)
        if not images:
            raise BcnError(f"{path}: folder has no images ({', '.join(IMAGE_SUFFIXES)})")
        return ImageSource(images, path.name, skip_unreadable=True)
    if not path.exists():
        raise BcnError(f"{path}: no such file or folder (nor a camera index or stream URL)")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return ImageSource([path], path.stem, skip_unreadable=False)
    if suffix in VIDEO_SUFFIXES:
        return VideoFileSource(path)
    raise BcnError(
        f"{path}: unsupported source type '{suffix or 'no suffix'}' "
        "(an image, a folder of images, a video file, a camera index or a stream URL)"
    )
