"""bcn's LCE delegate in LiteRT computes what LCE's own interpreter computes, bit for bit.

Both sides run the same flatbuffer, so every tensor an LCE op writes must be identical:
bitpacked int32 tensors and float outputs alike. The flatbuffers get every such tensor
as an extra model output (LCE's interpreter returns only model outputs). Covered:
random binary models whose converted options are checked to span what the delegate
supports, every binary preset at 64 px, a briefly trained detector's detections, 1 to 3
threads, and models with option values the delegate must refuse.

The delegate library: bcn.runtime.delegate.library_path() when bcn ships it, else
$BCN_LCE_DELEGATE; without either these tests are skipped.
"""

import dataclasses
import os
import platform
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("larq_compute_engine")
pytest.importorskip("ai_edge_litert")
if platform.machine().lower() not in ("x86_64", "amd64"):
    pytest.skip("LCE's interpreter, the reference, runs on x86_64 here", allow_module_level=True)

from lce_models import (  # noqa: E402
    CHANNELS,
    LCE_OPS,
    binary_presets,
    build_recipe,
    convert_int8_rest,
    lce_ops,
    lce_reference,
    node_of,
    preset_flatbuffer,
    random_inputs,
    random_recipes,
    set_custom_options,
    write_case,
    write_op_cases,
    write_portable_cases,
)
from lce_parity_check import (  # noqa: E402
    ENV_VAR,
    available_kernels,
    check_case,
    compare_outputs,
    delegate_interpreter,
    delegate_library,
    load_case,
    run_delegate,
)

SEED = 0
THREADS = (1, 2, 3)
SAME, VALID = 0, 1
RELU, RELU_N1_TO_1, RELU6 = 1, 2, 3
CHECK_SCRIPT = Path(__file__).with_name("lce_parity_check.py")


@pytest.fixture(scope="module")
def library():
    path = delegate_library()
    if not path:
        pytest.skip(f"no LCE delegate library: build runtime/native and set {ENV_VAR}")
    return path


@pytest.fixture(scope="module")
def kernels(library) -> list[str | None]:
    """Every kernel path of the delegate this CPU runs (scalar, avx2, avx512-vpopcnt here)."""
    return available_kernels(library)


@pytest.fixture(scope="module")
def random_cases(tmp_path_factory) -> Path:
    """A folder of parity cases: each random model whole, and each of its LCE ops alone."""
    folder = tmp_path_factory.mktemp("lce_parity_cases")
    write_portable_cases(folder, seed=SEED)
    return folder


@pytest.fixture(scope="module")
def random_models(random_cases) -> dict[str, bytes]:
    """name -> LCE flatbuffer of each random model, its LCE tensors exposed."""
    return {recipe.name: (random_cases / f"{recipe.name}.tflite").read_bytes() for recipe in random_recipes(SEED)}


def _check_all(paths, library, kernels, threads=THREADS) -> list[str]:
    return [
        f"{Path(path).name} kernel={kernel} threads={n}: {problem}"
        for path in paths
        for kernel in kernels
        for n in threads
        for problem in check_case(path, library, n, kernel)
    ]


# --- what the random models cover --------------------------------------------------------


def test_random_models_use_every_lce_option_the_delegate_supports(random_models):
    ops = [op for content in random_models.values() for op in lce_ops(content)]
    assert {op["op"] for op in ops} == set(LCE_OPS)
    convs = [op for op in ops if op["op"] == "LceBconv2d"]

    def values(key):
        return {op["options"][key] for op in convs}

    assert set(CHANNELS) <= values("channels_in")
    assert values("stride_height") == values("stride_width") == {1, 2}
    assert values("dilation_height_factor") == values("dilation_width_factor") == {1, 2}
    assert values("padding") == {SAME, VALID}
    assert values("pad_values") == {0, 1}
    assert values("fused_activation_function") == {0, RELU, RELU6}
    assert {op["groups"] for op in convs} == {1, 2, 3}
    kinds = {(op["output_kind"], op["options"]["padding"], op["options"]["pad_values"]) for op in convs}
    # SAME with zero padding (LCE corrects the accumulators at the border) only with float output.
    assert {
        ("float32", SAME, 0),
        ("float32", SAME, 1),
        ("float32", VALID, 0),
        ("bitpacked", SAME, 1),
        ("bitpacked", VALID, 0),
    } <= kinds
    assert {op["output_kind"] for op in convs if op["options"]["fused_activation_function"]} == {"float32", "bitpacked"}
    assert {op["output_kind"] for op in convs if op["groups"] > 1} == {"float32", "bitpacked"}
    # Odd and non-square feature maps.
    assert any(
        op["input"][1][1] % 2 and op["input"][1][2] % 2 and op["input"][1][1] != op["input"][1][2] for op in convs
    )
    assert all(op["input"][1][0] == 1 for op in ops)
    pools = [op["options"] for op in ops if op["op"] == "LceBMaxPool2d"]
    assert {p["padding"] for p in pools} == {SAME, VALID} and {p["stride_height"] for p in pools} == {1, 2}


