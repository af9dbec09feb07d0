"""The delegate's native kernel tests (runtime/native/tests), built with AddressSanitizer and
UndefinedBehaviorSanitizer and run as a real process: any out-of-bounds read, overflow or
leak fails the test with the sanitizer's report."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

NATIVE = Path(__file__).resolve().parents[1] / "runtime" / "native"


@pytest.mark.skipif(
    shutil.which("cmake") is None or shutil.which("c++") is None, reason="needs cmake and a C++ compiler"
)
def test_kernels_under_sanitizers(tmp_path):
    build = tmp_path / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1")
    for command in (
        [
            "cmake",
            "-S",
            str(NATIVE),
            "-B",
            str(build),
            *generator,
            "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
            "-DBCN_LCE_TESTS=ON",
            "-DBCN_LCE_SANITIZE=ON",
        ],
        ["cmake", "--build", str(build), "--parallel", "2"],
        ["ctest", "--test-dir", str(build), "--output-on-failure"],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}{done.stderr}"
    assert "100% tests passed" in done.stdout


@pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-g++") is None or shutil.which("qemu-aarch64-static") is None,
    reason="needs g++-aarch64-linux-gnu and qemu-user-static (apt-get install them)",
)
def test_kernels_on_emulated_aarch64(tmp_path):
    """The same tests built for aarch64 and run under QEMU: the NEON path against the scalar one."""
    build = tmp_path / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    for command in (
        [
            "cmake",
            "-S",
            str(NATIVE),
            "-B",
            str(build),
            *generator,
            "-DCMAKE_BUILD_TYPE=Release",
            "-DBCN_LCE_TESTS=ON",
            f"-DCMAKE_TOOLCHAIN_FILE={NATIVE / 'cmake' / 'aarch64-linux-gnu.cmake'}",
            "-DCMAKE_EXE_LINKER_FLAGS=-static",
        ],
        ["cmake", "--build", str(build), "--target", "bcn_lce_tests", "--parallel", "2"],
    ):
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}{done.stderr}"
    done = subprocess.run(
        ["qemu-aarch64-static", "-cpu", "cortex-a72", str(build / "bcn_lce_tests")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kernel paths on this CPU: neon, scalar" in done.stdout
    assert "neon: 160 convolutions equal to scalar" in done.stdout
