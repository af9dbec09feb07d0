"""Cameras as live sources: capture size and rate for a V4L2 camera, and the Raspberry Pi camera through Picamera2.

On Raspberry Pi OS Bookworm the camera module is a libcamera device that OpenCV's
V4L2 backend does not see; `picam` reads it through Picamera2 (Raspberry Pi OS's
python3-picamera2) instead. Both feed the same capture thread as every live source
(bcn.runtime.capture): the newest frame is processed, older ones counted as dropped.
"""

import re
from dataclasses import dataclass

from bcn.errors import BcnError

PICAM = "picam"
PICAM_SIZE = (640, 480)
PICAM_HELP = (
    "the Raspberry Pi camera needs Picamera2, which this Python cannot import: on Raspberry Pi OS "
    "`sudo apt install python3-picamera2`, and make it visible in a virtual environment by creating it "
    "with `python3 -m venv --system-site-packages`"
)


@dataclass
class CameraMode:
    """Requested capture size and frame rate; None leaves the camera's default."""

    width: int | None = None
    height: int | None = None
    fps: float | None = None

    def __bool__(self) -> bool:
        return any(value is not None for value in (self.width, self.height, self.fps))


def apply_mode(capture, mode: CameraMode | None) -> None:
    """Ask an opened cv2.VideoCapture (a V4L2 camera) for the mode; the driver picks the nearest it has."""
    import cv2

    if not mode:
        return
    for prop, value in (
        (cv2.CAP_PROP_FRAME_WIDTH, mode.width),
        (cv2.CAP_PROP_FRAME_HEIGHT, mode.height),
        (cv2.CAP_PROP_FPS, mode.fps),
    ):
        if value is not None:
            capture.set(prop, value)


def is_picam(text: str) -> bool:
    """True for `picam` and `picam:WIDTHxHEIGHT`."""
    return text == PICAM or text.startswith(PICAM + ":")


def picam_size(text: str, mode: CameraMode | None) -> tuple[int, int]:
    """The capture size of `picam[:WIDTHxHEIGHT]`, else --width/--height, else 640x480."""
    if text != PICAM:
        match = re.fullmatch(r"picam:(\d+)x(\d+)", text)
        if not match or 0 in (int(match[1]), int(match[2])):
            raise BcnError(f"{text}: expected picam or picam:WIDTHxHEIGHT (e.g. picam:1280x720)")
        return int(match[1]), int(match[2])
    mode = mode or CameraMode()
    return mode.width or PICAM_SIZE[0], mode.height or PICAM_SIZE[1]


class PicameraCapture:
    """A started Picamera2 with the part of cv2.VideoCapture's interface the capture thread uses."""

    def __init__(self, size: tuple[int, int], fps: float | None):
        from picamera2 import Picamera2

        self.fps = fps
        self.camera = Picamera2()
        try:
            # RGB888 is B, G, R in memory: OpenCV's order. queue=False: each capture is a fresh frame.
            controls = {"FrameRate": float(fps)} if fps else {}
            self.camera.configure(
                self.camera.create_video_configuration(
                    main={"size": tuple(size), "format": "RGB888"}, controls=controls, queue=False
                )
            )
            self.camera.start()
        except Exception:
            self.camera.close()
            raise

    def read(self):
        """(True, H x W x 3 BGR frame), or (False, None) when the camera fails."""
        try:
            return True, self.camera.capture_array("main")
        except Exception:  # libcamera reports a lost camera in many ways
            return False, None

    def get(self, prop) -> float:
        import cv2

        return float(self.fps or 0) if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        try:
            self.camera.stop()
        finally:
            self.camera.close()


def picamera_opener(size: tuple[int, int], fps: float | None):
    """A function that opens the Pi camera (a PicameraCapture, or None if it cannot); fails now,
    in one line naming the fix, where Picamera2 cannot be imported."""
    try:
        import picamera2  # noqa: F401
    except ImportError:
        raise BcnError(f"{PICAM}: {PICAM_HELP}") from None

    def open_camera():
        try:
            return PicameraCapture(size, fps)
        except Exception:  # no camera, or it is busy: said by the caller
            return None

    return open_camera
