"""`bcn detect` on a live MJPEG-over-HTTP stream served on loopback by the test itself.

The detector runs as a subprocess, as on a device: signals, reconnects and exit codes are
real. Nothing here depends on the machine's speed: the server paces the stream, a gate
paces the detector where a test needs it slower than the stream (so a real-time loop must
drop frames instead of queueing them), and every wait is for a count or a message.
"""

import functools
import json
import os
import re
import signal
import subprocess
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
from bcn_command import bcn_cli, detect_args
from live_stream import DEADLINE_S, DetectRun, MjpegServer, frames_written, json_lines_so_far, playable_frames
from runtime_models import untrained_model

SPEC = "qn(64) qn([1x32, 1x64, 1x64, 1x128]) tp(2)([32, 32, 32]) h(16)"
STREAM_FPS = 50
SUMMARY = re.compile(
    r"(\d+) frames?, ([\d.]+) FPS, latency p50 ([\d.]+) ms p90 ([\d.]+) ms .*"
    r"captured (\d+) / processed (\d+) / dropped (\d+)"
)
WROTE_VIDEO = re.compile(r"wrote \S+stream\.mkv \((\d+) frames at ([\d.]+) FPS\)")
SENT_PER_FRAME = 5  # a gated detector gets one frame through for this many the server sends


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """An untrained 64 px binary detector converted by `bcn convert` (with its metadata)."""
    return untrained_model(tmp_path_factory.mktemp("model"), SPEC, 64)


@pytest.fixture
def server():
    server = MjpegServer(STREAM_FPS)
    yield server
    if not server.stopped.is_set():
        server.kill()


@pytest.fixture
def launch(tmp_path):
    """Start `bcn detect` on a source, writing to tmp_path/out; whatever still runs at the end is killed."""
    runs = []

    def start(model, source, *options, gated=False):
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        runs.append(DetectRun(*detect_args(model, source, out), *options, gated=gated))
        return runs[-1], out

    yield start
    for run in runs:
        run.kill()


def _wait_for_video(run, out):
    """Wait until the first annotated frame is being written (the video exists)."""
    run.wait_until(lambda: (out / "stream.mkv").exists(), "a processed frame")


def _summary(stderr):
    match = SUMMARY.search(stderr)
    assert match, stderr
    frames, fps, p50, p90, captured, processed, dropped = (float(g) for g in match.groups())
    return dict(frames=frames, fps=fps, p50=p50, p90=p90, captured=captured, processed=processed, dropped=dropped)


def _frames_so_far(video):
    """Frames that play in a video still being written (0 while its header is not on disk yet)."""
    capture = cv2.VideoCapture(str(video))
    count = 0
    while capture.isOpened() and capture.read()[0]:
        count += 1
    return count


def _video_reported(stderr):
    """(frames, FPS) of the video, as the run reported it."""
    match = WROTE_VIDEO.search(stderr)
    assert match, stderr
    return int(match[1]), float(match[2])


def _assert_finalized(out, stderr):
    """Nothing hidden left, the video plays every frame the run says it wrote, the JSON names processed frames only."""
    assert not [name for name in os.listdir(out) if name.startswith(".")], os.listdir(out)
    written, _ = _video_reported(stderr)
    assert written >= 1 and playable_frames(out / "stream.mkv")[0] == written, stderr
    text = (out / "detections.jsonl").read_text()
    assert not text or text.endswith("\n")
    records = [json.loads(line) for line in text.splitlines()]
    assert {r["frame"] for r in records} <= set(range(int(_summary(stderr)["processed"])))


def _streaming(launch, model, server, *options):
    """`bcn detect` on the server's stream with `options`, once it has begun writing its video."""
    run, out = launch(model, server.url, *options)
    _wait_for_video(run, out)
    return run, out


@pytest.mark.slow
def test_a_slower_detector_drops_frames_and_sigint_finalizes_the_video(model, server, launch):
    run, out = launch(model, server.url, "--score", "0.0", gated=True)
    released = 6
    for frame in range(released):
        # The stream runs ahead of the detector: the frames sent meanwhile pile up on the newest one.
        due = server.sent + SENT_PER_FRAME
        run.wait_until(lambda due=due: server.sent >= due, f"{SENT_PER_FRAME} more frames streamed")
        run.release()
        run.wait_until(
            lambda done=frame + 1: frames_written(out / "detections.jsonl") >= done, f"frame {frame} processed"
        )
    run.signal(signal.SIGINT)
    stderr = run.finish()
    assert run.process.returncode == 0, stderr
    stats = _summary(stderr)
    # Stopped at once: the frame in hand when SIGINT came is finished, no other one is taken.
    assert released <= stats["processed"] <= released + 1, stderr
    # The newest frame is taken and older ones dropped, not queued; every frame captured is accounted for.
    assert stats["dropped"] > 0 and stats["processed"] < stats["captured"], stderr
    assert stats["captured"] == stats["processed"] + stats["dropped"]
    # Speed is the machine's business (the gate held the detector here); the figures are reported and consistent.
    assert stats["fps"] > 0 and 0 < stats["p50"] <= stats["p90"], stderr
    _assert_finalized(out, stderr)
    # At score 0 every frame has detections: the JSON holds each processed frame.
    assert frames_written(out / "detections.jsonl") == stats["processed"]


