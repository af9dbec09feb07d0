"""`bcn detect` on media the tests write with OpenCV: an image folder, a video file, and bad input."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from bcn_command import bcn_cli
from click.testing import CliRunner
from runtime_models import untrained_model

from bcn.cli import main

SPEC = "qn(64) qn([1x32, 1x64, 1x64, 1x128]) tp(2)([32, 32, 32]) h(16)"
IMAGE_SIZES = {"000005": (96, 128), "000017": (120, 80), "000042": (64, 64)}  # id -> (height, width)
VIDEO_FRAMES, VIDEO_FPS, VIDEO_SIZE = 15, 10, (128, 96)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """An untrained 64 px binary detector converted by `bcn convert` (with its metadata)."""
    return untrained_model(tmp_path_factory.mktemp("model"), SPEC, 64)


def _scene(height, width, seed):
    """A cluttered picture with a few solid shapes, so detections differ between frames."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
    for _ in range(3):
        x, y = int(rng.integers(0, width - 20)), int(rng.integers(0, height - 20))
        cv2.rectangle(image, (x, y), (x + 20, y + 20), tuple(int(c) for c in rng.integers(100, 255, 3)), -1)
    return image


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for seed, (image_id, (height, width)) in enumerate(IMAGE_SIZES.items()):
        cv2.imwrite(str(folder / f"{image_id}.jpg"), _scene(height, width, seed))
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture
def video_file(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, VIDEO_SIZE)
    for index in range(VIDEO_FRAMES):
        writer.write(_scene(VIDEO_SIZE[1], VIDEO_SIZE[0], index))
    writer.release()
    return path


def _detect(*args):
    return CliRunner().invoke(main, ["detect", *map(str, args)])


def _json_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _count_frames(path):
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"{path} does not open"
    count, size = 0, None
    while True:
        ok, image = capture.read()
        if not ok:
            return count, size
        count, size = count + 1, image.shape[1::-1]


def _hidden(folder):
    return [name for name in os.listdir(folder) if name.startswith(".")]


def test_image_folder_writes_annotated_images_and_a_json_list(model, image_folder, tmp_path):
    out, json_out = tmp_path / "out", tmp_path / "detections.json"
    result = _detect(model, "--source", image_folder, "--out", out, "--json-out", json_out, "--score", "0")
    assert result.exit_code == 0, result.output
    for image_id, (height, width) in IMAGE_SIZES.items():
        annotated = cv2.imread(str(out / f"{image_id}.jpg"))
        assert annotated is not None and annotated.shape == (height, width, 3)
    assert sorted(os.listdir(out)) == sorted(f"{image_id}.jpg" for image_id in IMAGE_SIZES)
    records = json.loads(json_out.read_text())  # a .json file holds one list, as `bcn eval --detections` reads
    assert {r["image_id"] for r in records} == set(IMAGE_SIZES)
    for record in records:
        height, width = IMAGE_SIZES[record["image_id"]]
        xmin, ymin, xmax, ymax = record["bbox"]  # VOC XML convention: 1-based, inclusive
        assert 1 <= xmin and xmax <= width and 1 <= ymin and ymax <= height
        assert 0 <= record["score"] <= 1 and isinstance(record["class"], str) and isinstance(record["time"], float)
    assert "3 frames" in result.stderr and "captured 3 / processed 3 / dropped 0" in result.stderr


