"""`bcn convert` on a briefly trained binary CenterNet: LCE ops, parity with Keras, metadata, baselines."""

import copy
import json

import numpy as np
import pytest

import bcn  # noqa: F401  (Keras 2 API before TensorFlow loads)
from bcn.errors import BcnError
from bcn.runtime.metadata import read_metadata

pytestmark = pytest.mark.slow  # a minute to convert and check: the full suite runs it, the fast lane not

# A briefly trained net's heatmap peaks sit low; compare every detection the evaluation would see.
PARITY_THRESHOLD = 0.05


def _convert(trained_model, synth_voc, folder, **options) -> dict:
    """bcn's conversion of the briefly trained model into `folder`, parity on 4 of its data set's images."""
    from bcn.converters.convert import convert

    options = {"data_root": synth_voc, "samples": 4, "score_threshold": PARITY_THRESHOLD, **options}
    return convert(trained_model, folder / "tiny.tflite", **options)


@pytest.fixture(scope="module")
def converted(trained_model, synth_voc, tmp_path_factory):
    return _convert(trained_model, synth_voc, tmp_path_factory.mktemp("converted"), baselines=("float32", "int8"))


@pytest.fixture(scope="module")
def converted_int8(trained_model, synth_voc, tmp_path_factory):
    """The same model with int8 rest (the main file), the float-rest one beside it."""
    folder = tmp_path_factory.mktemp("converted_int8")
    return _convert(trained_model, synth_voc, folder, baselines=("binary",), rest="int8")


@pytest.fixture(scope="module")
def keras_model(trained_model):
    from bcn.arch.model import load_model

    return load_model(trained_model)


@pytest.fixture(scope="module")
def graph(converted):
    from bcn.converters.inspect import Graph

    with open(converted["files"]["binary"]["path"], "rb") as file:
        return Graph.from_flatbuffer(file.read())


def test_every_binary_conv_is_an_lce_bconv(converted, keras_model, graph):
    from bcn.converters.keras_model import binary_conv_layers

    binary = binary_conv_layers(keras_model)
    assert binary, "the test model should have binary convs"
    assert graph.histogram()["LceBconv2d"] == len(binary)
    assert converted["binary_layers"] == {"keras_binary_convs": len(binary), "LceBconv2d": len(binary)}
    assert converted["files"]["binary"]["ops"]["LceBconv2d"] == len(binary)
    # The baselines are plain TFLite: no LCE op in them.
    for variant in ("float32", "int8"):
        assert not any(name.startswith("Lce") for name in converted["files"][variant]["ops"])


def test_lce_and_keras_detect_the_same(converted):
    parity = converted["parity"]
    assert parity["images"] == 4
    assert parity["detections_reference"] > 0, "nothing to compare: the trained model detects nothing"
    assert parity["agreement"] >= 0.95
    assert parity["matched_iou_mean"] >= 0.98
    assert parity["score_diff_max"] < 0.01
    assert parity["heatmap_mean_abs_diff"] < 1e-3
    assert parity["check"] == "passed"


def test_metadata_lets_the_runtime_run_each_file(converted, trained_model):
    config = json.loads((trained_model.parent / "config.json").read_text())
    expected = {
        "binary": ("lce", False),
        "float32": ("tflite", True),
        "int8": ("tflite", True),
    }
    for variant, (engine, float_twin) in expected.items():
        metadata = read_metadata(converted["files"][variant]["path"])
        assert (metadata["variant"], metadata["engine"], metadata["float_twin"]) == (variant, engine, float_twin)
        assert metadata["classes"] == config["classes"]
        assert metadata["input_size"] == config["input_size"]
        assert metadata["spec"] == config["spec"]
        assert sorted(metadata["outputs"].values()) == [0, 1, 2]
    assert read_metadata(converted["files"]["binary"]["path"])["binary_ratio"] > 0


def test_output_layout_points_at_each_head(converted, keras_model):
    """Index the runtime engine's outputs with the metadata and get Keras' heads back."""
    from bcn.runtime.engines import open_engine

    path = converted["files"]["binary"]["path"]
    layout = read_metadata(path)["outputs"]
    image = np.random.default_rng(1).random((1, 64, 64, 3), np.float32)
    with open(path, "rb") as file:
        outputs = open_engine(file.read(), path).run(image)
    reference = dict(zip(["heatmap", "size", "offset"], keras_model(image, training=False)))
    for head, index in layout.items():
        np.testing.assert_allclose(outputs[index], np.asarray(reference[head]), atol=1e-2)


def test_report_matches_the_files(converted):
    from pathlib import Path

    report = json.loads(Path(converted["report"]).read_text())
    for entry in report["files"].values():
        assert Path(entry["path"]).stat().st_size == entry["bytes"]
    assert report["size_ratios"]["float32"] == pytest.approx(
        report["files"]["float32"]["bytes"] / report["files"]["binary"]["bytes"]
    )


