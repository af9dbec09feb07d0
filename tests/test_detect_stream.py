"""`bcn detect` on a live MJPEG-over-HTTP stream served on loopback by the test itself.

The server sends multipart/x-mixed-replace JPEG frames at a fixed rate, faster than the
detector runs, so a real-time loop must drop frames instead of queueing them. The
detector runs as a subprocess, as on a device: signals, reconnects and exit codes are real.
"""

import functools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
from runtime_models import untrained_model

# 256 px keeps one detect at several milliseconds, slower than the stream's frame interval.
SPEC = "qn(256) qn([1x32, 1x64, 1x64, 1x128]) tp(2)([32, 32, 32]) h(16)"
STREAM_FPS = 200
SUMMARY = re.compile(r"(\d+) frames?, ([\d.]+) FPS, latency p50 ([\d.]+) ms p90 ([\d.]+) ms .*"
                     r"captured (\d+) / processed (\d+) / dropped (\d+)")


class MjpegServer:
    """Serves the same looping JPEG frames to every client at `fps` on 127.0.0.1."""

    def __init__(self, fps: float, port: int = 0, frames: int = 40):
        self.fps = fps
        self.clients = 0
        self.stopped = threading.Event()
        self.paused = threading.Event()
        self.jpegs = [cv2.imencode(".jpg", self._picture(i))[1].tobytes() for i in range(frames)]
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
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
    def _picture(index: int) -> np.ndarray:
        image = np.full((120, 160, 3), 50, dtype=np.uint8)
        x = 5 + (index * 3) % 110
        cv2.rectangle(image, (x, 30), (x + 40, 90), (0, 200, 255), -1)
        return image

    def _send_frames(self, wfile) -> None:
        start, sent = time.monotonic(), 0
        try:
            while not self.stopped.is_set():
                if self.paused.is_set():  # a stall: the connection stays open, nothing arrives
                    time.sleep(0.05)
                    start, sent = time.monotonic(), 0
                    continue
                jpeg = self.jpegs[sent % len(self.jpegs)]
                wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (len(jpeg), jpeg))
                sent += 1
                time.sleep(max(0.0, start + sent / self.fps - time.monotonic()))
        except (BrokenPipeError, ConnectionResetError):
            pass

    def kill(self) -> None:
        """Drop every client and stop listening (new connections are refused)."""
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """An untrained 256 px binary detector converted by `bcn convert` (with its metadata)."""
    return untrained_model(tmp_path_factory.mktemp("model"), SPEC, 256)


@pytest.fixture
def server():
    server = MjpegServer(STREAM_FPS)
    yield server
    if not server.stopped.is_set():
        server.kill()


