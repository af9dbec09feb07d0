"""Crafted "bcn" metadata: every wrong type, range or shape is one line naming the file and the field.

Checked once at the function (`parse_metadata`, `check_metadata`: fast, every case), then in
real .tflite files whose metadata is rewritten in place, through `Detector` and through the
`bcn detect`, `bcn bench` and `bcn eval` command lines (exit 2, `Error: PATH: ...`).
"""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from runtime_models import CLASSES, INPUT_SIZE, shared_models

from bcn.errors import BcnError
from bcn.runtime.flatbuffer import metadata_bytes
from bcn.runtime.metadata import MAX_BYTES, MetadataError, check_metadata, parse_metadata, read_metadata

GOOD = {
    "format": "bcn/1",
    "classes": ["cat", "dog", "bird"],
    "input_size": 64,
    "output_stride": 4,
    "outputs": {"heatmap": 2, "size": 0, "offset": 1},
    "spec": "qn(64) h(16)",
    "float_twin": False,
    "seed": 3,
    "macs": 1000,
    "binary_macs": 900,
    "binary_ratio": 0.9,
    "eq_flops": 114.0625,
    "engine": "lce",
    "variant": "binary",
    "bcn_version": "0.1.0",
    "preprocessing": {
        "color": "RGB",
        "scale": 1 / 255,
        "letterbox": "top-left",
        "pad_value": 0.5,
        "interpolation": "bilinear",
    },
}
# What the model of GOOD gives: a 64 px input, heads of a 16 x 16 grid.
INPUT = (1, 64, 64, 3)
OUTPUTS = [(1, 16, 16, 2), (1, 16, 16, 2), (1, 16, 16, 3)]


def changed(**fields) -> dict:
    """GOOD with `fields` replaced (a value of ... removes the field)."""
    return {key: value for key, value in {**GOOD, **fields}.items() if value is not ...}


def raw(metadata) -> bytes:
    return json.dumps(metadata).encode()


def test_the_good_metadata_passes():
    from bcn.preprocess import PREPROCESSING

    assert GOOD["preprocessing"] == PREPROCESSING  # the letterbox the runtime applies
    assert parse_metadata(raw(GOOD), "m.tflite") == GOOD
    assert check_metadata(GOOD, "m.tflite", INPUT, OUTPUTS)["classes"] == GOOD["classes"]


