"""`bcn detect --serve`: the annotated stream as MJPEG over HTTP, read by real HTTP clients on loopback.

The detector runs as a subprocess on a live MJPEG stream served by the test (as in
test_detect_stream.py); the live view is read by several clients at once, by one that
leaves and comes back, and by a headless Chromium; Ctrl-C still finalizes the outputs.
"""

import http.client
import json
import re
import shutil
import signal
import socket
import subprocess
import threading
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest
from bcn_command import bcn_cli, detect_args
from runtime_models import untrained_model
from test_detect_stream import MjpegServer

from bcn.runtime.serve import DEFAULT_HOST, parse_address

SPEC = "qn(64) qn([1x16, 1x16, 1x32, 1x32]) tp(2)([16, 16, 16]) h(8)"
LIVE_VIEW = re.compile(r"live view: (http://\S+/) ")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return untrained_model(tmp_path_factory.mktemp("model"), SPEC, 64)


@pytest.fixture
def camera():
    server = MjpegServer(30)
    yield server
    if not server.stopped.is_set():
        server.kill()


class Detect:
    """`bcn detect ... --serve 0` in a subprocess; `url` is the live view's address it printed."""

    def __init__(self, model, source, out, *options):
        command = bcn_cli("detect", *detect_args(model, source, out), "--serve", "0", *options)
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.started = threading.Event()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        assert self.started.wait(60), "".join(self.lines)
        self.url = LIVE_VIEW.search("".join(self.lines)).group(1)

    def _read_stderr(self):
        for line in self.process.stderr:
            self.lines.append(line)
            if LIVE_VIEW.search(line):
                self.started.set()
        self.started.set()

    def stop(self, signum=signal.SIGINT) -> str:
        self.process.send_signal(signum)
        self.process.wait(timeout=30)
        self._reader.join(30)  # every line the process wrote has been read
        return "".join(self.lines)


def get(url, path):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.getheader("Content-Type"), response.read()


def stream_frames(url, count=None, received=None):
    """Open /stream.mjpg and decode `count` JPEG parts (None: until the server ends the stream); `received`
    (a threading.Event) is set at the first."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", "/stream.mjpg")
    response = connection.getresponse()
    assert response.status == 200
    boundary = response.getheader("Content-Type").split("boundary=")[1].encode()
    images = []
    try:
        while count is None or len(images) < count:
            line = response.fp.readline()
            if not line:
                break  # the server closed the stream
            if not line.strip():
                continue
            assert line.strip() == b"--" + boundary, line
            headers = {}
            while line := response.fp.readline().strip():
                key, value = line.decode().split(":", 1)
                headers[key.lower()] = value.strip()
            assert headers["content-type"] == "image/jpeg"
            jpeg = response.fp.read(int(headers["content-length"]))
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert image is not None, "a part that is not a JPEG"
            images.append(image)
            if received is not None:
                received.set()
    finally:
        connection.close()
    return images


def test_parse_address_binds_loopback_unless_told():
    assert parse_address("8080") == (DEFAULT_HOST, 8080) == ("127.0.0.1", 8080)
    assert parse_address("0.0.0.0:8000") == ("0.0.0.0", 8000)
    assert parse_address("[::1]:9000") == ("::1", 9000)


def test_readers_at_once_leave_and_return_and_sigint_finalizes(model, camera, tmp_path):
    out = tmp_path / "out"
    detect = Detect(model, camera.url, out)
    assert urlsplit(detect.url).hostname == "127.0.0.1"
    status, kind, page = get(detect.url, "/")
    assert status == 200 and kind.startswith("text/html") and b'src="/stream.mjpg"' in page
    for path in ("/nothing", "/../etc/passwd", "/stream.mjpg.bak", "/favicon.ico"):
        assert get(detect.url, path)[0] == 404, path

    results, errors = {}, []

    def read(reader):
        try:
            results[reader] = stream_frames(detect.url, 5)
        except Exception as error:  # reported below, with the reader's number
            errors.append(f"reader {reader}: {error!r}")

    readers = [threading.Thread(target=read, args=(reader,)) for reader in range(4)]
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join(60)
    assert not errors, errors
    assert all(len(images) == 5 and images[0].shape == (120, 160, 3) for images in results.values())

    # A browser that goes away (the connection dropped mid-stream) and comes back.
    for _ in range(3):
        assert len(stream_frames(detect.url, 1)) == 1
    watching, watched = [], threading.Event()  # a viewer still connected when Ctrl-C comes
    viewer = threading.Thread(target=lambda: watching.append(len(stream_frames(detect.url, received=watched))))
    viewer.start()
    status, _, body = get(detect.url, "/stats.json")
    stats = json.loads(body)
    assert status == 200 and stats["processed"] > 0 and stats["fps"] > 0 and stats["captured"] >= stats["processed"]
    assert {"latency_ms", "dropped", "viewers"} <= stats.keys()

    assert watched.wait(60), "the viewer got no frame"
    stderr = detect.stop(signal.SIGINT)
    assert detect.process.returncode == 0, stderr
    assert "Traceback" not in stderr
    viewer.join(10)
    assert watching and watching[0] > 0  # it got frames, then its stream ended with the run
    assert (out / "stream.mkv").is_file() and (out / "detections.jsonl").is_file()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
    with pytest.raises(OSError):  # the port is closed with the run
        socket.create_connection((urlsplit(detect.url).hostname, urlsplit(detect.url).port), timeout=2)


def test_a_taken_port_or_a_bad_address_is_one_line(model, camera, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            bcn_cli("detect", model, "--source", camera.url, "--serve", port, "--out", tmp_path / "out"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"Error: --serve 127.0.0.1:{port}: cannot listen there")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # no output file was begun, and the failed run removed the empty --out
    result = subprocess.run(
        bcn_cli("detect", model, "--source", camera.url, "--serve", "localhost:http"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--serve localhost:http: PORT must be a number" in result.stderr
    for ambiguous in ("0:8080", ":8080"):  # `0:8080` once bound every interface
        result = subprocess.run(
            bcn_cli("detect", model, "--source", camera.url, "--serve", ambiguous),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith(f"Error: --serve {ambiguous}: "), result.stderr


@pytest.mark.slow
def test_a_headless_browser_shows_a_frame(model, camera, tmp_path):
    """The page in Debian's Chromium, headless: its screenshot shows the streamed picture."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed (apt install chromium; .ci/run installs it)")
    out = tmp_path / "out"
    detect = Detect(model, camera.url, out, "--score", "1")  # no boxes drawn over the picture
    shot = tmp_path / "page.png"
    try:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--window-size=400,300",
                "--timeout=5000",
                f"--screenshot={shot}",
                detect.url,
            ],
            capture_output=True,
            timeout=120,
        )
    finally:
        stderr = detect.stop()
    assert detect.process.returncode == 0, stderr
    image = cv2.imread(str(shot))
    assert image is not None, "no screenshot"
    assert image.std() > 10, "the screenshot is uniform: no picture"
    # The stream's moving rectangle is orange (BGR 0, 200, 255) on grey; the page itself has no orange.
    orange = (np.abs(image.astype(int) - (0, 200, 255)).sum(axis=2) < 90).sum()
    assert orange > 200, f"{orange} orange pixels: the frame is not in the screenshot"
