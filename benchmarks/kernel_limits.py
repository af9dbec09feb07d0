"""How close bcn's binary convolution comes to this CPU's physical limit, for q1 at 512.

Builds the delegate's kernel benchmark (runtime/native/tests/bench_kernels.cc) with CMake,
times one 3x3 binary convolution per q1 encoder scale (128 px x 128 ch, 64 x 256, 32 x 324,
16 x 512; q1 has 4 of each, 25.6 G binary MACs in all) on every kernel path this CPU has at
1 and 2 threads, and compares with the limit of one 512-bit vector popcount per cycle and
core (AVX-512 VPOPCNTDQ: 512 binary MACs per cycle; the XOR and the add fit beside it).

    python benchmarks/kernel_limits.py            # writes benchmarks/kernel_limits.{md,json}

Frequency: the "cpu MHz" the kernel reports (under a hypervisor often the nominal clock;
a turbo clock would make the limit lower and the fraction reached higher).
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
BITS_PER_CYCLE = 512


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


def main() -> None:
    facts = machine_info()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rows = run_bench()
    hz = facts["mhz"] * 1e6 if facts["mhz"] else None
    lines = [
        "# Binary convolution against this CPU's limit (q1 at 512)",
        "",
        "Made by `python benchmarks/kernel_limits.py` (a native benchmark of the delegate's kernels, "
        "runtime/native/tests/bench_kernels.cc; random bits, median of 15 runs).",
        "",
        f"- machine: {facts['cpu']}, {facts['mhz'] or '?'} MHz reported, {platform.machine()}, measured {started}",
        f"- limit: one {BITS_PER_CYCLE}-bit vector popcount per cycle and core = {BITS_PER_CYCLE} binary MACs per "
        "cycle (AVX-512 VPOPCNTDQ); at the reported clock that is "
        + (f"{BITS_PER_CYCLE * hz / 1e9:.0f} G binary MACs/s per core." if hz else "unknown (no clock reported)."),
        "",
        "| path | threads | layer (px, ch) | ms | G binary MACs/s | MACs/cycle/core | of the limit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    totals = {}
    for r in rows:
        rate = r["macs"] / (r["median_ms"] / 1e3)
        per_cycle = rate / hz / r["threads"] if hz else None
        share = f"{per_cycle / BITS_PER_CYCLE:.0%}" if per_cycle else "-"
        cycle = f"{per_cycle:.0f}" if per_cycle else "-"
        lines.append(
            f"| {r['path']} | {r['threads']} | {r['size']}, {r['channels']} | {r['median_ms']:.2f} | "
            f"{rate / 1e9:.0f} | {cycle} | {share} |"
        )
        key = (r["path"], r["threads"])
        totals[key] = totals.get(key, 0.0) + BLOCKS_PER_SCALE * r["median_ms"]
    macs = BLOCKS_PER_SCALE * sum({(r["size"], r["channels"]): r["macs"] for r in rows}.values())
    limit_ms = macs / (BITS_PER_CYCLE * hz) * 1e3 if hz else None
    lines += [
        "",
        f"q1's binary convolutions ({macs / 1e9:.1f} G binary MACs, {BLOCKS_PER_SCALE} per scale), "
        "summed from the rows above:",
        "",
        "| path | threads | ms | limit on that many cores | reached |",
        "| --- | --- | --- | --- | --- |",
    ]
    for (path, threads), ms in totals.items():
        limit = limit_ms / threads if limit_ms else None
        lines.append(
            f"| {path} | {threads} | {ms:.1f} | " + (f"{limit:.1f} ms | {limit / ms:.0%} |" if limit else "- | - |")
        )
    lines += [
        "",
        "The whole model adds its float layers (stem, transitions, decoder, heads: 1.2 G float MACs in "
        "XNNPACK) and bitpacking: see latency_x86.md for end-to-end figures.",
    ]
    report = {"machine": facts, "measured": started, "rows": rows, "bits_per_cycle": BITS_PER_CYCLE}
    write_text(HERE / "kernel_limits.md", "\n".join(lines) + "\n")
    write_json(HERE / "kernel_limits.json", report)
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
