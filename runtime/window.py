"""An OpenCV preview window that says clearly when there is no display to open it on."""

import os
import sys

from bcn.errors import BcnError

QUIT_KEYS = {ord("q"), ord("Q"), 27}  # q or Esc


def check_display() -> None:
    """Fail with one line if this OpenCV build or this session cannot show a window."""
    import cv2

    gui = [line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() == "NONE":
        raise BcnError(
            "--show needs OpenCV with GUI support, and this build is headless "
            "(pip install opencv-python instead of opencv-python-headless); use --out to save results"
        )
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise BcnError("--show needs a display, and DISPLAY is not set; use --out to save results instead")


class Window:
    """A window showing annotated frames; show() returns False once the user quits."""

    def __init__(self, title: str):
        import cv2

        check_display()
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as error:
            raise BcnError(f"--show: OpenCV cannot open a window ({error.err})") from None

    def show(self, image) -> bool:
        """Display `image`; False when q or Esc was pressed or the window was closed."""
        import cv2

        cv2.imshow(self.title, image)
        key = cv2.waitKey(1) & 0xFF
        return key not in QUIT_KEYS and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        import cv2

        cv2.destroyWindow(self.title)
        cv2.waitKey(1)
