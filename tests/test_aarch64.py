"""The Raspberry Pi runtime on aarch64, under QEMU user-mode emulation of a Cortex-A72.

docker/check-runtime-aarch64.sh makes a Debian Bookworm arm64 root with Python 3.11, the
runtime extra's dependencies as pip resolves them on aarch64, and bcn's LCE delegate
cross-compiled for aarch64, then runs bcn there. Binary (LCE) models run as on a Pi: stock
LiteRT with the delegate, no LCE wheel. Results are compared with this machine's, and the
delegate with LCE's interpreter through the parity suite's cases (tests/lce_models.py); crafted
models (tests/delegate_regressions.json) must be refused there as on x86_64.

The root is kept in $BCN_AARCH64_WORKDIR (default ~/.cache/bcn-aarch64): the first run makes
it (a few minutes; needs PyPI and a Debian mirror), later runs reuse it.
"""

import json
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from runtime_models import shared_models

from bcn.cli import main

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "docker" / "check-runtime-aarch64.sh"
WORKDIR = Path(os.environ.get("BCN_AARCH64_WORKDIR", Path.home() / ".cache" / "bcn-aarch64"))
TOOLS = {
    "qemu-aarch64-static": "qemu-user-static",
    "debootstrap": "debootstrap",
    "aarch64-linux-gnu-g++": "g++-aarch64-linux-gnu",
    "cmake": "cmake",
}
IMAGE_SIZES = {"000005": (96, 128), "000017": (120, 80)}  # id -> (height, width)


def _why_not() -> str | None:
    if platform.system() != "Linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        return "emulates aarch64 on an x86_64 Linux machine"
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])  # debootstrap
    missing = sorted({package for tool, package in TOOLS.items() if shutil.which(tool, path=search) is None})
    if missing:
        return f"needs {', '.join(missing)}: apt-get install -y --no-install-recommends {' '.join(missing)}"
    if os.geteuid() != 0:
        return "needs root (debootstrap, a private mount over /proc/cpuinfo)"
    return None


WHY_NOT = _why_not()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(WHY_NOT is not None, reason=str(WHY_NOT)),
    # The first run makes the arm64 root; the models then run about 20x slower than natively.
    pytest.mark.timeout(1800),
]


