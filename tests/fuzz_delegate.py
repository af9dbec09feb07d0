"""Structure-aware fuzzing of bcn's LCE delegate with crafted LCE flatbuffers.

    python tests/fuzz_delegate.py LIBRARY [--seed 0] [--count 2000] [--sanitized]
    python tests/fuzz_delegate.py LIBRARY --seed 0 --show 1234     # one mutant's recipe

Each mutant is a recipe of tests/lce_crafted.py, drawn from the seed and its own number alone
(so any one is reproduced without the others): a base model and one to four mutations of its
options (values at and beyond every bound, removed keys, damaged bytes), shapes and ranks,
types, constant buffers and their sizes, sparsity, constness, quantization, op codes and tensor
indices (out of range too), and for some, resizes of the input between allocations; each runs
on one of the delegate's kernel paths with one or two threads. The mutants run one after the
other in a child process that loads LIBRARY (with --sanitized, an ASan/UBSan build: the child
starts with the sanitizer runtime preloaded). A child that dies or hangs is a crash: its recipe
is printed, to be kept in tests/delegate_regressions.json, and a new child goes on with the next
mutant. Exits 1 if there was any crash.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from flatbuffers import flexbuffers

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lce_crafted import BASES, base_model  # noqa: E402

OPTION_VALUES = [
    0,
    1,
    2,
    3,
    4,
    5,
    -1,
    31,
    32,
    33,
    64,
    255,
    2**20,
    2**20 + 1,
    2**24,
    2**24 + 1,
    2**29,
    2**31 - 1,
    2**31,
    2**32 + 40,
    -(2**31),
    2**63 - 1,
    -(2**63),
    "SAME",
    "VALID",
    "same",
    "full",
    1.5,
    True,
    None,
]
EXTRA_KEYS = ["groups", "channels_in", "padding", "filter_height"]
DIMS = [0, 1, 2, 3, 5, 8, 9, 17, 31, 32, 33, 64, 100, 1000, -1]
HUGE_DIMS = [2**24, 2**24 + 1, 2**31 - 1]
TYPES = [0, 1, 2, 3, 4, 6, 7, 9]  # none, float32, int32, uint8, int64, bool, int16, int8
SCALES = [0.0, -1.0, 1e-45, 1e-38, 1e-30, 1e-6, 0.1, 1.0, 1e30, float("inf"), float("nan")]
ZERO_POINTS = [0, 1, -128, 127, 128, -129, 1000, 2**31 - 1, -(2**31)]
LCE_OPS = ["LceQuantize", "LceDequantize", "LceBconv2d", "LceBMaxPool2d"]
# The delegate's inner loops: the best this CPU has, and two it may not pick by itself.
KERNELS = ["auto", "auto", "scalar", "avx2"]
RESIZE_DIMS = [1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 20, 31, 32, 33, 40, 64, 65]


def _name(tensor) -> str:
    return tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name


def _pick(rng, values):
    return values[int(rng.integers(len(values)))]


def _dims(rng, shape: list) -> list:
    """A new shape: one dimension changed, a dimension dropped or added, or none at all."""
    shape = list(shape)
    kind = int(rng.integers(6))
    if kind <= 2 and shape:
        shape[int(rng.integers(len(shape)))] = _pick(rng, HUGE_DIMS if kind == 0 and rng.random() < 0.2 else DIMS)
    elif kind == 3 and shape:
        shape.pop(int(rng.integers(len(shape))))
    elif kind == 4:
        shape.insert(int(rng.integers(len(shape) + 1)), _pick(rng, [1, 2, 3]))
    else:
        shape = [] if rng.random() < 0.3 else [int(v) for v in rng.integers(1, 6, int(rng.integers(1, 7)))]
    return shape


def _mutation(rng, model) -> list:
    """One mutation of `model` (a base model's ModelT), as a recipe entry."""
    graph = model.subgraphs[0]
    tensors = [_name(t) for t in graph.tensors]
    constants = [_name(t) for t in graph.tensors if t.buffer]
    ops = len(graph.operators)
    kind = _pick(
        rng,
        [
            "option",
            "option",
            "option_bytes",
            "shape",
            "shape",
            "tensor_type",
            "buffer_size",
            "sparse",
            "constant",
            "quantization",
            "op_input",
            "op_output",
            "drop_op",
            "op_code",
        ],
    )
    if kind == "option":
        op = int(rng.integers(ops))
        options = graph.operators[op].customOptions
        keys = list(flexbuffers.Loads(bytes(bytearray(options))) if options else []) + EXTRA_KEYS
        return ["option", op, _pick(rng, keys), _pick(rng, OPTION_VALUES)]
    if kind == "option_bytes":
        edits = [
            [int(rng.integers(256)), None if rng.random() < 0.15 else int(rng.integers(256))]
            for _ in range(int(rng.integers(1, 4)))
        ]
        return ["option_bytes", int(rng.integers(ops)), edits]
    if kind == "shape":
        name = _pick(rng, tensors)
        return ["shape", name, _dims(rng, graph.tensors[tensors.index(name)].shape)]
    if kind == "tensor_type":
        return ["tensor_type", _pick(rng, tensors), _pick(rng, TYPES)]
    if kind == "buffer_size":
        name = _pick(rng, constants)
        size = len(model.buffers[graph.tensors[tensors.index(name)].buffer].data)
        return ["buffer_size", name, _pick(rng, [0, 1, 4, size - 4, size - 1, size + 4, size * 2])]
    if kind == "sparse":
        return ["sparse", _pick(rng, constants if rng.random() < 0.8 else tensors)]
    if kind == "constant":
        name = _pick(rng, tensors)
        return ["constant", name, name not in constants]
    if kind == "quantization":
        return ["quantization", _pick(rng, tensors), _pick(rng, SCALES), _pick(rng, ZERO_POINTS)]
    if kind in ("op_input", "op_output"):
        op = int(rng.integers(ops))
        slots = len(graph.operators[op].inputs if kind == "op_input" else graph.operators[op].outputs)
        outside = rng.random() < 0.2
        target = _pick(rng, [-1, -2, len(tensors), 2**31 - 1]) if outside else int(rng.integers(len(tensors)))
        return [kind, op, int(rng.integers(slots)), target]
    if kind == "drop_op":
        return ["drop_op", int(rng.integers(ops))]
    return ["op_code", int(rng.integers(ops)), _pick(rng, LCE_OPS)]


def mutant(seed: int, number: int) -> dict:
    """Mutant `number` of `seed`: a recipe for lce_crafted.run_recipe."""
    rng = np.random.default_rng([seed, number])
    base = _pick(rng, BASES)
    model = base_model(base)
    mutations = [_mutation(rng, model) for _ in range(int(rng.integers(0 if rng.random() < 0.3 else 1, 5)))]
    recipe = {"base": base, "mutations": mutations, "threads": int(rng.integers(1, 3)), "kernel": _pick(rng, KERNELS)}
    if not mutations or rng.random() < 0.35:
        shape = [int(d) for d in model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]].shape]
        resizes = []
        for _ in range(int(rng.integers(1, 3))):
            resized = list(shape)
            if rng.random() < 0.2:
                resized = _dims(rng, resized)
            else:
                resized[int(rng.integers(len(resized)))] = _pick(rng, RESIZE_DIMS)
            resizes.append([max(0, min(d, 2**25)) for d in resized])
        recipe["resizes"] = resizes
    return recipe


