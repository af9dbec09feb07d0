"""Model files are untrusted: crafted LCE flatbuffers against bcn's delegate.

Every crafted model the delegate cannot run fails as one line naming op, node and field, from
allocate_tensors() (LiteRT refuses some itself, as it loads them), and never crashes:
- tests/delegate_regressions.json, every crash class ever found (tests/lce_crafted.py builds
  them), through lce_delegate() in this process and through bcn detect, bench and eval;
- the same cases and a seeded structure-aware fuzzing run (tests/fuzz_delegate.py) against an
  ASan/UBSan build of the delegate, in child processes: a crash there is a test failure that
  names the mutant to add to the regression cases.
"""

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from lce_crafted import as_expected, build, first_op, mutate, run_model, run_recipe
from native_build import build_native
from runtime_models import shared_models

from bcn.cli import main
from bcn.runtime import delegate

HERE = Path(__file__).resolve().parent
REGRESSIONS = json.loads((HERE / "delegate_regressions.json").read_text())
# The fuzzing run CI makes: seeded, so every run tries the same mutants (about a minute and a
# half on two cores under the sanitizers). Other seeds find other mutants: run
# `python tests/fuzz_delegate.py LIB --sanitized --seed N --count M` to look further.
FUZZ_SEED, FUZZ_COUNT = 0, 10000


@pytest.fixture(autouse=True)
def installed_library(monkeypatch):
    monkeypatch.delenv(delegate.ENV_VAR, raising=False)


def _refusal(case) -> bool:
    return case["expect"] != "ok" and not case["expect"].startswith(("construct: ", "invoke: "))


@pytest.mark.parametrize("case", REGRESSIONS, ids=[case["name"] for case in REGRESSIONS])
def test_regression_case(case):
    """Each case as expected with the installed delegate: refused from allocate_tensors(), or run."""
    result = run_recipe(case, str(delegate.library_path()))
    assert as_expected(case, result), f"{case['why']}: got {result!r}, expected {case['expect']!r}"


def test_refusals_reach_lce_delegate_users_from_allocate_tensors():
    """Through lce_delegate(), as a Python user writes it: the interpreter builds, allocate_tensors() raises
    with the delegate's line first."""
    from bcn.runtime import lce_delegate
    from bcn.runtime.engines import tflite_module

    module, _ = tflite_module(allow_tensorflow=False)
    for case in [case for case in REGRESSIONS if _refusal(case) and not case.get("resizes")]:
        interpreter = module.Interpreter(
            model_content=build(case["base"], case.get("mutations", ())), experimental_delegates=[lce_delegate()]
        )
        with pytest.raises(RuntimeError) as error:
            interpreter.allocate_tensors()
        assert case["expect"] in str(error.value).splitlines()[0], (case["name"], str(error.value))


@pytest.fixture(scope="module")
def crafted_detector(tmp_path_factory):
    """bcn's tiny binary detector (with its metadata) whose first LceBconv2d filter is sparse and 8 bytes long,
    and the same detector without that op (the op after it reads a tensor nothing writes)."""
    content = shared_models(tmp_path_factory)["binary"].read_bytes()
    node, inputs = first_op(content, "LceBconv2d")
    folder = tmp_path_factory.mktemp("crafted")
    sparse_filter = [["sparse", inputs[1]], ["buffer_size", inputs[1], 8]]
    (folder / "sparse-filter.tflite").write_bytes(mutate(content, sparse_filter))
    (folder / "dangling.tflite").write_bytes(mutate(content, [["drop_op", node]]))
    return folder / "sparse-filter.tflite", node, folder / "dangling.tflite"


