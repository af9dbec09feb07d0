"""The command line of a `bcn` subprocess in tests."""

import sys


def bcn_cli(*args) -> list[str]:
    """`python -m bcn ARGS` with this interpreter; paths and numbers become strings."""
    return [sys.executable, "-m", "bcn", *map(str, args)]


def tiny_train_args(data, run_dir, epochs: int) -> list[str]:
    """`bcn train`'s arguments for a tiny run of `epochs`: conftest's TINY_SPEC at 64 px, batch 8, seed 0,
    evaluated only at its end (every 100 epochs)."""
    from conftest import TINY_SPEC

    options = {"--arch": TINY_SPEC, "--data": data, "--out": run_dir, "--input-size": 64, "--epochs": epochs}
    options.update({"--batch-size": 8, "--eval-every": 100, "--seed": 0})
    return [str(word) for option in options.items() for word in option]


def detect_args(model, source, out) -> list:
    """`bcn detect`'s arguments for `model` on `source` on 1 thread, writing into the folder `out` (its JSON
    lines to out/detections.jsonl)."""
    return [model, "--source", source, "--out", out, "--json-out", out / "detections.jsonl", "--threads", "1"]
