"""How many interpreter threads `bcn detect` gives a source when --threads is not given."""

import os

from bcn.runtime.detector import detect_threads
from bcn.runtime.sources import is_live

CORES = len(os.sched_getaffinity(0))


def test_live_sources_get_every_usable_core():
    for source in ("0", " 2 ", "picam", "picam:640x480", "rtsp://camera.local/stream", "http://127.0.0.1:8080/x.mjpg"):
        assert is_live(source), source
        assert detect_threads(source) == CORES, source


def test_files_and_folders_keep_the_runtime_default(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    for source in (str(video), str(tmp_path), "street.jpg"):
        assert not is_live(source), source
        assert detect_threads(source) is None, source


def test_a_gstreamer_pipeline_is_live_unless_a_file_has_its_name(tmp_path, monkeypatch):
    pipeline = "videotestsrc ! videoconvert ! appsink"
    assert is_live(pipeline) and detect_threads(pipeline) == CORES
    monkeypatch.chdir(tmp_path)
    (tmp_path / pipeline).write_bytes(b"")
    assert not is_live(pipeline)


def test_threads_given_always_win():
    assert detect_threads("0", 1) == 1
    assert detect_threads("clip.mp4", 3) == 3
