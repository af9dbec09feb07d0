"""LCE models on aarch64 Linux, where no LCE wheel exists: LCE's `lce_benchmark_model`.

That binary is TFLite's benchmark_model with LCE's ops registered (and the flags
--use_indirect_bgemm, --use_reference_bconv). It prints, through TFLite's logging:

    count=50 first=40312 curr=39870 min=39650 max=41207 avg=40012.3 std=320
    Inference timings in us: Init: 21350, First inference: 45219, Warmup (avg): 41003.5, Inference (avg): 40012.3
    Memory footprint delta from the start of the tool (MB): init=8.1 overall=20.5

(newer versions add p5=, median=, p95= to the count= lines). The first count= line is the
warm-up, the last one the measured runs. Times are in microseconds.
"""

import re
import shutil
import subprocess
from pathlib import Path

from bcn.errors import BcnError

BINARY_NAME = "lce_benchmark_model"
GET_BINARY = (
    "get the aarch64 `lce_benchmark_model` from the assets of LCE's releases "
    "(https://github.com/larq/compute-engine/releases, the one matching larq-compute-engine 0.16.0) "
    "or build it with bazel: `bazel build --config=aarch64 //larq_compute_engine/tflite/benchmark:lce_benchmark_model` "
    "(https://docs.larq.dev/compute-engine/build/arm/), then pass --lce-benchmark-binary PATH or put it on PATH"
)

_STAT = re.compile(r"\b(count|first|curr|min|max|avg|std|p5|median|p95)=([-+0-9.eE]+)")
_TIMINGS = re.compile(
    r"Inference timings in us: Init: (?P<init>[0-9.eE+-]+), First inference: (?P<first>[0-9.eE+-]+), "
    r"Warmup \(avg\): (?P<warmup>[0-9.eE+-]+), Inference \(avg\): (?P<inference>[0-9.eE+-]+)"
)
_MEMORY = re.compile(
    r"Memory footprint delta from the start of the tool \(MB\): init=(?P<init>[0-9.eE+-]+) "
    r"overall=(?P<overall>[0-9.eE+-]+)"
)


def find_binary(path=None) -> str | None:
    """The lce_benchmark_model to use: `path` if given (must exist; absolute, so that a bare name in the working
    folder is not looked up on PATH), else the one on PATH, else None."""
    if path:
        path = Path(path)
        if not path.is_file():
            raise BcnError(f"{path}: no such lce_benchmark_model binary")
        return str(path.absolute())
    return shutil.which(BINARY_NAME)


def _stat_line(line: str) -> dict:
    values = {key: float(value) for key, value in _STAT.findall(line)}
    if "avg" not in values and "curr" in values:  # "count=N curr=X(all same)": every run took X
        values.update(min=values["curr"], max=values["curr"], avg=values["curr"], std=0.0)
    return values


def parse_output(text: str) -> dict:
    """The figures of one lce_benchmark_model / benchmark_model run, in milliseconds.

    Returns {"runs", "latency_ms": {mean, min, max, std, p50 (None unless printed)},
    "warmup_ms", "init_ms", "first_ms", "memory_mb"}; raises BcnError when the text has
    no measured runs (the tool failed).
    """
    stats = [_stat_line(line) for line in text.splitlines() if "count=" in line and "curr=" in line]
    timings = _TIMINGS.search(text)
    if not stats and not timings:
        last = [line for line in text.strip().splitlines() if line.strip()][-1:] or ["no output"]
        raise BcnError(f"{BINARY_NAME} printed no timings ({last[0].strip()})")
    measured = stats[-1] if stats else {}
    mean_us = measured.get("avg", float(timings["inference"]) if timings else None)
    latency = {
        "mean": mean_us / 1e3,
        "p50": measured["median"] / 1e3 if "median" in measured else None,
        "p90": None,
        "p99": None,
        "min": measured["min"] / 1e3 if "min" in measured else None,
        "max": measured["max"] / 1e3 if "max" in measured else None,
        "std": measured["std"] / 1e3 if "std" in measured else None,
    }
    memory = _MEMORY.search(text)
    return {
        "runs": int(measured["count"]) if "count" in measured else None,
        "latency_ms": latency,
        "warmup_ms": float(timings["warmup"]) / 1e3 if timings else (stats[0]["avg"] / 1e3 if len(stats) > 1 else None),
        "init_ms": float(timings["init"]) / 1e3 if timings else None,
        "first_ms": float(timings["first"]) / 1e3 if timings else None,
        "memory_mb": float(memory["overall"]) if memory else None,
    }


def command(
    binary: str,
    model_path,
    threads: int,
    runs: int,
    warmup: int,
    use_indirect_bgemm: bool,
    use_xnnpack: bool,
    use_reference_bconv: bool,
) -> list[str]:
    """The lce_benchmark_model command line for one model and thread count."""
    flag = {True: "true", False: "false"}
    return [
        binary,
        f"--graph={model_path}",
        f"--num_threads={threads}",
        f"--num_runs={runs}",
        f"--warmup_runs={max(1, warmup)}",
        f"--use_xnnpack={flag[bool(use_xnnpack)]}",
        f"--use_indirect_bgemm={flag[bool(use_indirect_bgemm)]}",
        f"--use_reference_bconv={flag[bool(use_reference_bconv)]}",
    ]


def run(
    binary: str, model_path, threads: int, runs: int, warmup: int, timeout: float | None = None, **switches
) -> dict:
    """Run lce_benchmark_model on one model with command()'s `switches`; parse_output's dict plus the command line."""
    args = command(binary, model_path, threads, runs, warmup, **switches)
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except OSError as error:
        raise BcnError(f"{binary}: cannot run ({error.strerror}); {GET_BINARY}") from error
    except subprocess.TimeoutExpired as error:
        raise BcnError(f"{binary}: no result within {timeout:.0f} s on {model_path}") from error
    text = done.stdout + "\n" + done.stderr
    if done.returncode != 0:
        last = [line for line in text.strip().splitlines() if line.strip()][-1:] or ["no output"]
        raise BcnError(f"{model_path}: {BINARY_NAME} failed with exit code {done.returncode} ({last[0].strip()})")
    result = parse_output(text)
    result["command"] = " ".join(args)
    return result
