"""benchmarks/qemu_plugin/count_insns.c counts the guest instructions a process executes.

The plugin is built with the host's gcc and loaded into Debian's dynamic qemu-aarch64; a tiny
static aarch64 program, cross-compiled here, spins a loop of exactly two instructions N times.
Between two values of N the count must grow by two per iteration: every execution of a
translated block is counted, also when QEMU chains the loop's block to itself.
"""

import platform
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGIN_SOURCE = REPO / "benchmarks" / "qemu_plugin" / "count_insns.c"
TOOLS = {"qemu-aarch64": "qemu-user", "aarch64-linux-gnu-gcc": "g++-aarch64-linux-gnu", "gcc": "gcc"}
LOOP = r"""
#include <stdlib.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], 0, 10) : 0;
    if (n > 0)
        __asm__ volatile("1: subs %0, %0, #1\n\tb.ne 1b" : "+r"(n) : : "cc");
    return 0;
}
"""


def _why_not() -> str | None:
    if platform.system() != "Linux":
        return "QEMU user-mode emulation runs on Linux"
    missing = sorted({package for tool, package in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        return f"needs {', '.join(missing)}: apt-get install -y --no-install-recommends {' '.join(missing)}"
    return None


WHY_NOT = _why_not()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(WHY_NOT is not None, reason=str(WHY_NOT))]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qemu_plugin")
    plugin, program = folder / "count_insns.so", folder / "loop"
    (folder / "loop.c").write_text(LOOP)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(plugin), str(PLUGIN_SOURCE)], check=True)
    subprocess.run(["aarch64-linux-gnu-gcc", "-static", "-O1", "-o", str(program), str(folder / "loop.c")], check=True)
    return folder, plugin, program


def count(built, iterations: int, cpu: str = "cortex-a72") -> int:
    folder, plugin, program = built
    out = folder / f"count-{cpu}-{iterations}"
    subprocess.run(
        ["qemu-aarch64", "-plugin", f"{plugin},out={out}", "-cpu", cpu, str(program), str(iterations)],
        check=True,
        timeout=120,
    )
    return int(out.read_text())


@pytest.mark.parametrize("cpu", ["cortex-a72", "cortex-a76"])
def test_counts_two_instructions_per_loop_iteration(built, cpu):
    few, many = count(built, 1000, cpu), count(built, 2_001_000, cpu)
    assert 1000 < few < 10_000_000, few  # a static program's start and exit, plus the loop
    per_iteration = (many - few) / 2_000_000
    assert per_iteration == pytest.approx(2, abs=0.001), (few, many)


def test_same_run_same_count(built):
    assert count(built, 5000) == count(built, 5000)


def test_plugin_needs_an_output_file(built):
    folder, plugin, program = built
    done = subprocess.run(
        ["qemu-aarch64", "-plugin", str(plugin), str(program), "1"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "out=FILE" in done.stderr