# --- bit-exact parity ----------------------------------------------------------------------


def test_random_models_match_lce_bit_for_bit(random_models, random_cases, library, kernels):
    whole = sorted(random_cases.glob("random?.tflite"))
    singles = sorted(random_cases.glob("random?-node*.tflite"))
    assert len(whole) == len(random_models)
    assert len(singles) == sum(len(lce_ops(content)) for content in random_models.values())
    bitpacked = sum("(bitpacked)" in name for path in whole for name in load_case(path.with_suffix(".npz"))["names"])
    assert bitpacked >= 10  # the int32 tensors between binary convs are compared, not just the float outputs
    assert _check_all(whole + singles, library, kernels) == []


@pytest.mark.slow
@pytest.mark.parametrize("preset", binary_presets())
def test_preset_matches_lce_bit_for_bit(preset, library, kernels, tmp_path):
    content = preset_flatbuffer(preset, input_size=64, seed=SEED)
    assert any(op["op"] == "LceBconv2d" for op in lce_ops(content))
    whole = write_case(tmp_path, preset, content, seed=SEED)
    names = load_case(whole.with_suffix(".npz"))["names"]
    assert all("(float32)" in name for name in names[:3]) and any("(bitpacked)" in name for name in names[3:])
    singles = write_op_cases(tmp_path, preset, content, seed=SEED)
    assert _check_all([whole], library, kernels) == []
    assert _check_all(singles, library, kernels, threads=(1,)) == []


@pytest.fixture(scope="module")
def int8_cases(tmp_path_factory) -> dict[str, bytes]:
    """The random models converted with int8 full-precision tensors (`bcn convert --rest int8`'s route), each
    LCE op alone as a case; name -> the whole flatbuffer."""
    folder = tmp_path_factory.mktemp("lce_int8_cases")
    models = {}
    for number, recipe in enumerate(random_recipes(SEED)):
        recipe = _without_zero_same_padding(recipe)
        content = models[recipe.name] = convert_int8_rest(build_recipe(recipe, SEED), seed=SEED + number)
        write_op_cases(folder, f"{recipe.name}-int8", content, seed=SEED + number)
    return {"folder": folder, "models": models}


def _without_zero_same_padding(recipe):
    """SAME padding with zeros computes only with float output (LCE and the delegate refuse the rest): ones."""
    blocks = [
        dataclasses.replace(block, pad_values=1.0) if block.padding == "same" else block for block in recipe.blocks
    ]
    return dataclasses.replace(recipe, blocks=tuple(blocks))


def test_int8_models_match_lce_bit_for_bit_op_by_op(int8_cases, library, kernels):
    """int8 in and out of the LCE ops: LceQuantize from int8, LceBconv2d to int8 with its requantization,
    LceDequantize to int8. Op by op: in a whole model, LiteRT's and LCE's int8 builtins round differently."""
    ops = [op for content in int8_cases["models"].values() for op in lce_ops(content)]
    int8 = 9
    assert any(op["op"] == "LceQuantize" and op["input"][0] == int8 for op in ops)
    assert {"int8", "bitpacked"} <= {op["output_kind"] for op in ops if op["op"] == "LceBconv2d"}
    cases = sorted(int8_cases["folder"].glob("*.tflite"))
    assert len(cases) == len(ops)
    assert _check_all(cases, library, kernels) == []


def test_int8_output_with_zero_same_padding_is_refused(library):
    for number, recipe in enumerate(random_recipes(SEED)):
        content = convert_int8_rest(build_recipe(recipe, SEED), seed=SEED + number)
        zero_padded = [
            op["node"]
            for op in lce_ops(content)
            if op["op"] == "LceBconv2d"
            and op["output_kind"] == "int8"
            and (op["options"]["padding"], op["options"]["pad_values"]) == (SAME, 0)
        ]
        if zero_padded:
            break
    with pytest.raises((RuntimeError, ValueError), match=f"LceBconv2d node {zero_padded[0]}: pad_values=0 with SAME"):
        delegate_interpreter(content, library)


def test_more_threads_give_the_outputs_of_one(random_cases, library, kernels):
    for path in sorted(random_cases.glob("random?.tflite")):
        content, inputs = path.read_bytes(), load_case(path.with_suffix(".npz"))["inputs"]
        for kernel in kernels:
            one = run_delegate(content, inputs, library, 1, kernel)
            for threads in (2, 3):
                assert compare_outputs(one, run_delegate(content, inputs, library, threads, kernel)) == [], kernel


