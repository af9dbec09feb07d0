"""Building runtime/native for a test: configure with CMake, build one target, fail with the log."""

import shutil
import subprocess
from pathlib import Path

NATIVE = Path(__file__).resolve().parents[1] / "runtime" / "native"


def run_or_fail(command: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `command`; a non-zero exit fails the test with the command and its output."""
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}{done.stderr}"
    return done


def build_native(build: Path, target: str, *cmake_options: str, env: dict | None = None) -> Path:
    """Configure runtime/native into `build` (Ninja when installed) with `cmake_options`, build `target`
    on two jobs, and return the build folder."""
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    run_or_fail(["cmake", "-S", str(NATIVE), "-B", str(build), *generator, *cmake_options], env)
    run_or_fail(["cmake", "--build", str(build), "--target", target, "--parallel", "2"], env)
    return build
