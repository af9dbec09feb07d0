"""The CLI as a user meets it: version, bad specs, missing extras."""

import subprocess
import sys

import pytest

import bcn


def run_bcn(*args, block=None):
    """Run `bcn` in a fresh interpreter; `block` names modules made unimportable."""
    prelude = ""
    if block:
        prelude = (
            "import sys, importlib.abc\n"
            "class Block(importlib.abc.MetaPathFinder):\n"
            f"    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in {tuple(block)!r}: raise ImportError('blocked ' + name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "import importlib.util\n"
            "_find = importlib.util.find_spec\n"
            f"importlib.util.find_spec = lambda n, *a: None if n.split('.')[0] in {tuple(block)!r} else _find(n, *a)\n"
        )
    code = prelude + f"import sys; sys.argv = ['bcn', *{list(args)!r}]\nfrom bcn.cli import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_version():
    result = run_bcn("--version")
    assert result.returncode == 0
    assert bcn.__version__ in result.stdout


@pytest.mark.parametrize(
    "spec, where",
    [
        ("qn([4x128]) tp(2)", "column 4"),
        ("q9", "unknown architecture 'q9'"),
        ("qn(512) qn([4x128, 4x256]) tp(2)([64]) h(-3)", "column 42"),
        ("qn(512) qn([4x128 4x256]) tp(2)([64]) h(32)", "column 19"),
        ("qn(500) qn([4x128, 4x256, 4x324, 4x512]) tp(2)([64, 64, 32]) h(32)", "multiple of 32"),
        ("qn(512) qn([4x128, 4x256, 4x324, 4x512]) tp(2)([64, 32]) h(32)", "needs 3"),
        ("qn(512) qn([4x128, 4x256]) tp(2)([64]) h(32) extra", "column 46"),
    ],
)
def test_bad_specs_are_one_line_errors(spec, where):
    result = run_bcn("arch", "info", spec)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert where in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("size", ["-64", "100", "0"])
def test_bad_input_sizes(size):
    result = run_bcn("arch", "info", "q1", "--input-size", size)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "input" in result.stderr.lower() or "input-size" in result.stderr


def test_missing_extra_prints_the_install_line():
    result = run_bcn("arch", "info", "q1", block=["tensorflow", "larq"])
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "pip install 'bcn[train]'" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "body, problem",
    [
        (
            "def build(input_size, num_classes, float_twin):\n    raise RuntimeError('no such layer')\n",
            "build() failed (RuntimeError: no such layer)",
        ),
        (
            "def build(input_size, num_classes, float_twin):\n    return None\n",
            "build() returned NoneType, not a Keras model",
        ),
    ],
)
def test_a_builder_that_fails_is_one_line(tmp_path, body, problem):
    builder = tmp_path / "mine.py"
    builder.write_text(body)
    result = run_bcn("arch", "info", str(builder))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"Error: {builder}: {problem}"


def test_a_spec_too_big_for_memory_is_refused_before_it_is_built(tmp_path):
    spec = "qn(64) qn([1x100000000, 1x64, 1x64, 1x128]) tp(2)([32, 32, 32]) h(16)"
    for args in (["arch", "info", spec], ["arch", "build", spec, "-o", str(tmp_path / "huge.h5")]):
        result = run_bcn(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("Error: qn(64) qn([1x100000000,") and "GiB" in last and "parameters" in last, last
    assert list(tmp_path.iterdir()) == []


def test_training_refuses_activations_that_cannot_fit(synth_voc, tmp_path):
    spec = "qn(16384) qn([1x256, 1x256, 1x256, 1x256]) tp(2)([32, 32, 32]) h(16)"
    result = run_bcn(
        "train", "--arch", spec, "--data", str(synth_voc), "--out", str(tmp_path / "run"), "--batch-size", "32"
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "activations per image x 32" in last and "GiB" in last, last
    assert not (tmp_path / "run").exists()


def test_arch_build_never_overwrites_its_builder(tmp_path):
    builder = tmp_path / "mine.py"
    builder.write_text("def build(input_size, num_classes, float_twin):\n    return None\n")
    result = run_bcn("arch", "build", str(builder), "-o", str(builder))
    assert result.returncode == 2, result.stderr
    # A builder is a .py file, which --output refuses before anything else: the model is .h5 or .keras.
    assert result.stderr.strip().splitlines()[-1] == f"Error: {builder}: --output must end in .h5 or .keras"
    assert "return None" in builder.read_text()
