"""The delegate's native kernel tests (runtime/native/tests), built with AddressSanitizer and
UndefinedBehaviorSanitizer and run as a real process: any out-of-bounds read, overflow or
leak fails the test with the sanitizer's report."""

import os
import shutil
import subprocess

import pytest
from native_build import NATIVE, build_native, run_or_fail


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("cmake") is None or shutil.which("c++") is None, reason="needs cmake and a C++ compiler"
)
def test_kernels_under_sanitizers(tmp_path):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1")
    options = ("-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DBCN_LCE_TESTS=ON", "-DBCN_LCE_SANITIZE=ON")
    build = build_native(tmp_path / "build", "all", *options, env=env)
    done = run_or_fail(["ctest", "--test-dir", str(build), "--output-on-failure"], env)
    assert "100% tests passed" in done.stdout


@pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-g++") is None or shutil.which("qemu-aarch64-static") is None,
    reason="needs g++-aarch64-linux-gnu and qemu-user-static (apt-get install them)",
)
def test_kernels_on_emulated_aarch64(tmp_path):
    """The same tests built for aarch64 and run under QEMU: the NEON path against the scalar one."""
    toolchain = NATIVE / "cmake" / "aarch64-linux-gnu.cmake"
    options = ("-DCMAKE_BUILD_TYPE=Release", "-DBCN_LCE_TESTS=ON", f"-DCMAKE_TOOLCHAIN_FILE={toolchain}")
    build = build_native(tmp_path / "build", "bcn_lce_tests", *options, "-DCMAKE_EXE_LINKER_FLAGS=-static")
    done = subprocess.run(
        ["qemu-aarch64-static", "-cpu", "cortex-a72", str(build / "bcn_lce_tests")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kernel paths on this CPU: neon, scalar" in done.stdout
    assert "neon: 160 convolutions equal to scalar" in done.stdout