def test_crafted_model_is_one_line_exit_2_in_every_command(crafted_detector, synth_voc, tmp_path):
    path, node, dangling = crafted_detector
    import cv2
    import numpy as np

    image = tmp_path / "image.png"
    cv2.imwrite(str(image), np.zeros((48, 64, 3), np.uint8))
    for args in (
        ["detect", str(path), "--source", str(image)],
        ["bench", str(path), "--runs", "1", "--warmup", "0"],
        ["eval", str(path), "--data", str(synth_voc)],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, (args[0], result.output)
        lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
        assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: "), (args[0], result.output)
        assert f"LceBconv2d node {node}: filter is a sparse tensor" in lines[0], (args[0], result.output)


# --- under the sanitizers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sanitized_library(tmp_path_factory):
    """The delegate built with AddressSanitizer and UndefinedBehaviorSanitizer."""
    if shutil.which("cmake") is None or shutil.which("gcc") is None:
        pytest.skip("needs cmake and gcc")
    from fuzz_delegate import sanitizer_environment

    runtime = sanitizer_environment()["LD_PRELOAD"].split()[0]
    if not Path(runtime).is_file():
        pytest.skip("needs gcc's AddressSanitizer runtime (libasan)")
    options = ("-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DBCN_LCE_SANITIZE=ON")
    build_dir = build_native(tmp_path_factory.mktemp("asan"), "bcn_lce_delegate", *options)
    return str(build_dir / delegate.LIBRARY_NAME)


def _crash_report(crashes) -> str:
    return "\n\n".join(f"recipe {json.dumps(recipe)} crashed:\n{log}" for _, recipe, log in crashes)


@pytest.mark.slow
def test_regression_cases_under_sanitizers(sanitized_library):
    from fuzz_delegate import run_recipes

    results, crashes = run_recipes(REGRESSIONS, sanitized_library, sanitized=True)
    assert not crashes, _crash_report(crashes)
    wrong = [(case["name"], result) for case, result in zip(REGRESSIONS, results) if not as_expected(case, result)]
    assert not wrong


@pytest.mark.slow
def test_fuzzing_finds_no_crash_under_sanitizers(sanitized_library):
    """A seeded, bounded run of structure-aware mutants (options, shapes, ranks, types, buffers, sparsity,
    constness, quantization, op codes, tensor indices, resizes): none crashes, hangs or trips a sanitizer."""
    from fuzz_delegate import mutant, run_recipes

    recipes = [mutant(FUZZ_SEED, n) for n in range(FUZZ_COUNT)]
    results, crashes = run_recipes(recipes, sanitized_library, sanitized=True)
    assert not crashes, _crash_report(crashes)
    stages = {result.split(":")[0] for result in results}
    # The mutants reach every stage: refused by LiteRT, refused by the delegate, run.
    assert {"ok", "allocate", "construct"} <= stages, stages
    # Refused at allocation: by the delegate, in one line naming op, node and field, or by LiteRT
    # itself for a tensor index out of range.
    refused = [result[len("allocate: ") :] for result in results if result.startswith("allocate: ")]
    others = [result for result in refused if not re.match(r"Lce\w+ node \d+: \S", result)]
    assert all(result.startswith("Invalid tensor index") for result in others), others[:5]
    assert len(others) < len(refused) / 4


def test_mutants_are_reproducible():
    from fuzz_delegate import mutant

    assert mutant(3, 17) == mutant(3, 17) and mutant(3, 17) != mutant(3, 18)
    assert build("int8", mutant(0, 5)["mutations"]) == build("int8", mutant(0, 5)["mutations"])


def test_run_model_reports_the_stage():
    """run_model's result names where a model stopped, which the regression cases rely on."""
    assert run_model(build("float"), str(delegate.library_path())) == "ok"
    short = run_model(build("float", [["buffer_size", "bias", 12]]), str(delegate.library_path()))
    assert short.startswith("construct: ")


def test_model_failing_only_when_it_runs_is_one_line_exit_2(crafted_detector, tmp_path):
    """Allocation passes, the first invoke fails (LiteRT: a tensor no op writes): still one line, exit 2."""
    _, _, dangling = crafted_detector
    import cv2
    import numpy as np

    image = tmp_path / "image.png"
    cv2.imwrite(str(image), np.zeros((48, 64, 3), np.uint8))
    result = CliRunner().invoke(main, ["detect", str(dangling), "--source", str(image)])
    assert result.exit_code == 2, result.output
    assert f"Error: {dangling}: the tflite interpreter cannot run it (" in result.output, result.output