def test_reconnects_when_the_server_comes_back_and_stops_on_sigterm(model, server, launch):
    run, out = _streaming(launch, model, server, "--retries", "8")
    server.kill()
    run.wait_for("lost, reconnecting in 0.5 s (attempt 1/8)")  # noticed while the server is down
    revived = MjpegServer(STREAM_FPS, port=server.port)
    try:
        run.wait_for(f"{server.url}: reconnected")  # counted once frames flow again
        run.signal(signal.SIGTERM)
        stderr = run.finish()
    finally:
        revived.kill()
    assert run.process.returncode == 0, stderr
    assert revived.clients >= 1
    assert "reconnects 1" in stderr
    _assert_finalized(out, stderr)


def test_gives_up_cleanly_when_the_server_stays_down(model, server, launch):
    run, out = _streaming(launch, model, server, "--retries", "2")
    server.kill()
    stderr = run.finish()  # no hang: the run ends by itself
    assert run.process.returncode == 1, stderr
    # Back-off doubles from 0.5 s, and the run gives up after the last attempt instead of waiting on.
    assert "reconnecting in 0.5 s (attempt 1/2)" in stderr and "reconnecting in 1 s (attempt 2/2)" in stderr, stderr
    last_line = stderr.strip().splitlines()[-1]
    assert last_line == f"Error: {server.url}: the stream is gone; gave up after 2 reconnect attempts"
    _assert_finalized(out, stderr)


def test_a_stalled_stream_ends_the_run_without_reconnect(model, server, launch):
    run, out = _streaming(launch, model, server, "--no-reconnect", "--stall-timeout", "1")
    server.paused.set()
    stderr = run.finish()
    assert run.process.returncode == 1, stderr
    assert "the stream ended or stalled (reconnect is off)" in stderr
    assert "reconnecting" not in stderr
    _assert_finalized(out, stderr)


def test_duration_bounds_a_live_run_and_its_video_plays_at_capture_speed(model, server, launch):
    duration = 2.0
    run, out = launch(model, server.url, "--duration", duration, "--score", "0", gated=True)
    sent, deadline = 0, time.monotonic() + DEADLINE_S
    while run.process.poll() is None and time.monotonic() < deadline:  # a frame through per SENT_PER_FRAME sent
        if server.wait_sent(sent + SENT_PER_FRAME, 0.1):
            sent = server.sent
            run.release()
    ended = time.monotonic()
    stderr = run.finish()
    assert run.process.returncode == 0, stderr  # the stream goes on: the duration ended the run
    assert ended - server.connected_at[0] >= duration  # and not before its time
    stats = _summary(stderr)
    times = sorted(r["time"] for r in json_lines_so_far(out / "detections.jsonl"))
    span = times[-1] - times[0]  # capture time from the first processed frame to the last
    # No frame captured after the duration ran out (it may be taken within one poll of it, and time
    # stamps are rounded); the margin is for a loaded machine, it cannot hide a run that goes on.
    assert span <= duration + 1.0, span
    # The video plays at capture speed: a frame per 1/FPS of capture time, the detector's frames
    # repeated to fill the time between them (this detector is slower than the video's rate).
    frames, fps = _video_reported(stderr)
    assert abs(frames - (round(span * fps) + 1)) <= 1, (frames, fps, span)
    assert frames > stats["processed"], stderr
    _assert_finalized(out, stderr)


def test_a_killed_run_keeps_what_it_recorded(model, server, launch):
    run, out = _streaming(launch, model, server, "--score", "0")
    # Written as they come, so `tail -f` works, and the video plays while it is being recorded.
    records = run.wait_until(lambda: json_lines_so_far(out / "detections.jsonl"), "a detection written")
    playing = run.wait_until(lambda: _frames_so_far(out / "stream.mkv"), "a playable frame in the video")
    run.process.kill()  # SIGKILL: no chance to finalize anything
    run.process.wait(timeout=DEADLINE_S)
    assert not [name for name in os.listdir(out) if name.startswith(".")], os.listdir(out)
    assert len(json_lines_so_far(out / "detections.jsonl")) >= len(records)
    assert playable_frames(out / "stream.mkv")[0] >= playing  # plays up to the kill


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
    command = bcn_cli(
        "detect",
        model,
        "--source",
        unstreamable_mp4,
        "--retries",
        "2",
        "--stall-timeout",
        "2",
        "--json-out",
        tmp_path / "detections.jsonl",
    )
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = process.communicate(timeout=DEADLINE_S)
    finally:
        process.kill()
    assert "Traceback" not in stderr, stderr
    assert process.returncode == 1, stderr
    assert "attempt 2/2" in stderr and "attempt 1/2" in stderr and "reconnected" not in stderr, stderr
    assert stderr.count("reconnecting in") == 2, stderr
    assert (
        stderr.strip().splitlines()[-1]
        == f"Error: {unstreamable_mp4}: the stream is gone; gave up after 2 reconnect attempts"
    )
