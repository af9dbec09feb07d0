"""Live capture as a real-time system: a thread reads the stream and keeps only the newest frame.

Inference always runs on the latest frame, so a detector slower than the camera drops
frames instead of queueing them, and latency stays bounded. A stream that stalls or drops
is reopened with exponential back-off when `reconnect` is set; it counts as reconnected
only once frames flow again, so one that opens but never delivers ends after `retries`.
"""

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from bcn.defaults import RETRIES, STALL_TIMEOUT_S

log = logging.getLogger(__name__)

FIRST_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0


@dataclass
class Captured:
    """A frame as it came off the stream."""

    image: np.ndarray  # H x W x 3 uint8 BGR
    time: float  # UNIX time of capture
    captured_at: float  # time.monotonic() of capture


class LatestFrameCapture:
    """Read `capture` (an opened cv2.VideoCapture) in a thread; `read()` returns the newest frame.

    Counters: `captured` frames read from the stream, `processed` frames handed out by
    read(), `dropped` frames replaced by a newer one before anyone took them.
    `open_capture()` reopens the stream (an opened capture, or None) for reconnects.
    """

    def __init__(
        self,
        capture,
        open_capture,
        name: str,
        reconnect: bool = True,
        retries: int = RETRIES,
        read_timeout_s: float = STALL_TIMEOUT_S,
    ):
        import cv2

        self.name = name
        self.reconnect = reconnect
        self.retries = retries
        self.captured = self.processed = self.dropped = self.reconnects = 0
        self.error: str | None = None  # why the stream ended, once it has
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else None
        self._capture = capture
        self._open_capture = open_capture
        self._read_timeout_s = read_timeout_s
        self._latest: Captured | None = None
        self._ended = False
        self._closing = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"capture {name}", daemon=True)
        self._thread.start()

    @property
    def ended(self) -> bool:
        """True once the stream is gone for good and its last frame has been taken."""
        with self._changed:
            return self._ended and self._latest is None

    def read(self, timeout: float) -> Captured | None:
        """The newest frame not yet taken, waiting up to `timeout` seconds; None if there is none."""
        with self._changed:
            self._changed.wait_for(lambda: self._latest is not None or self._ended, timeout)
            frame, self._latest = self._latest, None
            if frame is not None:
                self.processed += 1
            return frame

    def close(self) -> None:
        """Stop the thread and release the stream; a frame nobody took counts as dropped."""
        self._closing.set()
        self._thread.join(timeout=self._read_timeout_s + 1)
        with self._changed:
            if self._latest is not None:
                self._latest = None
                self.dropped += 1

    def _run(self) -> None:
        capture = self._capture
        attempts = 0  # reconnect attempts since frames last flowed
        try:
            while not self._closing.is_set():
                ok, image = capture.read()
                if ok:
                    if attempts:  # a reopened stream counts as reconnected once it delivers again
                        attempts = 0
                        self.reconnects += 1
                        log.info(f"{self.name}: reconnected")
                    self._publish(image)
                    continue
                capture.release()
                capture = None
                if self._closing.is_set():
                    return
                if not self.reconnect:
                    self._end(f"{self.name}: the stream ended or stalled (reconnect is off)")
                    return
                capture, attempts = self._reopen(attempts)
                if capture is None:
                    if not self._closing.is_set():
                        self._end(f"{self.name}: the stream is gone; gave up after {self.retries} reconnect attempts")
                    return
        finally:
            if capture is not None:
                capture.release()
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def _publish(self, image) -> None:
        frame = Captured(image, time.time(), time.monotonic())
        with self._changed:
            if self._latest is not None:
                self.dropped += 1
            self._latest = frame
            self.captured += 1
            self._changed.notify_all()

    def _reopen(self, attempts: int):
        """Reopen the stream with exponential back-off -> (capture, attempts made so far), or None.

        `attempts` counts the tries since frames last flowed: a stream that opens but delivers
        nothing uses up the retries instead of starting them again.
        """
        while attempts < self.retries:
            delay = min(FIRST_RETRY_DELAY_S * 2**attempts, MAX_RETRY_DELAY_S)
            attempts += 1
            log.warning(f"{self.name}: lost, reconnecting in {delay:g} s (attempt {attempts}/{self.retries})")
            if self._closing.wait(delay):
                return None, attempts
            capture = self._open_capture()
            if capture is not None:
                return capture, attempts
        return None, attempts

    def _end(self, message: str) -> None:
        self.error = message
