"""Live runs that hold on any machine: a loopback MJPEG stream, a gate that paces the detector, waits on events.

No test of a live run may depend on the machine's speed. The server paces the stream, the
test paces the detector through a gate that lets one frame through per byte it writes, and
every wait is for a count or a message (frames sent, frames written, a line on stderr) with
a deadline generous enough for a loaded machine, never a sleep that hopes enough happened.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

DEADLINE_S = 120.0  # for anything a loaded machine may be slow at: starting a run, a reconnect, an exit
POLL_S = 0.05

# `bcn detect` whose detector takes one byte from the gate (a pipe, its fd first on the command line) before
# each frame: the real detector, held back by the test. Once the test closes its end, every frame passes.
GATED_DETECT = """
import os, sys
from bcn.runtime.detector import Detector

gate = os.fdopen(int(sys.argv[1]), "rb", buffering=0)
detect = Detector.detect

def gated_detect(self, *args, **kwargs):
    gate.read(1)
    return detect(self, *args, **kwargs)

Detector.detect = gated_detect
from bcn.cli import main
main(sys.argv[2:])
"""


class MjpegServer:
    """Serves the same looping JPEG frames to every client at `fps` on 127.0.0.1.

    `sent` counts the frames sent to all clients and `connected_at` holds when each client
    connected (time.monotonic()); `wait_sent` waits for a count of frames. Frames are 160x120
    times `scale` (4: a camera's 640x480).
    """

    def __init__(self, fps: float, port: int = 0, frames: int = 40, scale: int = 1):
        self.fps = fps
        self.clients = 0
        self.sent = 0
        self.connected_at: list[float] = []
        self.stopped = threading.Event()
        self.paused = threading.Event()
        self.jpegs = [cv2.imencode(".jpg", self._picture(i, scale))[1].tobytes() for i in range(frames)]
        self._progress = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.connected_at.append(time.monotonic())
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                server.clients += 1
                server._send_frames(self.wfile)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/stream.mjpg"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @staticmethod
    def _picture(index: int, scale: int) -> np.ndarray:
        image = np.full((120 * scale, 160 * scale, 3), 50, dtype=np.uint8)
        x = (5 + (index * 3) % 110) * scale
        cv2.rectangle(image, (x, 30 * scale), (x + 40 * scale, 90 * scale), (0, 200, 255), -1)
        return image

    def _send_frames(self, wfile) -> None:
        start, count = time.monotonic(), 0
        try:
            while not self.stopped.is_set():
                if self.paused.is_set():  # a stall: the connection stays open, nothing arrives
                    time.sleep(0.05)
                    start, count = time.monotonic(), 0
                    continue
                jpeg = self.jpegs[count % len(self.jpegs)]
                part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (len(jpeg), jpeg)
                wfile.write(part)
                count += 1
                with self._progress:
                    self.sent += 1
                    self._progress.notify_all()
                time.sleep(max(0.0, start + count / self.fps - time.monotonic()))
        except (BrokenPipeError, ConnectionResetError):
            pass

    def wait_sent(self, count: int, timeout: float) -> bool:
        """Whether `count` frames in all have been sent within `timeout` seconds."""
        with self._progress:
            return self._progress.wait_for(lambda: self.sent >= count, timeout)

    def kill(self) -> None:
        """Drop every client and stop listening (new connections are refused)."""
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class DetectRun:
    """`bcn detect MODEL ARGS...` in a subprocess, as on a device; its stderr is collected line by line as it comes.

    With `gated`, the detector waits for `release()` before each frame (see GATED_DETECT), so
    the test decides how much slower than the stream it is, whatever the machine's speed.
    """

    def __init__(self, model, *args, gated: bool = False):
        args = ["detect", str(model), *map(str, args)]
        self._gate = None
        if gated:
            read_end, self._gate = os.pipe()
            command = [sys.executable, "-c", GATED_DETECT, str(read_end), *args]
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, pass_fds=(read_end,)
            )
            os.close(read_end)
        else:
            command = [sys.executable, "-m", "bcn", *args]
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._printed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read_stderr, daemon=True),
            threading.Thread(target=self.process.stdout.read, daemon=True),
        ]  # a full pipe never blocks it
        for reader in self._readers:
            reader.start()

    @property
    def stderr(self) -> str:
        with self._printed:
            return "".join(self.lines)

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            with self._printed:
                self.lines.append(line)
                self._printed.notify_all()

    def wait_for(self, text: str, timeout: float = DEADLINE_S) -> None:
        """Wait until a line on stderr holds `text`; fail if the run ends first or the deadline passes."""
        deadline = time.monotonic() + timeout
        with self._printed:
            while not any(text in line for line in self.lines):
                if self.process.poll() is not None:
                    self._printed.wait(1.0)  # the last lines may still be on their way
                    if any(text in line for line in self.lines):
                        return
                    pytest.fail(f"the run ended before printing {text!r}:\n{''.join(self.lines)}")
                if time.monotonic() > deadline:
                    pytest.fail(f"no {text!r} within {timeout:g} s:\n{''.join(self.lines)}")
                self._printed.wait(0.1)

    def wait_until(self, condition, what: str, timeout: float = DEADLINE_S):
        """Poll `condition()` until it is true (returned), failing if the run ends first or the deadline passes."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if self.process.poll() is not None:
                pytest.fail(f"the run ended before {what}:\n{self.finish()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {timeout:g} s:\n{self.stderr}")
            time.sleep(POLL_S)

    def release(self, frames: int = 1) -> bool:
        """Let `frames` more frames through the gate; False once the run has ended (the gate has no reader)."""
        try:
            os.write(self._gate, b"x" * frames)
            return True
        except BrokenPipeError:
            return False

    def open_gate(self) -> None:
        """Let every frame through from now on."""
        if self._gate is not None:
            os.close(self._gate)
            self._gate = None

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def finish(self, timeout: float = DEADLINE_S) -> str:
        """Wait for the run to exit (the gate opened first), then its whole stderr, checked for tracebacks."""
        self.open_gate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"the run did not end within {timeout:g} s:\n{self.stderr}")
        for reader in self._readers:
            reader.join(timeout=timeout)
        stderr = self.stderr
        assert "Traceback" not in stderr, stderr
        return stderr

    def kill(self) -> None:
        """End the run if it is still going (a test that failed half-way); nothing else is left running."""
        self.open_gate()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=DEADLINE_S)


def json_lines_so_far(path) -> list[dict]:
    """The whole JSON lines of a file that may still be being written (none if it is not there yet)."""
    try:
        lines = path.read_text().split("\n")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines[:-1]]  # the last one may be cut mid-line


def frames_written(path) -> int:
    """How many frames have detections in the JSON lines at `path` so far."""
    return len({record["frame"] for record in json_lines_so_far(path)})


def playable_frames(path) -> tuple[int, float]:
    """(frames decoded, the video's frame rate)."""
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"{path} is not playable"
    count = 0
    while capture.read()[0]:
        count += 1
    return count, capture.get(cv2.CAP_PROP_FPS)
