"""What a measurement ran on: the CPU, its flags of interest, cores and load; `bcn bench` and benchmarks/ record it."""

import os
import platform
import sys
from pathlib import Path

# CPU flags that change which kernels run: bitpacked convolutions use popcount and VNNI where present.
FLAGS_OF_INTEREST = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vpopcntdq",
    "avx512_vnni",
    "avx_vnni",
    "asimd",
    "asimddp",
    "neon",
)


def _cpuinfo() -> dict[str, str]:
    """The first value of each /proc/cpuinfo key (Linux; empty elsewhere)."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """The CPU's name, as /proc/cpuinfo or macOS's sysctl give it; else what platform knows."""
    info = _cpuinfo()
    for key in ("model name", "Model", "Hardware"):
        if info.get(key):
            return info[key]
    if sys.platform == "darwin":
        import subprocess

        done = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.strip()
    return platform.processor() or platform.machine() or "unknown"


def machine_info() -> dict:
    """The machine a measurement runs on: CPU model, its flags of interest, reported clock, cores, OS, load."""
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except ImportError:
        physical = None
    return {
        "cpu": cpu_model(),
        "flags": [flag for flag in FLAGS_OF_INTEREST if flag in flags],
        "mhz": float(info["cpu MHz"]) if info.get("cpu MHz") else None,
        "logical_cores": os.cpu_count(),
        "physical_cores": physical,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "arch": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
