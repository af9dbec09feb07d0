"""`bcn detect --source picam`: the Raspberry Pi camera through Picamera2, and camera options.

There is no Pi camera here. The error where Picamera2 is missing is checked for real. The
wiring (configuration asked of Picamera2, frames into the same capture thread as every
live source, drop counting, reconnect after a failed capture) is checked with a stand-in
`picamera2` module put on PYTHONPATH of the subprocess: it only imitates the few calls bcn
makes (configure, start, capture_array, stop, close), so it tests bcn's side, not
libcamera's. The real frame path is the same capture thread as for the other live sources.
"""

import importlib.util
import json
import os
import re
import subprocess

import cv2
import pytest
from bcn_command import bcn_cli
from runtime_models import untrained_model

SPEC = "qn(64) qn([1x16, 1x16, 1x32, 1x32]) tp(2)([16, 16, 16]) h(8)"
SUMMARY = re.compile(r"captured (\d+) / processed (\d+) / dropped (\d+)")

# A stand-in for Picamera2's API as bcn uses it: frames of a moving rectangle, BGR, 200 per second.
FAKE_PICAMERA2 = """
import json, os, time
import numpy as np

class Picamera2:
    opened = 0

    def __init__(self):
        Picamera2.opened += 1
        self.number = Picamera2.opened
        self.frames = 0

    def create_video_configuration(self, main, controls=None, queue=True):
        return {"main": main, "controls": controls or {}, "queue": queue}

    def configure(self, config):
        self.size = config["main"]["size"]
        with open(os.environ["FAKE_PICAMERA2_LOG"], "a") as log:
            log.write(json.dumps({"camera": self.number, **config}) + "\\n")

    def start(self):
        pass

    def capture_array(self, name="main"):
        time.sleep(0.005)
        self.frames += 1
        if self.number == 1 and self.frames > int(os.environ.get("FAKE_PICAMERA2_FAIL_AFTER", "1000000")):
            raise RuntimeError("camera frontend has timed out")
        width, height = self.size
        image = np.full((height, width, 3), 60, np.uint8)
        x = (self.frames * 4) % (width - 40)
        image[20:60, x:x + 40] = (0, 200, 255)
        return image

    def stop(self):
        pass

    def close(self):
        pass
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return untrained_model(tmp_path_factory.mktemp("model"), SPEC, 64)


def detect(model, *args, env=None):
    return subprocess.run(bcn_cli("detect", model, *args), capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def fake_picamera2(tmp_path):
    """Environment for a subprocess that imports the stand-in picamera2; its log of configurations."""
    (tmp_path / "fake" / "picamera2").mkdir(parents=True)
    (tmp_path / "fake" / "picamera2" / "__init__.py").write_text(FAKE_PICAMERA2)
    log = tmp_path / "picamera2.jsonl"
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(tmp_path / "fake"), os.environ.get("PYTHONPATH", "")]),
        FAKE_PICAMERA2_LOG=str(log),
    )
    return env, log


def test_without_picamera2_the_error_names_the_fix(model):
    if importlib.util.find_spec("picamera2") is not None:
        pytest.skip("picamera2 is installed here")
    result = detect(model, "--source", "picam")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]  # after LiteRT's own INFO line
    assert line.startswith("Error: picam: the Raspberry Pi camera needs Picamera2")
    assert "sudo apt install python3-picamera2" in line and "--system-site-packages" in line


@pytest.mark.parametrize(
    "args, message",
    [
        (["--source", "picam:640"], "picam:640: expected picam or picam:WIDTHxHEIGHT"),
        (["--source", "picam:0x480"], "picam:0x480: expected picam or picam:WIDTHxHEIGHT"),
    ],
)
def test_a_bad_picam_size_is_one_line(model, args, message, fake_picamera2):
    result = detect(model, *args, env=fake_picamera2[0])
    assert (
        result.returncode == 2 and result.stderr.strip().splitlines()[-1] == f"Error: {message} (e.g. picam:1280x720)"
    )


def test_camera_options_on_a_file_are_refused(model, tmp_path):
    image = tmp_path / "a.jpg"
    cv2.imwrite(str(image), cv2.UMat(64, 64, cv2.CV_8UC3).get())
    result = detect(model, "--source", str(image), "--width", "320")
    assert result.returncode == 2
    assert f"{image}: --width, --height and --fps are for cameras" in result.stderr


def test_picam_frames_flow_through_the_live_capture(model, tmp_path, fake_picamera2):
    """Wiring only (a stand-in picamera2): size and rate asked, newest frames taken, drops counted."""
    env, log = fake_picamera2
    out = tmp_path / "out"
    camera = ["--source", "picam:320x240", "--fps", 200, "--out", out, "--max-frames", 30]
    result = detect(model, *camera, "--threads", 1, "--json-out", tmp_path / "dets.jsonl", env=env)
    assert result.returncode == 0, result.stderr
    [config] = [json.loads(line) for line in log.read_text().splitlines()]
    assert config["main"] == {"size": [320, 240], "format": "RGB888"}
    assert config["controls"] == {"FrameRate": 200.0} and config["queue"] is False
    captured, processed, dropped = (int(v) for v in SUMMARY.search(result.stderr).groups())
    assert processed == 30 and captured == processed + dropped
    video = cv2.VideoCapture(str(out / "picam.mkv"))
    ok, frame = video.read()
    assert ok and frame.shape == (240, 320, 3)


def test_a_failing_picam_reconnects(model, tmp_path, fake_picamera2):
    """Wiring only (a stand-in picamera2): a capture that fails reopens the camera with back-off."""
    env, log = fake_picamera2
    env["FAKE_PICAMERA2_FAIL_AFTER"] = "20"
    camera = ["--source", "picam", "--max-frames", 40]
    result = detect(model, *camera, "--threads", 1, "--json-out", tmp_path / "dets.jsonl", env=env)
    assert result.returncode == 0, result.stderr
    assert "picam: lost, reconnecting in 0.5 s (attempt 1/5)" in result.stderr and "picam: reconnected" in result.stderr
    configs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c["camera"] for c in configs] == [1, 2] and configs[0]["main"]["size"] == [640, 480]