def _start(model, url, out, *options):
    command = [sys.executable, "-m", "bcn", "detect", str(model), "--source", url, "--out", str(out),
               "--json-out", str(out / "detections.jsonl"), "--threads", "1", *options]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_video(process, out, timeout=60.0):
    """Wait until the first annotated frame is being written (the video exists)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (out / "stream.mkv").exists():
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    pytest.fail("no frame was processed")


def _finish(process, timeout=30.0):
    _, stderr = process.communicate(timeout=timeout)
    assert "Traceback" not in stderr, stderr
    return stderr


def _summary(stderr):
    match = SUMMARY.search(stderr)
    assert match, stderr
    frames, fps, p50, p90, captured, processed, dropped = (float(g) for g in match.groups())
    return dict(frames=frames, fps=fps, p50=p50, p90=p90, captured=captured, processed=processed, dropped=dropped)


def _playable_frames(path):
    """(frames decoded, the video's frame rate)."""
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"{path} is not playable"
    count = 0
    while capture.read()[0]:
        count += 1
    return count, capture.get(cv2.CAP_PROP_FPS)


def _assert_finalized(out, processed):
    assert not [name for name in os.listdir(out) if name.startswith(".")], os.listdir(out)
    assert _playable_frames(out / "stream.mkv")[0] >= 1
    records = [json.loads(line) for line in (out / "detections.jsonl").read_text().splitlines()]
    assert {r["frame"] for r in records} <= set(range(int(processed)))


def _streaming(model, server, tmp_path, *options):
    """`bcn detect` on the server's stream with `options`, once it has begun writing its video."""
    out = tmp_path / "out"
    out.mkdir()
    process = _start(model, server.url, out, *options)
    _wait_for_video(process, out)
    return process, out


def test_slow_detector_drops_frames_and_sigint_finalizes_the_video(model, server, tmp_path):
    process, out = _streaming(model, server, tmp_path, "--score", "0.0")
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    stderr = _finish(process)
    assert process.returncode == 0, stderr
    stats = _summary(stderr)
    assert stats["dropped"] > 0 and stats["processed"] < stats["captured"], stderr
    assert stats["captured"] == stats["processed"] + stats["dropped"]
    # Queueing 3 s of a stream this much faster than the detector would lag by seconds.
    assert stats["p90"] < 1000, stderr
    _assert_finalized(out, stats["processed"])


def test_reconnects_when_the_server_comes_back_and_stops_on_sigterm(model, server, tmp_path):
    process, out = _streaming(model, server, tmp_path, "--retries", "8")
    server.kill()
    time.sleep(1.0)
    revived = MjpegServer(STREAM_FPS, port=server.port)
    try:
        deadline = time.monotonic() + 20
        while not revived.clients and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        stderr = _finish(process)
    finally:
        revived.kill()
    assert process.returncode == 0, stderr
    assert "reconnecting in 0.5 s (attempt 1/8)" in stderr and "reconnected" in stderr, stderr
    assert "reconnects 1" in stderr
    _assert_finalized(out, _summary(stderr)["processed"])


def test_gives_up_cleanly_when_the_server_stays_down(model, server, tmp_path):
    process, out = _streaming(model, server, tmp_path, "--retries", "2")
    server.kill()
    started = time.monotonic()
    stderr = _finish(process)
    assert process.returncode == 1, stderr
    assert time.monotonic() - started < 15
    assert "attempt 1/2" in stderr and "attempt 2/2" in stderr, stderr
    assert stderr.strip().splitlines()[-1] == f"Error: {server.url}: the stream is gone; gave up after 2 reconnect attempts"
    _assert_finalized(out, _summary(stderr)["processed"])


def test_a_stalled_stream_ends_the_run_without_reconnect(model, server, tmp_path):
    process, out = _streaming(model, server, tmp_path, "--no-reconnect", "--stall-timeout", "1")
    server.paused.set()
    stderr = _finish(process)
    assert process.returncode == 1, stderr
    assert "the stream ended or stalled (reconnect is off)" in stderr
    _assert_finalized(out, _summary(stderr)["processed"])


def test_duration_bounds_a_live_run(model, server, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    started = time.monotonic()
    process = _start(model, server.url, out, "--duration", "2")
    stderr = _finish(process, timeout=60)
    assert process.returncode == 0, stderr
    assert time.monotonic() - started < 45
    stats = _summary(stderr)
    assert stats["frames"] > 0
    # The video plays at capture speed, about 2 s, whatever the detector's speed.
    frames, fps = _playable_frames(out / "stream.mkv")
    assert 1.0 <= frames / fps <= 3.0, (frames, fps)
    _assert_finalized(out, stats["processed"])


def test_a_killed_run_keeps_what_it_recorded(model, server, tmp_path):
    process, out = _streaming(model, server, tmp_path, "--score", "0")
    time.sleep(3)
    records = _json_lines_so_far(out / "detections.jsonl")  # written as they come, so `tail -f` works
    assert records, "no detection written while running"
    process.kill()  # SIGKILL: no chance to finalize anything
    process.communicate(timeout=30)
    assert not [name for name in os.listdir(out) if name.startswith(".")], os.listdir(out)
    assert len(_json_lines_so_far(out / "detections.jsonl")) >= len(records)
    assert _playable_frames(out / "stream.mkv")[0] >= 1  # plays up to the kill


def _json_lines_so_far(path):
    lines = path.read_text().split("\n")
    return [json.loads(line) for line in lines[:-1]]  # the last one may be cut mid-line


@pytest.fixture
def unstreamable_mp4(tmp_path):
    """An mp4 with its index at the end, served over HTTP without range requests: FFmpeg opens
    the stream but, unable to seek back from the index, never reads a frame from it."""
    folder = tmp_path / "www"
    folder.mkdir()
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(folder / "long.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (320, 240))
    for _ in range(300):  # noise compresses badly: a file of several MB
        writer.write(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    writer.release()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/long.mp4"
    httpd.shutdown()
    httpd.server_close()


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_a_stream_that_opens_but_never_delivers_uses_up_the_retries(model, unstreamable_mp4, tmp_path):
    command = [sys.executable, "-m", "bcn", "detect", str(model), "--source", unstreamable_mp4, "--retries", "2",
               "--stall-timeout", "2", "--json-out", str(tmp_path / "detections.jsonl")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stderr = _finish(process, timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, stderr
    assert "attempt 2/2" in stderr and "attempt 1/2" in stderr and "reconnected" not in stderr, stderr
    assert stderr.count("reconnecting in") == 2, stderr
    assert stderr.strip().splitlines()[-1] == \
        f"Error: {unstreamable_mp4}: the stream is gone; gave up after 2 reconnect attempts"
