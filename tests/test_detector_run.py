"""`Detector.run` from Python on a live loopback MJPEG stream: stopped as `bcn detect` is, outputs finalized.

The run is a short script in a subprocess, as a user's program would be, so SIGINT is a
real signal delivered to a real main thread. The tests wait for frames to be written, never
for time to pass, so they hold on a machine of any speed or load.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from live_stream import DEADLINE_S, POLL_S, MjpegServer, frames_written, playable_frames
from runtime_models import INPUT_SIZE, TINY, untrained_model

STREAM_FPS = 30
SIGINT_AFTER_FRAMES = 10

SCRIPT = """
import json, sys
from bcn.runtime.detector import Detector

model, source, out = sys.argv[1:]
result = Detector(model).run(source, out=out, json_out=out + "/detections.jsonl", score_threshold=0.0)
print(json.dumps({"frames": result.stats.frames, "wrote": result.wrote, "stopped": result.stopped,
                  "lost": result.lost}))
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return untrained_model(tmp_path_factory.mktemp("model"), TINY, INPUT_SIZE)


@pytest.fixture
def server():
    server = MjpegServer(STREAM_FPS)
    yield server
    server.kill()


def _wait_for_frames(out, count=1, process=None, worker=None, timeout=DEADLINE_S):
    """Wait until the video is begun and detections of `count` frames are written (at score 0 every frame has some),
    failing at once if the run's `process` or `worker` thread ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (out / "stream.mkv").exists() and frames_written(out / "detections.jsonl") >= count:
            return
        assert process is None or process.poll() is None, process.communicate()
        assert worker is None or worker.is_alive(), "the run ended before processing a frame"
        time.sleep(POLL_S)
    pytest.fail(f"{count} frames were not processed within {timeout:g} s")


def _reported(wrote, what):
    """The count in the line of `wrote` that names `what` ("N frames at ..." or "N detections to ...")."""
    [line] = [line for line in wrote if what in line]
    return int(re.search(r"(\d+) (?:frames|detections)", line)[1])


def test_sigint_stops_a_python_run_and_finalizes_the_video(model, server, tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(model), server.url, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out.mkdir()  # the run creates it too; made here so the wait can look inside at once
        _wait_for_frames(out, SIGINT_AFTER_FRAMES, process)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=DEADLINE_S)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    result = json.loads(stdout)
    assert result["stopped"] and result["lost"] is None, result
    assert result["frames"] >= SIGINT_AFTER_FRAMES, result  # what went through before the signal is kept
    assert not [name for name in os.listdir(out) if name.startswith(".")], os.listdir(out)
    assert playable_frames(out / "stream.mkv")[0] == _reported(result["wrote"], "stream.mkv")
    text = (out / "detections.jsonl").read_text()
    assert text.endswith("\n")
    records = [json.loads(line) for line in text.splitlines()]  # every line whole
    assert len(records) == _reported(result["wrote"], "detections.jsonl")
    # At score 0 every frame has a detection: the JSON holds each frame the result counts, no more.
    assert {r["frame"] for r in records} == set(range(result["frames"]))


def test_a_run_in_another_thread_ends_on_its_stop_event(model, server, tmp_path):
    from bcn.runtime.detector import Detector

    out, stop, results = tmp_path / "out", threading.Event(), []
    out.mkdir()
    before = signal.getsignal(signal.SIGINT)
    worker = threading.Thread(
        target=lambda: results.append(
            Detector(model).run(server.url, out=out, json_out=out / "detections.jsonl", score_threshold=0.0, stop=stop)
        )
    )
    worker.start()
    try:
        _wait_for_frames(out, worker=worker)
        assert signal.getsignal(signal.SIGINT) is before  # signals go to the main thread: its handlers are left alone
    finally:
        stop.set()
        worker.join(timeout=DEADLINE_S)
    [result] = results
    assert result.stopped and result.lost is None and result.stats.frames > 0
    assert playable_frames(out / "stream.mkv")[0] == _reported(result.wrote, "stream.mkv")