# --- a trained detector ----------------------------------------------------------------------

TINY = "qn(64) qn([1x32, 1x64, 1x64, 1x128]) tp(2)([32, 32, 32]) h(16)"


@pytest.fixture(scope="module")
def trained_detector(four_image_voc, tmp_path_factory) -> Path:
    """A tiny binary detector overfit on four images for 150 steps (~25 s), converted by bcn.

    Not a good detector (mAP ~0.3 on those images), but its heatmaps have real peaks
    (~0.5) where an untrained one's are flat.
    """
    from bcn.converters.convert import convert as bcn_convert
    from bcn.train.augment import NO_AUGMENTATION
    from bcn.train.trainer import Recipe, train

    run = tmp_path_factory.mktemp("trained")
    train(
        TINY,
        four_image_voc,
        run,
        input_size=64,
        epochs=10,
        steps_per_epoch=15,
        batch_size=4,
        lr=5e-3,
        eval_every=10,
        recipe=Recipe(augment=NO_AUGMENTATION),
        seed=SEED,
        verbose=0,
    )
    bcn_convert(run / "model.h5", run / "model.tflite", samples=1)
    return run / "model.tflite"


class DelegateEngine:
    """The runtime's engine interface over LiteRT with the delegate."""

    name = "lce-delegate"

    def __init__(self, content: bytes, library: str):
        self._interpreter = delegate_interpreter(content, library)
        self._input = self._interpreter.get_input_details()[0]
        self._outputs = self._interpreter.get_output_details()
        self.input_shape = tuple(int(d) for d in self._input["shape"])
        self.output_shapes = [tuple(int(d) for d in o["shape"]) for o in self._outputs]

    def run(self, batch):
        self._interpreter.set_tensor(self._input["index"], batch)
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(o["index"]).copy() for o in self._outputs]


@pytest.mark.slow
def test_trained_detector_finds_the_same_objects(trained_detector, synth_voc, library):
    from bcn.images import read_image
    from bcn.runtime.detector import Detector

    lce = Detector(trained_detector, engine="lce")
    ours = Detector(trained_detector, engine="lce")
    ours.engine = DelegateEngine(trained_detector.read_bytes(), library)
    images = sorted((synth_voc / "JPEGImages").glob("*.jpg"))[:8]  # the four it was trained on among them
    peaked = 0
    for path in images:
        image = read_image(path)
        expected = lce.detect(image, score_threshold=0.05)
        assert len(expected) > 10
        assert ours.detect(image, score_threshold=0.05) == expected, path.name
        peaked += expected[0].score >= 0.3
    assert peaked >= 3  # real peaks: an untrained model's best scores are under 0.2 everywhere


@pytest.mark.slow
def test_trained_detector_matches_lce_bit_for_bit(trained_detector, library, kernels, tmp_path):
    content = trained_detector.read_bytes()
    paths = [write_case(tmp_path, "trained", content)] + write_op_cases(tmp_path, "trained", content)
    assert _check_all(paths, library, kernels) == []


# --- models the delegate must refuse ---------------------------------------------------------

# (op, which of them, option changes, the words the error must contain)
REFUSED = [
    ("LceBconv2d", 0, {"fused_activation_function": 5}, "fused_activation_function=5 is not supported"),
    ("LceBconv2d", 1, {"pad_values": 2}, "pad_values=2 is not supported"),
    ("LceBconv2d", 2, {"padding": 2}, "padding=2 is not supported"),
    ("LceBconv2d", 3, {"channels_in": 200}, "channels_in=200 does not match"),
    ("LceBconv2d", 0, {"dilation_width_factor": 0}, "dilation_width_factor=0 is not supported"),
    ("LceBMaxPool2d", 0, {"stride_height": 0}, "stride_height=0 is not supported"),
]


@pytest.mark.parametrize("op, which, changes, words", REFUSED, ids=[f"{r[0]}-{next(iter(r[2]))}" for r in REFUSED])
def test_unsupported_option_fails_at_load_naming_op_node_and_option(random_models, library, op, which, changes, words):
    content = set_custom_options(random_models["random0"], op, changes, which=which)
    node = node_of(content, op, which)
    with pytest.raises((RuntimeError, ValueError), match=f"{op} node {node}: {words}"):
        delegate_interpreter(content, library)


