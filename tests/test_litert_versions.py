"""bcn's LCE delegate in other Python interpreters for TFLite than the one bcn installs.

The delegate is a TFLite external delegate built against LiteRT's C ABI as declared in
runtime/native/include/bcn_lce/tflite_abi.h, so it must load and compute LCE's results in an
older ai-edge-litert and in tflite-runtime, the wheel before it (still what some Raspberry Pi
images have). For each interpreter in INTERPRETERS: a venv of its own holding just it and
numpy<2, and in it tests/lce_parity_check.py on parity cases written here with LCE's
interpreter, with `--delegate` naming the library installed with bcn. Every LCE op of the
cases is a custom op only the delegate runs, so a delegate that does not load or claim them
fails the check ("cannot run"), as does any output that differs from LCE's.

The newest ai-edge-litert is the one bcn installs; tests/test_lce_parity.py runs the same
check with it. The venvs are kept in $BCN_LITERT_CACHE (default ~/.cache/bcn-litert), one per
interpreter and Python version: the first run installs them from PyPI (a few seconds each),
later runs reuse them.
"""

import fcntl
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # minutes of training or several runtimes: out of the fast lane

pytest.importorskip("larq_compute_engine")  # the reference outputs: LCE's interpreter
if platform.machine().lower() not in ("x86_64", "amd64"):
    pytest.skip("LCE's interpreter, the reference, runs on x86_64 here", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]
CHECK_SCRIPT = REPO / "tests" / "lce_parity_check.py"
CACHE = Path(os.environ.get("BCN_LITERT_CACHE", Path.home() / ".cache" / "bcn-litert"))
PYTHON_TAG = f"cp{sys.version_info.major}{sys.version_info.minor}"
# pip requirement -> the distribution and the module the check script imports from it.
INTERPRETERS = {
    "ai-edge-litert==2.1.6": ("ai-edge-litert", "ai_edge_litert.interpreter"),
    "tflite-runtime==2.14.0": ("tflite-runtime", "tflite_runtime.interpreter"),
}
DISTRIBUTIONS = sorted({distribution for distribution, _ in INTERPRETERS.values()})
NUMPY = "numpy<2"  # what these wheels were built against
SUMMARY = re.compile(
    r"^(\d+) cases, (\d+) outputs checked with kernels (.+) and threads (.+): (\d+) mismatches", re.MULTILINE
)
# pip's words for "no such version for this Python and platform", and for a network that failed.
NO_WHEEL = ("No matching distribution found", "Could not find a version that satisfies")
NETWORK = (
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "Network is unreachable",
)
# What the venv reports: the interpreter distributions it holds and their versions.
REPORT = (
    "import json, importlib.metadata as m\n"
    "found = {}\n"
    f"for name in {DISTRIBUTIONS!r} + ['numpy']:\n"
    "    try: found[name] = m.version(name)\n"
    "    except m.PackageNotFoundError: pass\n"
    "print(json.dumps(found))"
)


def _clean_env() -> dict:
    """The environment for the venv's Python: nothing from this one's packages or settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "BCN_LCE_DELEGATE", "BCN_LCE_KERNEL")
    }
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _installed(python: Path) -> dict | None:
    """{distribution: version} of the venv at `python`, None if it cannot run."""
    if not python.is_file():
        return None
    done = subprocess.run([str(python), "-c", REPORT], capture_output=True, text=True, env=_clean_env(), timeout=60)
    return json.loads(done.stdout) if done.returncode == 0 else None


def _pip_supports_python_option() -> bool:
    """pip 22.3 and later install into another interpreter's environment (--python)."""
    from importlib.metadata import version

    major, minor = (int(part) for part in version("pip").split(".")[:2])
    return (major, minor) >= (22, 3)