def sanitizer_environment() -> dict:
    """What a Python process needs to load an ASan/UBSan build of the delegate: the sanitizer
    runtime preloaded (libstdc++ too, so ASan finds the C++ runtime's exception functions)."""
    preload = []
    for name in ("libasan.so", "libstdc++.so"):
        found = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
        preload.append(os.path.realpath(found))
    return {
        "LD_PRELOAD": " ".join(preload),
        "ASAN_OPTIONS": "detect_leaks=0:allocator_may_return_null=1:abort_on_error=0",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    }


def _text(output) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def run_recipes(
    recipes: list[dict], library: str, sanitized: bool, chunk: int = 1000, timeout: float = 300
) -> tuple[list, list]:
    """Runs `recipes` in child processes, `chunk` per child (each given `timeout` seconds), a new
    one after each crash. Returns (results, crashes): one result line per recipe ("ok",
    "allocate: ...", or "CRASH"), and (number, recipe, output tail) for each crash or hang."""
    env = dict(os.environ, **(sanitizer_environment() if sanitized else {}))
    env.pop("BCN_LCE_DELEGATE", None)
    results, crashes, first = [None] * len(recipes), [], 0
    while first < len(recipes):
        batch = recipes[first : first + chunk]
        with tempfile.TemporaryFile("w+") as lines:
            lines.writelines(json.dumps(recipe) + "\n" for recipe in batch)
            lines.seek(0)
            try:
                done = subprocess.run(
                    [sys.executable, str(HERE / "lce_crafted.py"), "--library", library],
                    stdin=lines,
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=timeout,
                )
                output, log, failed = done.stdout, done.stderr, done.returncode != 0
            except subprocess.TimeoutExpired as expired:
                output, log, failed = _text(expired.stdout), "timed out: a hang\n" + _text(expired.stderr), True
        started = None
        for line in output.splitlines():
            number, _, result = line.partition(" ")
            if result == "start":
                started = first + int(number)
            else:
                results[first + int(number)] = result
                started = None
        if not failed:
            first += len(batch)
            continue
        if started is None:  # died outside a recipe (at start-up): nothing more will run
            raise RuntimeError(f"the fuzzing child failed outside any recipe:\n{log[-4000:]}")
        results[started] = "CRASH"
        crashes.append((started, recipes[started], log[-4000:]))
        first = started + 1
    return results, crashes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("library", nargs="?", help="the delegate library to fuzz")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--first", type=int, default=0, help="number of the first mutant")
    parser.add_argument("--sanitized", action="store_true", help="LIBRARY is an ASan/UBSan build")
    parser.add_argument("--show", type=int, help="print mutant SHOW's recipe and stop")
    args = parser.parse_args(argv)
    if args.show is not None:
        print(json.dumps(mutant(args.seed, args.show)))
        return 0
    if not args.library:
        parser.error("LIBRARY is needed")
    recipes = [mutant(args.seed, n) for n in range(args.first, args.first + args.count)]
    results, crashes = run_recipes(recipes, args.library, args.sanitized)
    for number, recipe, log in crashes:
        print(f"mutant {args.first + number} of seed {args.seed} crashed: {json.dumps(recipe)}\n{log}", file=sys.stderr)
    counts = {}
    for result in results:
        key = result.split(":")[0] if result else "not run"
        counts[key] = counts.get(key, 0) + 1
    print(f"{len(recipes)} mutants of seed {args.seed}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    return 1 if crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