def _tensor_types(path) -> list[tuple[str, list[int], list[int]]]:
    """(op, input tensor types, output tensor types) of each op of a flatbuffer (TensorType numbers)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    graph = model.subgraphs[0]
    ops = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = code.customCode.decode() if code.customCode else flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
        types = [[int(graph.tensors[i].type) for i in indices if i >= 0] for indices in (op.inputs, op.outputs)]
        ops.append((name, *types))
    return ops


FLOAT32, INT32, INT8 = 0, 2, 9


def test_binary_int8_runs_every_full_precision_layer_in_int8(converted_int8):
    converted = converted_int8
    assert converted["main"] == "binary-int8" and set(converted["files"]) == {"binary-int8", "binary"}
    entry = converted["files"]["binary-int8"]
    ops = _tensor_types(entry["path"])
    assert entry["ops"]["LceBconv2d"] == converted["binary_layers"]["LceBconv2d"]
    # float32 only at the edges: the input's QUANTIZE, each head's DEQUANTIZE and last 1x1 conv, the sigmoid.
    float_ops = [name for name, inputs, outputs in ops if FLOAT32 in (inputs[0], outputs[0])]
    assert sorted(float_ops) == ["CONV_2D"] * 3 + ["DEQUANTIZE"] * 3 + ["LOGISTIC", "QUANTIZE"]
    assert {inputs[0] for name, inputs, _ in ops if name == "LceQuantize"} == {INT8}
    assert {outputs[0] for name, _, outputs in ops if name == "LceBconv2d"} <= {INT8, INT32}
    assert {name for name, _, _ in ops} >= {"CONV_2D", "LceQuantize", "LceBconv2d"}
    metadata = read_metadata(entry["path"])
    assert (metadata["variant"], metadata["engine"]) == ("binary-int8", "lce")
    assert entry["bytes"] < converted["files"]["binary"]["bytes"]


def test_binary_int8_is_calibrated_on_training_images_and_checked_against_keras(converted_int8):
    converted = converted_int8
    assert converted["calibration"]["images"] == 60  # every image of the set, the training split first
    parity = converted["parities"]["binary-int8"]
    assert parity["tolerance"]["min_agreement"] < 0.9  # judged as int8, not as float32
    # This briefly trained model's heatmap is nearly flat (peaks near 0.05), where int8's 1/256 steps move
    # which cells are peaks; its scores still follow Keras' closely.
    assert parity["heatmap_max_abs_diff"] <= parity["tolerance"]["max_heatmap_max_diff"]
    assert parity["heatmap_mean_abs_diff"] <= 0.01
    assert converted["files"]["binary-int8"]["parity"] == parity["check"]


def test_checker_names_a_binary_layer_that_stayed_float(keras_model, graph):
    from bcn.converters.inspect import check_binary_layers
    from bcn.converters.keras_model import binary_conv_layers

    broken = copy.deepcopy(graph)
    index = [i for i, op in enumerate(broken.ops) if op.name == "LceBconv2d"][1]
    broken.ops[index].name = "CONV_2D"
    with pytest.raises(BcnError, match=binary_conv_layers(keras_model)[1].name + "$"):
        check_binary_layers(keras_model, broken, "tiny.h5")


def test_checker_flags_a_float_op_inserted_between_binary_layers(keras_model, graph):
    from bcn.converters.inspect import Op, check_binary_layers

    broken = copy.deepcopy(graph)
    bconvs = [i for i, op in enumerate(broken.ops) if op.name == "LceBconv2d"]
    second = broken.ops[bconvs[1]]
    inserted = len(broken.tensor_names)
    broken.tensor_names.append("inserted")
    broken.ops.insert(bconvs[1], Op("MUL", [second.inputs[0]], [inserted]))
    second.inputs[0] = inserted
    with pytest.raises(BcnError, match="inserted float ops between binary layers: 1 MUL between encoder_"):
        check_binary_layers(keras_model, broken, "tiny.h5")


def test_the_parity_check_fails_on_a_flipped_bitpacked_weight(converted, keras_model, synth_voc):
    """One bit of the first LceBconv2d's bitpacked filter flipped: the runtime then computes
    another function than Keras, and the check must say so."""
    from tensorflow.lite.tools import flatbuffer_utils

    from bcn.converters.parity import TOLERANCES, compare, keras_heads, parity_problem, runtime_heads
    from bcn.converters.samples import sample_inputs

    path = converted["files"]["binary"]["path"]
    model = flatbuffer_utils.read_model(path)
    subgraph = model.subgraphs[0]
    codes = [code.customCode for code in model.operatorCodes]
    bconv = next(op for op in subgraph.operators if codes[op.opcodeIndex] == b"LceBconv2d")
    model.buffers[subgraph.tensors[bconv.inputs[1]].buffer].data[0] ^= 1
    altered = bytes(flatbuffer_utils.convert_object_to_bytearray(model))

    _, inputs = sample_inputs(synth_voc, 4, 64)
    layout = read_metadata(path)["outputs"]
    reference = keras_heads(keras_model, inputs)
    intact = compare(reference, runtime_heads(open(path, "rb").read(), path, inputs, layout)[0], PARITY_THRESHOLD)
    flipped = compare(reference, runtime_heads(altered, path, inputs, layout)[0], PARITY_THRESHOLD)
    assert parity_problem(intact) is None and intact["heatmap_max_abs_diff"] < 1e-4
    # Measured here: 3.7e-6 intact, 0.032 with the bit flipped (and 1% of detections matched).
    assert flipped["heatmap_max_abs_diff"] > TOLERANCES["float32"].max_heatmap_max_diff and flipped["agreement"] < 0.5
    assert parity_problem(flipped) is not None
    # Detections that all match still fail on the heatmap's largest difference.
    assert "heatmap score differs" in parity_problem(dict(flipped, agreement=1.0))