def test_an_unreadable_image_in_a_folder_is_skipped_with_a_warning(model, image_folder, tmp_path):
    (image_folder / "000099.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    result = _detect(model, "--source", image_folder, "--out", out, "--score", "0")
    assert result.exit_code == 0, result.output
    assert "000099.jpg: not an image OpenCV can read, skipped" in result.stderr
    assert sorted(os.listdir(out)) == sorted(f"{image_id}.jpg" for image_id in IMAGE_SIZES)
    assert {json.loads(line)["image_id"] for line in result.stdout.splitlines()} == set(IMAGE_SIZES)


def test_video_file_gives_a_playable_video_with_every_frame(model, video_file, tmp_path):
    out, json_out = tmp_path / "out", tmp_path / "detections.jsonl"
    result = _detect(model, "--source", video_file, "--out", out, "--json-out", json_out, "--score", "0")
    assert result.exit_code == 0, result.output
    assert os.listdir(out) == ["clip.mkv"]
    assert _count_frames(out / "clip.mkv") == (VIDEO_FRAMES, VIDEO_SIZE)
    records = _json_lines(json_out)
    assert sorted({r["frame"] for r in records}) == list(range(VIDEO_FRAMES))
    assert all(r["image_id"] == str(r["frame"]) for r in records)
    pts = {r["frame"]: r["pts"] for r in records}
    assert pts[VIDEO_FRAMES - 1] == pytest.approx((VIDEO_FRAMES - 1) / VIDEO_FPS, abs=0.01)


def test_detections_go_to_stdout_and_filters_apply(model, video_file):
    everything = _detect(model, "--source", video_file, "--score", "0", "--max-frames", "4")
    assert everything.exit_code == 0, everything.output
    records = [json.loads(line) for line in everything.stdout.splitlines()]
    assert {r["frame"] for r in records} == {0, 1, 2, 3}
    assert "4 frames" in everything.stderr
    wanted = sorted({r["class"] for r in records})[:2]
    some = _detect(model, "--source", video_file, "--score", "0", "--max-frames", "4", "--classes", ",".join(wanted))
    assert some.exit_code == 0, some.output
    kept = [json.loads(line) for line in some.stdout.splitlines()]

    def key(record):
        return record["frame"], record["class"], record["score"], record["bbox"]

    assert sorted(map(key, kept)) == sorted(key(r) for r in records if r["class"] in wanted)


def _assert_one_line_error(result, *words):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for word in words:
        assert word in lines[0]


def test_missing_source_file(model, tmp_path):
    _assert_one_line_error(
        _detect(model, "--source", tmp_path / "nope.mp4", "--out", tmp_path / "out"), "nope.mp4", "no such"
    )


def test_unsupported_sources(model, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    _assert_one_line_error(_detect(model, "--source", text), "notes.txt", "unsupported")
    _assert_one_line_error(_detect(model, "--source", "ftp://127.0.0.1/x.mp4"), "ftp", "unsupported")
    empty = tmp_path / "empty"
    empty.mkdir()
    _assert_one_line_error(_detect(model, "--source", empty), "empty", "no images")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00not a video" * 100)
    _assert_one_line_error(_detect(model, "--source", broken), "broken.mp4", "cannot decode")
    gstreamer = _detect(model, "--source", "videotestsrc num-buffers=3 ! videoconvert ! appsink", "--no-reconnect")
    if cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER):  # a live source that ends: exit 1, "ended"
        assert gstreamer.exit_code == 1 and "ended" in gstreamer.stderr, gstreamer.output
    else:
        _assert_one_line_error(gstreamer, "GStreamer", "no GStreamer backend")


def test_camera_that_does_not_exist(model):
    _assert_one_line_error(_detect(model, "--source", "57"), "camera 57", "cannot be opened")


def test_unwritable_out_leaves_nothing(model, video_file, tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("")
    _assert_one_line_error(_detect(model, "--source", video_file, "--out", a_file), "taken", "folder")
    _assert_one_line_error(_detect(model, "--source", video_file, "--out", a_file / "sub"), "cannot write")
    if os.getuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        _assert_one_line_error(_detect(model, "--source", video_file, "--out", locked), "cannot write")
    assert sorted(os.listdir(tmp_path)) == sorted(["clip.avi", "taken"] + (["locked"] if os.getuid() else []))


def test_json_out_in_a_missing_folder(model, video_file, tmp_path):
    out = tmp_path / "out"
    result = _detect(model, "--source", video_file, "--out", out, "--json-out", tmp_path / "no" / "dets.jsonl")
    _assert_one_line_error(result, "dets.jsonl", "does not exist")
    assert not out.exists()  # the failed run leaves no empty --out behind


def test_missing_model_and_unknown_class(model, video_file, tmp_path):
    _assert_one_line_error(_detect(tmp_path / "missing.tflite", "--source", video_file), "missing.tflite")
    _assert_one_line_error(_detect(model, "--source", video_file, "--classes", "person,unicorn"), "unicorn")


def test_show_without_a_display_says_so(model, video_file, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    _assert_one_line_error(_detect(model, "--source", video_file, "--show"), "--show")


def test_no_hidden_temp_files_after_a_run(model, image_folder, video_file, tmp_path):
    out = tmp_path / "out"
    assert _detect(model, "--source", video_file, "--out", out, "--json-out", out / "d.jsonl").exit_code == 0
    assert _detect(model, "--source", image_folder, "--out", out, "--json-out", out / "e.jsonl").exit_code == 0
    assert not _hidden(out)
    assert {"clip.mkv", "d.jsonl", "e.jsonl"} <= set(os.listdir(out))


BLOCK_TENSORFLOW = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf_keras", "keras", "larq", "larq_zoo"):
            raise ImportError("no " + name + " on this device")
sys.meta_path.insert(0, Block())
from bcn.cli import main
main(sys.argv[1:])
"""


def test_runs_where_tensorflow_cannot_be_imported(model, video_file, tmp_path):
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-c",
        BLOCK_TENSORFLOW,
        "detect",
        str(model),
        "--source",
        str(video_file),
        "--out",
        str(out),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert _count_frames(out / "clip.mkv") == (VIDEO_FRAMES, VIDEO_SIZE)


def test_a_reader_closing_stdout_stops_the_run_with_one_line(model, video_file):
    command = bcn_cli("detect", model, "--source", video_file, "--score", "0")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    json.loads(process.stdout.readline())
    process.stdout.close()  # like `| head -1`
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 2, stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1].startswith("Error: stdout:"), stderr


def test_outputs_never_replace_an_input(model, image_folder, video_file, tmp_path):
    originals = {path: path.read_bytes() for path in [*image_folder.iterdir(), video_file, model]}
    image = image_folder / "000005.jpg"
    _assert_one_line_error(_detect(model, "--source", image_folder, "--out", image_folder), "--out", "source")
    _assert_one_line_error(_detect(model, "--source", image, "--out", image_folder), "--out", "source")
    _assert_one_line_error(_detect(model, "--source", video_file, "--out", tmp_path), "--out", "source")
    _assert_one_line_error(
        _detect(model, "--source", image, "--json-out", image), "--json-out", "would overwrite this input"
    )
    _assert_one_line_error(
        _detect(model, "--source", image_folder, "--json-out", image), "--json-out", "would overwrite this input"
    )
    _assert_one_line_error(_detect(model, "--source", video_file, "--json-out", model), "--json-out", "model.tflite")
    assert {path: path.read_bytes() for path in originals} == originals
    assert sorted(os.listdir(image_folder)) == sorted([*(f"{i}.jpg" for i in IMAGE_SIZES), "notes.txt"])


def test_images_with_the_same_stem_keep_apart(model, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), _scene(64, 96, 1))
    cv2.imwrite(str(folder / "a.png"), _scene(80, 64, 2))
    cv2.imwrite(str(folder / "b.png"), _scene(64, 64, 3))
    out, json_out = tmp_path / "out", tmp_path / "detections.json"
    result = _detect(model, "--source", folder, "--out", out, "--json-out", json_out, "--score", "0")
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(out)) == ["a.jpg.jpg", "a.png.jpg", "b.jpg"]
    assert cv2.imread(str(out / "a.png.jpg")).shape == (80, 64, 3)
    assert {r["image_id"] for r in json.loads(json_out.read_text())} == {"a.jpg", "a.png", "b"}
    assert "3 annotated images" in result.stderr


def test_a_truncated_jpeg_is_named_and_not_detected_on(model, image_folder, tmp_path):
    data = (image_folder / "000005.jpg").read_bytes()
    (image_folder / "000005.jpg").write_bytes(data[: len(data) // 2])
    result = _detect(model, "--source", image_folder, "--score", "0")
    assert result.exit_code == 0, result.output
    assert f"warning: {image_folder / '000005.jpg'}: JPEG file is truncated" in result.stderr
    assert {json.loads(line)["image_id"] for line in result.stdout.splitlines()} == set(IMAGE_SIZES) - {"000005"}
    _assert_one_line_error(_detect(model, "--source", image_folder / "000005.jpg"), "000005.jpg", "truncated")


def test_a_file_used_as_a_folder_is_called_a_file(model, video_file, tmp_path):
    (tmp_path / "taken").write_text("")
    result = _detect(model, "--source", video_file, "--json-out", tmp_path / "taken" / "d.jsonl")
    _assert_one_line_error(result, f"{tmp_path / 'taken'} is a file, not a folder")


def test_a_model_bcn_did_not_make_gets_advice_that_applies(model, video_file, tmp_path):
    from test_runtime_detector import strip_metadata

    foreign = strip_metadata(model, tmp_path / "foreign.tflite")
    result = _detect(foreign, "--source", video_file)
    _assert_one_line_error(result, "foreign.tflite", "has no bcn metadata", "bcn convert")
    assert "(--input-size)" not in result.stderr  # bcn detect has no such option


def test_too_many_threads_names_the_option(model, video_file):
    result = _detect(model, "--source", video_file, "--threads", "1000")
    assert result.exit_code == 2 and "'--threads': 1000 is not in the range 1<=x<=256" in result.output
    assert "delegate" not in result.output


def test_an_empty_source_says_so(model):
    _assert_one_line_error(_detect(model, "--source", ""), "--source is empty")
    _assert_one_line_error(_detect(model, "--source", "  "), "--source is empty")


def test_frames_that_fail_to_decode_are_counted_in_one_warning(model, video_file, tmp_path):
    damaged = tmp_path / "damaged.avi"
    data = bytearray(video_file.read_bytes())
    for offset in range(len(data) // 4, len(data) * 3 // 4, 7):  # garbage over the middle frames
        data[offset] = 0xFF
    damaged.write_bytes(data)
    done = subprocess.run(
        bcn_cli("detect", model, "--source", damaged, "--json-out", tmp_path / "dets.jsonl"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, done.stderr
    decoded = int(warnings[0].split("decoded ")[1].split(" ")[0])
    assert 0 < decoded < VIDEO_FRAMES
    assert warnings[0] == (
        f"warning: {damaged}: decoded {decoded} of the {VIDEO_FRAMES} frames it declares; "
        "the rest could not be decoded (a damaged or truncated file)"
    )
    assert f"processed {decoded} " in done.stderr


def test_a_whole_video_gives_no_warning(model, video_file, tmp_path):
    done = subprocess.run(
        bcn_cli("detect", model, "--source", video_file, "--json-out", tmp_path / "dets.jsonl"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "warning" not in done.stderr, done.stderr


@pytest.mark.parametrize("engine", ["tflite", "lce"])
def test_a_bad_input_error_is_the_only_line_unless_verbose(model, video_file, engine):
    """The interpreter's own "INFO: Created TensorFlow Lite XNNPACK delegate" line shows with -v only."""
    args = ("detect", model, "--source", video_file, "--engine", engine, "--classes", "unicorn")
    done = subprocess.run(bcn_cli(*args), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "Error: --classes: unknown class unicorn (the model has: " + done.stderr.split("has: ")[1].strip()
    ]
    verbose = subprocess.run(bcn_cli("-v", *args), capture_output=True, text=True, timeout=120)
    assert verbose.returncode == 2 and verbose.stderr.splitlines()[-1] == done.stderr.strip()
    if engine == "tflite":
        assert "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." in verbose.stderr