# (raw metadata, what the one line must say)
BAD_JSON = [
    (raw(changed(input_size="64")), "'input_size' must be an integer"),
    (raw(changed(input_size=[64])), "'input_size' must be an integer"),
    (b'{"format": "bcn/1", "input_size": NaN}', "NaN is not a number JSON allows"),
    (b'{"format": "bcn/1", "input_size": Infinity}', "Infinity is not a number JSON allows"),
    (b'{"format": "bcn/1", "macs": 1e999}', "1e999 is out of range"),
    (raw(changed(input_size=...)), "'input_size' is missing"),
    (raw(changed(input_size=True)), "'input_size' must be an integer"),
    (raw(changed(input_size=64.0)), "'input_size' must be an integer"),
    (raw(changed(input_size=0)), "'input_size' must be an integer from 1"),
    (raw(changed(input_size=10**9)), "'input_size' must be an integer from 1 to 16384"),
    (raw(changed(output_stride="4")), "'output_stride' must be an integer"),
    (raw(changed(output_stride=0)), "'output_stride' must be an integer from 1"),
    (raw(changed(output_stride=-4)), "'output_stride' must be an integer from 1"),
    (raw(changed(output_stride=...)), "'output_stride' is missing"),
    (raw(changed(classes=3)), "'classes' must be a list"),
    (raw(changed(classes="cat,dog,bird")), "'classes' must be a list"),
    (raw(changed(classes=[])), "'classes' must be a list of 1 to"),
    (raw(changed(classes=[1, 2, 3])), "'classes' item 0 must be a non-empty printable name"),
    (raw(changed(classes=["cat", None, "bird"])), "'classes' item 1 must be"),
    (raw(changed(classes=["cat", "", "bird"])), "'classes' item 1 must be"),
    (raw(changed(classes=["cat", "x" * 129, "bird"])), "'classes' item 1 must be"),
    (raw(changed(classes=["cat", "dog\nrm -rf", "bird"])), "'classes' item 1 must be"),
    (raw(changed(classes=["cat", "cat", "bird"])), "'classes' names \"cat\" twice"),
    (raw(changed(classes=...)), "'classes' is missing"),
    (raw(changed(outputs=[2, 0, 1])), "'outputs' must map heatmap, size, offset"),
    (raw(changed(outputs={"heatmap": 0, "size": 0, "offset": 1})), "'outputs' must map"),
    (raw(changed(outputs={"heatmap": "2", "size": 0, "offset": 1})), "'outputs' must map"),
    (raw(changed(outputs={"heatmap": 7, "size": 0, "offset": 1})), "'outputs' must map"),
    (raw(changed(format="bcn/2")), "'format' is \"bcn/2\", not 'bcn/1'"),
    (raw(changed(format=...)), "'format' is missing"),
    (raw(changed(engine="gpu")), "'engine' must be one of lce, tflite"),
    (raw(changed(variant=7)), "'variant' must be one of binary"),
    (raw(changed(spec=["qn"])), "'spec' must be text"),
    (raw(changed(float_twin="no")), "'float_twin' must be true, false or null"),
    (raw(changed(seed=1.5)), "'seed' must be an integer or null"),
    (raw(changed(macs=-1)), "'macs' must be a number of at least 0"),
    (raw(changed(binary_ratio=2)), "'binary_ratio' must be a number from 0 to 1"),
    (raw(changed(preprocessing={"color": "BGR"})), "'preprocessing' is"),
    (b"[" * 100_000 + b"]" * 100_000, "nests deeper than 16 levels"),
    (b'{"x": ' + b'{"y": ' * 20 + b"1" + b"}" * 21, "nests deeper than 16 levels"),
    (b'{"x": "[[[[[[[[[[[[[[[[[[[[[[[["}', "'format' is missing"),  # brackets in a string do not nest
    (b'{"x": "\\\\", "y": "[[[\\"[[[[[[[[[[[[[[[[[[[["}', "'format' is missing"),  # nor after escapes
    (b'"\\' * (MAX_BYTES // 2), "is not JSON"),  # a megabyte of unclosed strings: read in one pass
    (b" " * (MAX_BYTES + 1), f"more than the {MAX_BYTES}"),
    (b'{"format": "bcn/1", "format": "bcn/1"}', "key 'format' appears twice"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"format": ', "is not JSON"),
    (b"[]", "is not a JSON object but []"),
    (b'"bcn/1"', "is not a JSON object"),
    (b"null", "is not a JSON object but null"),
]


@pytest.mark.parametrize("content, problem", BAD_JSON, ids=[problem[:40] for _, problem in BAD_JSON])
def test_bad_metadata_is_one_line_naming_file_and_field(content, problem):
    with pytest.raises(MetadataError) as error:
        parse_metadata(content, "crafted.tflite")
    message = str(error.value)
    assert message.startswith("crafted.tflite: bcn metadata ") and problem in message, message
    assert "\n" not in message and len(message) < 400


# Metadata that reads well but does not fit the model: (metadata, model input, model outputs, problem)
MISFITS = [
    (changed(output_stride=8), INPUT, OUTPUTS, "'output_stride' 8 does not match the model: its 16x16 heatmap"),
    (changed(output_stride=2), INPUT, OUTPUTS, "'output_stride' 2 does not match"),
    (changed(input_size=96), INPUT, OUTPUTS, "does not match input size 96"),
    (GOOD, (1, 64, 64, 1), OUTPUTS, "does not match input size 64"),
    (changed(classes=["cat", "dog"]), INPUT, OUTPUTS, "'classes' has 2 class names for a heatmap of 3 classes"),
    (GOOD, INPUT, OUTPUTS[:2], '\'outputs\' {"heatmap": 2, "size": 0, "offset": 1} does not match the model\'s 2'),
    (changed(outputs={"heatmap": 0, "size": 1, "offset": 2}), INPUT, OUTPUTS, "offset is output 2, of shape"),
    (GOOD, INPUT, [(1, 16, 16, 2), (1, 8, 8, 2), (1, 16, 16, 3)], "offset is output 1, of shape (1, 8, 8, 2)"),
    (GOOD, INPUT, [(1, 16, 16, 2), (1, 16, 16, 2), (16, 16, 3)], "heatmap is output 2, of shape (16, 16, 3)"),
    (GOOD, INPUT, [(1, 16, 16, 2), (1, 16, 16, 2), (1, 16, 16, 0)], "not (1, H, W, classes)"),
]


@pytest.mark.parametrize(
    "metadata, input_shape, output_shapes, problem", MISFITS, ids=[problem[:40] for *_, problem in MISFITS]
)
def test_metadata_must_fit_the_model(metadata, input_shape, output_shapes, problem):
    check_metadata(metadata, "crafted.tflite")  # each field alone is fine
    with pytest.raises(MetadataError) as error:
        check_metadata(metadata, "crafted.tflite", input_shape, output_shapes)
    assert str(error.value).startswith("crafted.tflite: bcn metadata ") and problem in str(error.value), error.value
    assert "\n" not in str(error.value)


# Files: a converted model with its metadata rewritten in place.


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return shared_models(tmp_path_factory)["float32"]


def craft(model, folder, content: bytes, name: str = "crafted.tflite"):
    """A copy of `model` whose "bcn" metadata is `content`, written over the old bytes (padded with spaces)."""
    data = model.read_bytes()
    old = metadata_bytes(data, "bcn")
    assert len(content) <= len(old) and data.count(old) == 1, "the crafted metadata must fit in place"
    path = folder / name
    path.write_bytes(data.replace(old, content.ljust(len(old), b" ")))
    return path


def test_crafting_in_place_keeps_a_good_model(model, tmp_path):
    metadata = read_metadata(model)
    assert metadata["classes"] == CLASSES and metadata["input_size"] == INPUT_SIZE
    assert read_metadata(craft(model, tmp_path, json.dumps(metadata).encode())) == metadata


def file_cases(model):
    metadata = read_metadata(model)
    dumps = lambda value: json.dumps(value, separators=(",", ":"))  # noqa: E731  (shorter: fits in place)
    return {
        "a string input size": (dumps({**metadata, "input_size": "64"}), "'input_size' must be an integer"),
        "a NaN input size": (dumps({**metadata, "input_size": float("nan")}), "NaN is not a number"),
        "no input size": (dumps({k: v for k, v in metadata.items() if k != "input_size"}), "'input_size' is missing"),
        "a string stride": (dumps({**metadata, "output_stride": "4"}), "'output_stride' must be an integer"),
        "a stride of 0": (dumps({**metadata, "output_stride": 0}), "'output_stride' must be an integer from 1"),
        "a stride of -4": (dumps({**metadata, "output_stride": -4}), "'output_stride' must be an integer"),
        "the wrong stride": (dumps({**metadata, "output_stride": 8}), "'output_stride' 8 does not match"),
        "classes a number": (dumps({**metadata, "classes": 3}), "'classes' must be a list"),
        "numbers as class names": (dumps({**metadata, "classes": [1, 2, 3]}), "'classes' item 0"),
        "too few class names": (dumps({**metadata, "classes": ["cat"]}), "1 class names for a heatmap of 3"),
        "deep nesting": ("[" * 200 + "]" * 200, "nests deeper than 16 levels"),
    }


CASES = [
    "a string input size",
    "a NaN input size",
    "no input size",
    "a string stride",
    "a stride of 0",
    "a stride of -4",
    "the wrong stride",
    "classes a number",
    "numbers as class names",
    "too few class names",
    "deep nesting",
]


@pytest.mark.parametrize("case", CASES)
def test_crafted_files_are_one_line_errors_in_the_detector(model, tmp_path, case):
    from bcn.runtime.detector import Detector

    content, problem = file_cases(model)[case]
    path = craft(model, tmp_path, content.encode())
    with pytest.raises(BcnError) as error:
        Detector(path)
    message = error.value.format_message()
    assert message.startswith(f"{path}: bcn metadata ") and problem in message, message
    assert "\n" not in message


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("image") / "frame.png"
    cv2.imwrite(str(path), np.full((48, 64, 3), 128, np.uint8))
    return path


def bcn(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bcn", *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("case", ["a stride of 0", "the wrong stride", "deep nesting"])
def test_crafted_files_exit_2_in_detect_bench_and_eval(model, tmp_path, image, synth_voc, case):
    """A field read at once (a stride of 0), one that only the model's tensors refute (the wrong
    stride), and JSON nested 200 levels deep."""
    content, problem = file_cases(model)[case]
    path = craft(model, tmp_path, content.encode())
    for command in (
        ("detect", path, "--source", image, "--json-out", tmp_path / "out.jsonl"),
        ("bench", path, "--runs", "1", "--warmup", "0"),
        ("eval", path, "--data", synth_voc, "--split", "test"),
    ):
        done = bcn(*command)
        assert done.returncode == 2, (command[0], done.stderr[-2000:])
        assert "Traceback" not in done.stderr, done.stderr[-2000:]
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith(f"Error: {path}: bcn metadata ") and problem in last, (command[0], last)
    assert not (tmp_path / "out.jsonl").exists()


def test_the_model_is_checked_against_its_declared_tensors_before_an_interpreter_reads_it(model, tmp_path):
    """read_model (bcn bench's route to lce_benchmark_model too) compares the metadata with the
    tensor shapes in the flatbuffer; no engine is loaded."""
    from bcn.runtime.detector import read_model
    from bcn.runtime.flatbuffer import io_shapes

    assert io_shapes(model.read_bytes()) == (
        [(1, INPUT_SIZE, INPUT_SIZE, 3)],
        [(1, 16, 16, 2), (1, 16, 16, 2), (1, 16, 16, len(CLASSES))],
    )
    content, problem = file_cases(model)["the wrong stride"]
    path = craft(model, tmp_path, content.encode())
    with pytest.raises(BcnError, match=r"'output_stride' 8 does not match the model: its 16x16 heatmap"):
        read_model(path)