@pytest.fixture(scope="module")
def aarch64():
    """run(*args) -> the script's CompletedProcess: `bcn ARGS` on aarch64 (or `python SCRIPT ...`)."""

    def run(*args, timeout=1200):
        done = subprocess.run(
            [str(SCRIPT), str(WORKDIR), *map(str, args)], capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
        return done

    # Setup, from scratch the first time; the banner line says what runs there.
    done = run("--version", timeout=1500)
    assert "bcn on aarch64 Python 3.11" in done.stderr and "ai-edge-litert" in done.stderr, done.stderr
    return run


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return shared_models(tmp_path_factory)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Two pictures of different sizes and aspect ratios, so boxes go through the letterbox both ways."""
    folder = tmp_path_factory.mktemp("images")
    for seed, (name, (height, width)) in enumerate(IMAGE_SIZES.items()):
        rng = np.random.default_rng(seed)
        image = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
        for _ in range(3):
            x, y = int(rng.integers(0, width - 20)), int(rng.integers(0, height - 20))
            cv2.rectangle(image, (x, y), (x + 20, y + 20), tuple(int(c) for c in rng.integers(100, 255, 3)), -1)
        cv2.imwrite(str(folder / f"{name}.jpg"), image)
    return folder


def _assert_same_detections(aarch64: list[dict], x86: list[dict]) -> None:
    """One aarch64 detection per x86 one: same image and class, score and box equal up to float
    rounding (XNNPACK's float kernels differ in the last bits between NEON and AVX)."""
    assert len(aarch64) == len(x86) > 0
    left = list(aarch64)
    for want in x86:
        match = next(
            (
                got
                for got in left
                if got["image_id"] == want["image_id"]
                and got["class"] == want["class"]
                and abs(got["score"] - want["score"]) <= 1e-4
                and np.allclose(got["bbox"], want["bbox"], rtol=0, atol=0.02)
            ),
            None,
        )
        assert match is not None, f"no aarch64 detection like this x86 one: {want}"
        left.remove(match)


def test_detect_binary_model_through_the_delegate_matches_x86(aarch64, models, images, tmp_path):
    x86_json, aarch64_json = tmp_path / "x86.json", tmp_path / "aarch64.json"
    result = CliRunner().invoke(
        main,
        ["detect", str(models["binary"]), "--engine", "tflite", "--source", str(images), "--json-out", str(x86_json)],
    )
    assert result.exit_code == 0, result.output

    done = aarch64("detect", models["binary"], "--engine", "tflite", "--source", images, "--json-out", aarch64_json)
    assert "processed 2" in done.stderr, done.stderr
    got, want = json.loads(aarch64_json.read_text()), json.loads(x86_json.read_text())
    assert {d["image_id"] for d in want} == set(IMAGE_SIZES)
    _assert_same_detections(got, want)


def test_bench_binary_model_and_float_twin(aarch64, models, tmp_path):
    report = tmp_path / "bench.json"
    aarch64(
        "bench",
        models["binary"],
        models["float32"],
        "--engine",
        "tflite",
        "--runs",
        "2",
        "--warmup",
        "1",
        "--json",
        report,
    )
    data = json.loads(report.read_text())
    assert data["machine"]["arch"] == "aarch64" and "ai-edge-litert" in data["libraries"]
    results = {r["variant"]: r for r in data["results"]}
    assert set(results) == {"binary", "float32"}
    assert results["binary"]["engine"] == "tflite" and "bcn-lce delegate" in results["binary"]["library"]
    assert results["binary"]["options"]["kernel"] == "neon"  # the delegate's best path on a Cortex-A72
    assert "bcn-lce delegate" not in results["float32"]["library"]
    for r in results.values():
        assert 0 < r["latency_ms"]["min"] <= r["latency_ms"]["p50"] and r["runs"] == 2


def test_delegate_matches_lce_bit_for_bit(aarch64, models, tmp_path):
    """The parity suite's single-op cases, written here with LCE's outputs, checked on aarch64
    with the delegate's NEON kernels (its default there) and its scalar ones.

    Single ops only: whole models also hold float ops, which XNNPACK rounds differently on
    NEON and AVX; each LCE op alone must give LCE's result exactly on any CPU.
    """
    pytest.importorskip("larq_compute_engine")  # the reference: LCE's interpreter, on x86_64
    from lce_models import build_recipe, convert, random_recipes, write_op_cases

    folder = tmp_path / "cases"
    written = write_op_cases(folder, "bcn-tiny", models["binary"].read_bytes())
    for number, recipe in enumerate(random_recipes(0)):
        written += write_op_cases(folder, recipe.name, convert(build_recipe(recipe, 0)), seed=number)
    done = aarch64(
        "python", REPO / "tests" / "lce_parity_check.py", folder, "--kernel", "neon", "scalar", "--threads", "1", "2"
    )
    summary = re.search(r"(\d+) cases, (\d+) outputs checked .*: (\d+) mismatches", done.stderr)
    assert summary and int(summary[1]) == len(written) > 40 and int(summary[3]) == 0, done.stdout + done.stderr


def test_crafted_models_are_refused_on_aarch64(aarch64):
    """The delegate's regression cases (tests/delegate_regressions.json, built there by tests/lce_crafted.py):
    each crafted model refused as one line from allocate_tensors(), or run, never a crash, on aarch64 too."""
    cases = json.loads((REPO / "tests" / "delegate_regressions.json").read_text())
    skipped = sum("aarch64" in case.get("skip_on", {}) for case in cases)  # LiteRT's own crashes there
    done = aarch64("python", REPO / "tests" / "lce_crafted.py", "--check", REPO / "tests" / "delegate_regressions.json")
    summary = f"{len(cases)} cases: {len(cases) - skipped} as expected, 0 not, {skipped} skipped on aarch64"
    assert summary in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
