"""Instructions bcn's NEON binary convolution executes per 512 binary MACs, for q1 at 512, under QEMU.

Cross-builds the delegate's kernel benchmark (runtime/native/tests/bench_kernels.cc) for aarch64,
runs each q1 encoder scale's 3x3 binary convolution (128 px x 128 ch, 64 x 256, 32 x 324,
16 x 512) once and three times under qemu-aarch64 with the instruction-counting plugin
(benchmarks/qemu_plugin/count_insns.c), and takes half the difference as one convolution's
instructions: setup and process start cancel out. Counts are exact and do not depend on the
host or its load; they are a proxy of cost, not a time (see arm_emulated.md).

    python benchmarks/neon_insns.py            # writes benchmarks/neon_insns.{md,json}

The XOR, CNT and accumulate of each 128-bit vector alone take 12 instructions per 512 binary
MACs: that is the floor the table compares with. Needs cmake, the aarch64 cross compiler
(g++-aarch64-linux-gnu) and the dynamic qemu-aarch64 (qemu-user), which loads plugins.
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import command, commit

from bcn.io import write_json, write_text

HERE = Path(__file__).resolve().parent
NATIVE = HERE.parent / "runtime" / "native"
PLUGIN_SOURCE = HERE / "qemu_plugin" / "count_insns.c"
CPU = "cortex-a76"
LAYERS = range(4)  # bench_kernels' q1 scales
BLOCKS_PER_SCALE = 4  # q1: qn([4x128, 4x256, 4x324, 4x512])
FLOOR = 12  # EOR, CNT and an accumulate per 128 bits: 3 instructions per 128 binary MACs
TOOLS = {"cmake": "cmake", "aarch64-linux-gnu-g++": "g++-aarch64-linux-gnu", "qemu-aarch64": "qemu-user"}


def build(folder: Path) -> tuple[Path, Path]:
    """The static aarch64 kernel benchmark and the counting plugin, built in `folder`."""
    toolchain = NATIVE / "cmake" / "aarch64-linux-gnu.cmake"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    configure = ["cmake", "-S", str(NATIVE), "-B", str(folder / "build"), *generator, "-DCMAKE_BUILD_TYPE=Release"]
    configure += ["-DBCN_LCE_TESTS=ON", f"-DCMAKE_TOOLCHAIN_FILE={toolchain}", "-DCMAKE_EXE_LINKER_FLAGS=-static"]
    subprocess.run(configure, check=True, capture_output=True)
    subprocess.run(
        ["cmake", "--build", str(folder / "build"), "--target", "bcn_lce_bench", "--parallel", "2"],
        check=True,
        capture_output=True,
    )
    plugin = folder / "count_insns.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(plugin), str(PLUGIN_SOURCE)], check=True)
    return folder / "build" / "bcn_lce_bench", plugin


def count(bench: Path, plugin: Path, layer: int, output: str, runs: int, folder: Path) -> tuple[dict, int]:
    """(the benchmark's row, instructions of the whole process) for `runs` convolutions of one layer."""
    counter = folder / f"count-{layer}-{output}-{runs}"
    done = subprocess.run(
        ["qemu-aarch64", "-plugin", f"{plugin},out={counter}", "-cpu", CPU, str(bench), "count", str(layer), output]
        + [str(runs)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout), int(counter.read_text())


def measure(bench: Path, plugin: Path, folder: Path) -> list[dict]:
    rows = []
    for layer in LAYERS:
        for output in ("float32", "int8"):
            row, once = count(bench, plugin, layer, output, 1, folder)
            _, thrice = count(bench, plugin, layer, output, 3, folder)
            insns = (thrice - once) / 2
            rows.append({**row, "insns": insns, "per_512": insns / row["macs"] * 512})
    return rows


def markdown(rows: list[dict], report: dict) -> str:
    lines = [
        "# NEON binary convolution: instructions per 512 binary MACs (q1 at 512, QEMU)",
        "",
        f"Made by `{report['command']}` at commit {report['commit']}, {report['measured']}: "
        "runtime/native/tests/bench_kernels.cc cross-built for aarch64, each layer run once and three "
        f"times under `qemu-aarch64 -cpu {CPU}` with benchmarks/qemu_plugin/count_insns.c, half the "
        "difference taken. Exact counts, independent of the host; a proxy of cost, not a time. "
        f"Floor: {FLOOR} (EOR, CNT and an accumulate per 128 bits, nothing else).",
        "",
        "| layer (px, ch) | output | M binary MACs | M instructions | per 512 binary MACs | over the floor |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']}, {r['channels']} | {r['output']} | {r['macs'] / 1e6:.0f} | {r['insns'] / 1e6:.2f} "
            f"| {r['per_512']:.2f} | {r['per_512'] / FLOOR - 1:+.1%} |"
        )
    lines += ["", f"q1's binary convolutions ({BLOCKS_PER_SCALE} per scale), summed from the rows above:", ""]
    for output in ("float32", "int8"):
        mine = [r for r in rows if r["output"] == output]
        macs, insns = sum(r["macs"] for r in mine), sum(r["insns"] for r in mine)
        lines.append(
            f"- {output} output: {BLOCKS_PER_SCALE * insns / 1e9:.3f} G instructions for "
            f"{BLOCKS_PER_SCALE * macs / 1e9:.1f} G binary MACs: {insns / macs * 512:.2f} per 512"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    missing = [package for tool, package in TOOLS.items() if not shutil.which(tool)]
    if missing:
        print(f"neon_insns: needs the Debian packages {', '.join(missing)}", file=sys.stderr)
        return 2
    revision, started = commit(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory() as scratch:
        bench, plugin = build(Path(scratch))
        rows = measure(bench, plugin, Path(scratch))
    report = {"command": command(), "commit": revision, "measured": started, "cpu": CPU, "rows": rows}
    text = markdown(rows, report)
    write_text(HERE / "neon_insns.md", text)
    write_json(HERE / "neon_insns.json", report)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
