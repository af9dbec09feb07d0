"""The delegate's native kernel tests (runtime/native/tests), built with AddressSanitizer and
UndefinedBehaviorSanitizer and run as a real process: any out-of-bounds read, overflow or
leak fails the test with the sanitizer's report."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

NATIVE = Path(__file__).resolve().parents[1] / "runtime" / "native"


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("c++") is None, reason="needs cmake and a C++ compiler")
def test_kernels_under_sanitizers(tmp_path):
    build = tmp_path / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1")
    for command in (
        ["cmake", "-S", str(NATIVE), "-B", str(build), *generator, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
         "-DBCN_LCE_TESTS=ON", "-DBCN_LCE_SANITIZE=ON"],
        ["cmake", "--build", str(build), "--parallel", "2"],
        ["ctest", "--test-dir", str(build), "--output-on-failure"],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}{done.stderr}"
    assert "100% tests passed" in done.stdout
