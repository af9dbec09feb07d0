"""How close bcn's binary convolution comes to the port-bound ceiling of its instruction set, for q1 at 512.

Builds the delegate's kernel benchmark (runtime/native/tests/bench_kernels.cc) with CMake,
times one 3x3 binary convolution per q1 encoder scale (128 px x 128 ch, 64 x 256, 32 x 324,
16 x 512; q1 has 4 of each, 25.6 G binary MACs in all) on every kernel path this CPU has, with
float output (the binary model) and int8 output (binary-int8), at 1 and 2 threads, and compares
each with its path's port-bound ceiling at the clock measured just before it.

    python benchmarks/kernel_limits.py            # writes benchmarks/kernel_limits.{md,json}

Ceilings (binary MACs per cycle and core): AVX-512 VPOPCNTDQ 341 (XOR,
VPOPCNTD and ADD: 3 uops per 512 bits on the two 512-bit ports), AVX2 96 (nibble-lookup
popcount, about 8 uops per 256 bits on 3 vector ports), NEON 85 (EOR, CNT and an accumulate
per 128 bits on two ASIMD pipes). The clock is timed, not read: a chain of dependent one-cycle
integer adds, so a turbo or throttled clock counts as it runs.
"""

import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bcn.io import write_json, write_text
from bcn.runtime.machine import machine_info

HERE = Path(__file__).resolve().parent
NATIVE = HERE.parent / "runtime" / "native"
BLOCKS_PER_SCALE = 4  # q1: qn([4x128, 4x256, 4x324, 4x512])
CEILINGS = {"avx512-vpopcnt": 341, "avx2": 96, "neon": 85}  # binary MACs per cycle and core


def run_bench() -> list[dict]:
    with tempfile.TemporaryDirectory() as build:
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        subprocess.run(
            ["cmake", "-S", str(NATIVE), "-B", build, *generator, "-DCMAKE_BUILD_TYPE=Release", "-DBCN_LCE_TESTS=ON"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["cmake", "--build", build, "--target", "bcn_lce_bench", "--parallel", "2"], check=True, capture_output=True
        )
        done = subprocess.run([str(Path(build) / "bcn_lce_bench")], check=True, capture_output=True, text=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def per_cycle(row: dict) -> float:
    """Binary MACs per cycle and core of one timed convolution, at its measured clock."""
    return row["macs"] / (row["median_ms"] / 1e3) / (row["clock_mhz"] * 1e6) / row["threads"]


def share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def layer_table(rows: list[dict]) -> list[str]:
    lines = [
        "| path | output | threads | layer (px, ch) | ms | G binary MACs/s | clock MHz | MACs/cycle/core "
        "| of the ceiling |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        rate = r["macs"] / (r["median_ms"] / 1e3)
        ceiling = CEILINGS.get(r["path"])
        lines.append(
            f"| {r['path']} | {r['output']} | {r['threads']} | {r['size']}, {r['channels']} | {r['median_ms']:.2f} "
            f"| {rate / 1e9:.0f} | {r['clock_mhz']:.0f} | {per_cycle(r):.0f} "
            f"| {share(per_cycle(r) / ceiling if ceiling else None)} |"
        )
    return lines


def model_table(rows: list[dict]) -> list[str]:
    """q1's binary convolutions per path, output and thread count: time and the ceiling's time."""
    totals: dict[tuple, list[float]] = {}
    for r in rows:
        ceiling = CEILINGS.get(r["path"])
        ceiling_ms = r["macs"] / (ceiling * r["clock_mhz"] * 1e6 * r["threads"]) * 1e3 if ceiling else None
        total = totals.setdefault((r["path"], r["output"], r["threads"]), [0.0, 0.0 if ceiling else None])
        total[0] += BLOCKS_PER_SCALE * r["median_ms"]
        if ceiling:
            total[1] += BLOCKS_PER_SCALE * ceiling_ms
    lines = [
        "| path | output | threads | ms | at the ceiling, ms | reached |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for (path, output, threads), (ms, ceiling_ms) in totals.items():
        at_ceiling = f"{ceiling_ms:.1f}" if ceiling_ms else "-"
        lines.append(
            f"| {path} | {output} | {threads} | {ms:.1f} | {at_ceiling} "
            f"| {share(ceiling_ms / ms if ceiling_ms else None)} |"
        )
    return lines


def main() -> None:
    facts = machine_info()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rows = run_bench()
    macs = BLOCKS_PER_SCALE * sum({(r["size"], r["channels"]): r["macs"] for r in rows}.values())
    ceilings = ", ".join(f"{path} {value}" for path, value in CEILINGS.items())
    lines = [
        "# Binary convolution against its port-bound ceiling (q1 at 512)",
        "",
        "Made by `python benchmarks/kernel_limits.py` (a native benchmark of the delegate's kernels, "
        "runtime/native/tests/bench_kernels.cc; random bits, median of 15 runs).",
        "",
        f"- machine: {facts['cpu']}, {platform.machine()}, CPU flags {', '.join(facts['flags']) or '-'}, "
        f"load average {facts['load_average'][0]:.2f} at start, measured {started}",
        f"- ceilings, binary MACs per cycle and core: {ceilings}; the clock is timed before each row "
        "(dependent integer adds), not the nominal one.",
        "",
        *layer_table(rows),
        "",
        f"q1's binary convolutions ({macs / 1e9:.1f} G binary MACs, {BLOCKS_PER_SCALE} per scale), "
        "summed from the rows above:",
        "",
        *model_table(rows),
        "",
        "The whole model adds its full-precision layers (stem, transitions, decoder, heads: 1.2 G MACs in "
        "XNNPACK) and bitpacking: see latency_x86_int8.md and `bcn bench --profile` for end-to-end figures.",
    ]
    report = {"machine": facts, "measured": started, "rows": rows, "ceilings": CEILINGS}
    write_text(HERE / "kernel_limits.md", "\n".join(lines) + "\n")
    write_json(HERE / "kernel_limits.json", report)
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
