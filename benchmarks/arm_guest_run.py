"""Load one model as bcn's runtime does and run it RUNS times on a fixed input, then exit.

Run on aarch64 (under QEMU) by benchmarks/arm_emulated.py, which counts the instructions of
the whole process for two values of RUNS: their difference is the cost of inference alone,
without Python's start, the imports, loading, or XNNPACK's weight packing.

    python arm_guest_run.py MODEL RUNS INFO_JSON

The model goes through bcn.runtime.engines.open_engine with the tflite engine and 1 thread:
a binary (LCE) model with bcn's LCE delegate (kernel auto) for the LCE ops and XNNPACK for
the rest, a float32 or int8 model with XNNPACK. INFO_JSON receives what ran (kernel path,
library versions, shapes). Only one thread: the instruction counter adds up all threads.
"""

import platform
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from bcn.io import write_json
from bcn.runtime import delegate
from bcn.runtime.engines import open_engine
from bcn.runtime.flatbuffer import has_lce_ops


def main(model: str, runs: int, info_path: str) -> None:
    content = Path(model).read_bytes()
    engine = open_engine(content, model, engine="tflite", threads=1)
    shape = engine.input_shape
    batch = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(runs):
        engine.run(batch)
    binary = has_lce_ops(content)
    info = {
        "model": Path(model).name,
        "runs": runs,
        "machine": platform.machine(),
        "python": platform.python_version(),
        "ai_edge_litert": metadata.version("ai-edge-litert"),
        "numpy": np.__version__,
        "library": engine.library,
        "options": engine.options,
        "input_shape": list(shape),
        "binary": binary,
        "kernel": delegate.delegate_kernel() if binary else None,
        "delegate": delegate.delegate_version() if binary else None,
    }
    write_json(info_path, info, indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: arm_guest_run.py MODEL RUNS INFO_JSON")
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
