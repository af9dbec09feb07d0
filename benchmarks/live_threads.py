"""Frames per second of `bcn detect` on a live stream at each thread count: whether a live run should use every core.

Serves a 640x480 MJPEG stream on 127.0.0.1 faster than the models run (the detector always has a new
frame: it processes the newest and drops the rest, as on a camera), then runs `bcn detect MODEL --source
URL --duration S --threads T` for each model and thread count, interleaved over rounds, and reads the
summary line each run prints: frames processed per second, latency and the detector's own time.

    python benchmarks/bench_latency.py --specs q1 --sizes 512 --no-sweep   # makes bench_models/q1_512/
    python benchmarks/live_threads.py                                      # writes benchmarks/live_threads.{md,json}

The capture thread decodes every frame the stream sends, so it competes with the interpreter's threads
for the cores: this measures that, on top of `bcn bench`'s interpreter-only figures.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import click
import numpy as np
from provenance import commit, provenance

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from live_stream import MjpegServer  # noqa: E402  (the loopback stream the live tests use)

from bcn.io import write_json, write_text  # noqa: E402

SUMMARY = re.compile(
    r"(?P<frames>\d+) frames?, (?P<fps>[\d.]+) FPS, latency p50 (?P<p50>[\d.]+) ms p90 (?P<p90>[\d.]+) ms "
    r"\(detect p50 (?P<detect>[\d.]+) ms\)"
)
MODELS = "bench_models/q1_512/q1_512_binary-int8.tflite,bench_models/q1_512/q1_512.tflite"


def detect_run(model: str, url: str, threads: int, seconds: float) -> dict:
    """One `bcn detect` run on the stream: its summary's figures."""
    command = [sys.executable, "-m", "bcn", "detect", model, "--source", url, "--duration", str(seconds)]
    done = subprocess.run([*command, "--threads", str(threads)], capture_output=True, text=True, timeout=600)
    found = SUMMARY.search(done.stderr)
    if done.returncode != 0 or not found:
        raise click.ClickException(f"{model} at {threads} threads: {done.stderr.strip()[-400:]}")
    return {key: float(value) for key, value in found.groupdict().items()}


def markdown(report: dict) -> str:
    lines = [
        "# Live stream: frames per second of `bcn detect` per thread count",
        "",
        f"Made by `{report['provenance']['command']}` at commit {report['provenance']['commit']}; "
        f"{report['provenance']['machine']}, CPU flags {report['flags']}, load average before / after "
        f"{report['provenance']['load_average_before']} / {report['provenance']['load_average_after']}, "
        f"{report['provenance']['date']}.",
        "",
        f"A {report['stream_fps']:.0f} FPS 640x480 MJPEG stream on loopback, {report['seconds']:.0f} s per run, "
        f"{report['rounds']} rounds interleaved; means over the rounds.",
        "",
        "| model | threads | FPS | latency p50 ms | latency p90 ms | detect p50 ms | FPS vs 1 thread |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model, by_threads in report["results"].items():
        single = by_threads.get("1", {}).get("fps")
        for threads, r in by_threads.items():
            gain = f"{r['fps'] / single:.2f}x" if single else "-"
            lines.append(
                f"| {Path(model).name} | {threads} | {r['fps']:.1f} | {r['p50']:.1f} | {r['p90']:.1f} "
                f"| {r['detect']:.1f} | {gain} |"
            )
    return "\n".join(lines) + "\n"


@click.command(context_settings={"show_default": True})
@click.option("--models", default=MODELS, help="Models, comma-separated (bench_latency.py --specs q1 makes these).")
@click.option("--threads", "thread_counts", default="1,2", help="Thread counts, comma-separated.")
@click.option("--seconds", default=20.0, help="Length of each run.")
@click.option("--rounds", default=2, help="Rounds over every model and thread count.")
@click.option("--fps", "stream_fps", default=60.0, help="Frames per second the stream sends.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=HERE / "live_threads")
def main(models, thread_counts, seconds, rounds, stream_fps, out):
    """Measure bcn detect's frame rate on a loopback stream per thread count."""
    from bcn.runtime.machine import machine_info

    paths = [path.strip() for path in models.split(",") if path.strip()]
    missing = [path for path in paths if not Path(path).is_file()]
    if missing:
        raise click.ClickException(f"no such model: {', '.join(missing)} (run benchmarks/bench_latency.py first)")
    counts = [int(value) for value in thread_counts.split(",")]
    revision, load_before = commit(), os.getloadavg()
    stream = MjpegServer(stream_fps, scale=4)  # a camera's 640x480
    runs: dict[str, dict[str, list[dict]]] = {path: {str(n): [] for n in counts} for path in paths}
    try:
        for _ in range(rounds):
            for path in paths:
                for threads in counts:
                    runs[path][str(threads)].append(detect_run(path, stream.url, threads, seconds))
                    click.echo(f"{path} threads {threads}: {runs[path][str(threads)][-1]}")
    finally:
        stream.kill()
    results = {
        path: {n: {key: float(np.mean([r[key] for r in rs])) for key in rs[0]} for n, rs in by.items()}
        for path, by in runs.items()
    }
    report = {
        "provenance": provenance(revision, load_before),
        "flags": ", ".join(machine_info()["flags"]) or "-",
        "stream_fps": stream_fps,
        "seconds": seconds,
        "rounds": rounds,
        "results": results,
        "runs": runs,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json(out.with_suffix(".json"), report)
    write_text(out.with_suffix(".md"), markdown(report))
    click.echo(markdown(report))


if __name__ == "__main__":
    main()