def test_bitpacked_output_with_zero_padding_is_refused(random_models, library):
    """LCE computes SAME with zero padding by correcting float accumulators; bitpacked output can't."""
    for content in random_models.values():
        candidates = [
            op
            for op in lce_ops(content)
            if op["op"] == "LceBconv2d" and op["output_kind"] == "bitpacked" and op["options"]["padding"] == SAME
        ]
        if candidates:
            break
    which = [op["node"] for op in lce_ops(content) if op["op"] == "LceBconv2d"].index(candidates[0]["node"])
    bad = set_custom_options(content, "LceBconv2d", {"pad_values": 0}, which=which)
    with pytest.raises(
        (RuntimeError, ValueError), match=f"LceBconv2d node {candidates[0]['node']}: pad_values=0 with SAME padding"
    ):
        delegate_interpreter(bad, library)


def test_fused_activations_on_float_output_match_lce_or_are_refused(random_models, library):
    """Every activation on every float-output conv, RELU_N1_TO_1 included (the converter never
    writes it): the delegate either computes what LCE computes or refuses the model."""
    ran = refused = 0
    for content in random_models.values():
        convs = [op for op in lce_ops(content) if op["op"] == "LceBconv2d"]
        for which, op in enumerate(convs):
            if op["output_kind"] != "float32":
                continue
            for activation in (RELU, RELU_N1_TO_1, RELU6):
                changed = set_custom_options(content, "LceBconv2d", {"fused_activation_function": activation}, which)
                inputs = random_inputs(changed, SEED)
                try:
                    actual = run_delegate(changed, inputs, library)
                except (RuntimeError, ValueError) as error:
                    assert f"LceBconv2d node {op['node']}: pad_values=0 with SAME padding" in str(error)
                    refused += 1
                    continue
                assert compare_outputs(lce_reference(changed, inputs), actual) == [], (op, activation)
                ran += 1
    assert ran >= 9 and refused >= 3


# --- the check script for other machines ---------------------------------------------------

# Run before the script: importing TensorFlow, larq or LCE fails, as on a device without them.
BLOCK_TENSORFLOW = textwrap.dedent("""
    import importlib.abc, runpy, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "tf_keras", "keras", "larq", "larq_compute_engine"):
                raise ImportError("blocked for this test: " + name)
    sys.meta_path.insert(0, Block())
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


def _run_check_script(folder, library, *args, kernel=None):
    env = {key: value for key, value in os.environ.items() if key != "BCN_LCE_KERNEL"}
    env.update({ENV_VAR: library, **({"BCN_LCE_KERNEL": kernel} if kernel else {})})
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TENSORFLOW, str(CHECK_SCRIPT), str(folder), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_check_script_passes_saved_cases_without_tensorflow(random_cases, library, kernels):
    result = _run_check_script(random_cases, library, "--threads", "1", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "0 mismatches" in result.stderr
    assert f"kernels {', '.join(k or 'default' for k in kernels)} and threads 1, 2" in result.stderr
    result = _run_check_script(random_cases, library, kernel="scalar")  # as the delegate reads it
    assert result.returncode == 0 and "kernels scalar and threads 1:" in result.stderr, result.stderr


def test_check_script_takes_its_kernel_names_from_the_library(random_cases, library):
    """The paths come from the library's own table: a name it lacks is refused in one line."""
    from lce_parity_check import library_kernels

    assert library_kernels(library)[-1] == "scalar"  # the reference, last in the table
    result = _run_check_script(random_cases, library, "--kernel", "scalar", "sse9")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == f"unknown kernel sse9 (the library has {', '.join(library_kernels(library))})"


def test_check_script_reports_each_mismatch_on_one_line(random_cases, library, kernels, tmp_path):
    for name in ("random0", "random1"):
        for suffix in (".tflite", ".npz"):
            shutil.copy(random_cases / f"{name}{suffix}", tmp_path)
    with np.load(tmp_path / "random1.npz") as data:
        arrays = dict(data)
    bitpacked = [i for i, name in enumerate(arrays["output_names"]) if "(bitpacked)" in name][0]
    arrays[f"output_{bitpacked}"].flat[3] ^= 1 << 7
    np.savez(tmp_path / "random1.npz", **arrays)
    result = _run_check_script(tmp_path, library)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(kernels), lines  # one per kernel path run, each naming the case and output
    for line, kernel in zip(lines, kernels):
        assert line.startswith(f"random1.tflite kernel={kernel or 'default'} threads=1: output {bitpacked} (Lce")
        assert "(bitpacked)): 1 of" in line and "values differ" in line


def test_check_script_fails_on_a_folder_without_cases(tmp_path, library):
    result = _run_check_script(tmp_path, library)
    assert result.returncode == 2 and "no <name>.tflite + <name>.npz pairs" in result.stderr