def _make_venv(folder: Path, requirement: str) -> None:
    """A venv in `folder` with exactly `requirement` and numpy<2 from pip, binary wheels only;
    pytest.skip when pip has no wheel of them for this Python and platform."""
    shutil.rmtree(folder, ignore_errors=True)
    borrow_pip = _pip_supports_python_option()  # no pip of its own: quicker to make, smaller
    subprocess.run(
        [sys.executable, "-m", "venv", *(["--without-pip"] if borrow_pip else []), str(folder)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    python = folder / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)] if borrow_pip else [str(python), "-m", "pip"]
    done = subprocess.run(
        [*pip, "install", "--no-input", "--disable-pip-version-check", "--only-binary=:all:", requirement, NUMPY],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=600,
    )
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        output = done.stdout + done.stderr
        if any(words in output for words in NO_WHEEL) and not any(words in output for words in NETWORK):
            missing = re.findall(r"No matching distribution found for (\S+)", output)
            pytest.skip(
                f"pip has no wheel of {', '.join(missing) or requirement} for Python "
                f"{platform.python_version()} on {sys.platform} {platform.machine()}"
            )
        pytest.fail(f"pip install {requirement} '{NUMPY}' failed (exit {done.returncode}):\n{output[-3000:]}")


def interpreter_venv(requirement: str) -> Path:
    """The Python of a venv holding `requirement` (pinned, "name==version") and numpy<2 only:
    the cached one when it is whole and holds just that, else made anew."""
    distribution, _ = INTERPRETERS[requirement]
    wanted_version = requirement.split("==")[1]
    folder = CACHE / f"{requirement.replace('==', '-')}-{PYTHON_TAG}"
    python = folder / "bin" / "python"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:  # one pytest making it at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _installed(python)
        if found is None or found.get(distribution) != wanted_version or len(found) != 2:
            _make_venv(folder, requirement)
            found = _installed(python)
    assert found is not None and found.get(distribution) == wanted_version, found
    others = set(found) - {distribution, "numpy"}
    assert not others, f"{folder} also holds {others}"
    assert found["numpy"].split(".")[0] == "1", found
    return python


@pytest.fixture(scope="session")
def library() -> str:
    from bcn.errors import BcnError
    from bcn.runtime.delegate import library_path

    try:
        return str(library_path())
    except BcnError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def parity_cases(tmp_path_factory) -> Path:
    """The random models whole and each of their LCE ops alone, with LCE's outputs."""
    from lce_models import write_portable_cases

    folder = tmp_path_factory.mktemp("litert_versions_cases")
    write_portable_cases(folder, presets=(), seed=0, log=lambda *_: None)
    return folder


@pytest.mark.parametrize("requirement", list(INTERPRETERS))
def test_delegate_matches_lce_in_interpreter(requirement, parity_cases, library):
    python = interpreter_venv(requirement)
    done = subprocess.run(
        [str(python), str(CHECK_SCRIPT), str(parity_cases), "--delegate", library, "--threads", "1", "2"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=300,
    )
    report = f"{requirement}: exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert done.returncode == 0, report
    assert done.stdout == "", report  # no mismatch lines
    summary = SUMMARY.search(done.stderr)
    assert summary, report
    cases = len(list(parity_cases.glob("*.tflite")))
    assert int(summary[1]) == cases > 20, report
    assert int(summary[2]) > 0, report  # outputs compared
    assert int(summary[5]) == 0, report
    assert "scalar" in summary[3] and summary[4] == "1, 2", report
    assert f"({library})" in done.stderr, report


def test_check_script_without_an_interpreter_says_so(tmp_path, library):
    """Neither ai-edge-litert nor tflite-runtime importable: exit 2 and one line saying so."""
    for suffix in (".tflite", ".npz"):
        (tmp_path / f"case{suffix}").write_bytes(b"")
    block = (
        "import importlib.abc, runpy, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('ai_edge_litert', 'tflite_runtime'):\n"
        "            raise ModuleNotFoundError('blocked: ' + name, name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", block, str(CHECK_SCRIPT), str(tmp_path), "--delegate", library],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == "no LiteRT interpreter: pip install ai-edge-litert (or tflite-runtime)"
