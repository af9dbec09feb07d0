"""Executed ARM instructions per inference of binary CenterNets and their float32/int8 twins,
on aarch64 emulated by QEMU as a Cortex-A72 (Raspberry Pi 4) and a Cortex-A76 (Raspberry Pi 5).

Builds each model with benchmarks/bench_latency.py (untrained: the work done does not depend
on weight values), then runs each one in bcn's runtime on aarch64 through
docker/check-runtime-aarch64.sh with the QEMU plugin benchmarks/qemu_plugin/count_insns.c,
which counts every guest instruction the process executes. benchmarks/arm_guest_run.py loads
the model and runs it R times; two values of R give the cost of R2 - R1 inferences alone,
without Python's start, imports, loading or XNNPACK's weight packing. Writes
benchmarks/arm_emulated.{md,json}.

    python benchmarks/arm_emulated.py          # q1 at 512 and demo at 96, both CPUs: ~25 min here
    python benchmarks/arm_emulated.py --model demo:96:1,21 --cpus cortex-a72 --out /tmp/demo   # 1 min

Each process's count is kept in WORK/arm_emulated/counts.json, keyed by CPU, model file, run
count and the sources it depends on (the guest script, the plugin, and for binary models
bcn's delegate sources, which every run rebuilds for aarch64), so a rerun measures only what
changed.

An instruction count is a proxy of on-device cost, not a time: QEMU models no caches, no
pipeline, no memory bandwidth, and one NEON instruction counts as one scalar one. Needs what
docker/check-runtime-aarch64.sh needs, plus gcc and the dynamic qemu-aarch64 (qemu-user), and
root. One thread only: the counter adds up the instructions of all threads.
"""

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import click

from bcn.io import read_json, write_json
from bcn.runtime.machine import machine_info
from bcn.runtime.metadata import BINARY_VARIANTS, VARIANTS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
SCRIPT = REPO / "docker" / "check-runtime-aarch64.sh"
GUEST = HERE / "arm_guest_run.py"
PLUGIN_SOURCE = HERE / "qemu_plugin" / "count_insns.c"
CPUS = {"cortex-a72": "Cortex-A72 (Raspberry Pi 4)", "cortex-a76": "Cortex-A76 (Raspberry Pi 5)"}
# What made benchmarks/arm_emulated.md: the demo model 0, 1 and 21 times; q1 at 512 0, 1 and 2
# times, but its float32 twin only 0 and 1 times: one of its inferences takes ~5 min to emulate
# here (the int8 and binary ones under 1 min), and 1,2 everywhere would take ~45 min in all.
DEFAULT_MODELS = ("demo:96:0,1,21", "q1:512:0,1,2", "q1:512:0,1/float32")
TARGET = 0.15  # binary/float32 instruction ratio wanted for q1 at 512 on a Cortex-A72


def parse_model(text: str) -> dict:
    """'PRESET:SIZE[:R1,R2[,R3]][/VARIANT+...][@CPU+...]' -> {preset, size, runs, variants, cpus};
    runs default to 1,2; variants and CPUs to None (all)."""
    rest, _, cpus = text.partition("@")
    rest, _, variants = rest.partition("/")
    parts = rest.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        size = int(parts[1])
        runs = tuple(int(r) for r in parts[2].split(",")) if len(parts) == 3 else (1, 2)
    except ValueError:
        raise click.BadParameter(f"{text!r}: give PRESET:SIZE[:R1,R2[,R3]][/VARIANT+...][@CPU+...]") from None
    if len(runs) not in (2, 3) or runs[0] < 0 or list(runs) != sorted(set(runs)):
        raise click.BadParameter(f"{text!r}: give two or three increasing run counts")
    variants = variants.split("+") if variants else None
    cpus = cpus.split("+") if cpus else None
    if set(variants or ()) - set(VARIANTS) or set(cpus or ()) - set(CPUS):
        raise click.BadParameter(f"{text!r}: variants are {', '.join(VARIANTS)}; CPUs {', '.join(CPUS)}")
    return {"preset": parts[0], "size": size, "runs": runs, "variants": variants, "cpus": cpus}


def plan(entries: list[dict], cpus: list[str], variants: list[str]) -> dict:
    """(cpu, preset, size, variant) -> run counts, in measuring order; a later --model entry
    overrides an earlier one for the CPUs and variants it names."""
    chosen = {}
    for entry in entries:
        for cpu in entry["cpus"] or cpus:
            for variant in entry["variants"] or variants:
                chosen[(cpu, entry["preset"], entry["size"], variant)] = entry["runs"]
    models = list(dict.fromkeys((entry["preset"], entry["size"]) for entry in entries))
    return {
        (cpu, *model, variant): chosen[(cpu, *model, variant)]
        for cpu in cpus
        for model in models
        for variant in variants
        if (cpu, *model, variant) in chosen
    }


def build_plugin(folder: Path) -> Path:
    plugin = folder / "count_insns.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(plugin), str(PLUGIN_SOURCE)], check=True)
    return plugin


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def sources_digest(*paths: Path) -> str:
    """One hash of files and of every file under folders: what a cached count was made with."""
    digest = hashlib.sha256()
    for path in paths:
        for file in sorted([path] if path.is_file() else (f for f in path.rglob("*") if f.is_file())):
            if "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(REPO)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def measuring_context(binary: bool) -> str:
    """The guest script and the plugin, and for a binary model bcn's delegate sources (rebuilt
    for aarch64 by every run): a change to them makes earlier counts of a model stale."""
    paths = [GUEST, PLUGIN_SOURCE] + ([REPO / "runtime" / "native", REPO / "CMakeLists.txt"] if binary else [])
    return sources_digest(*(path for path in paths if path.exists()))


def git_state() -> str:
    """This checkout's commit, and whether bcn's delegate sources differ from it."""

    def git(*args):
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()

    changed = git("status", "--porcelain", "--", "runtime/native", "CMakeLists.txt")
    return git("rev-parse", "--short", "HEAD") + (" with uncommitted changes to runtime/native" if changed else "")


def built_delegate(workdir: Path) -> str | None:
    """Hash of the aarch64 delegate library the last run built and installed."""
    found = sorted((workdir / "delegate-build").rglob("libbcn_lce_delegate.so"))
    return sha256(found[0]) if found else None


def count_run(workdir: Path, plugin: Path, cpu: str, model: Path, runs: int, scratch: Path) -> dict:
    """One emulated process: the model loaded and run `runs` times. -> instructions, guest info, wall time."""
    counter, info = scratch / "count", scratch / "info.json"
    for path in (counter, info):
        path.unlink(missing_ok=True)
    # Same hash seed, no address randomisation, and numpy's OpenBLAS without worker threads (they
    # spin for a while, a few 1e6 instructions that vary): repeated runs differ by ~1e4.
    env = dict(
        os.environ,
        BCN_QEMU_CPU=cpu,
        BCN_QEMU_PLUGIN=f"{plugin},out={counter}",
        PYTHONHASHSEED="0",
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
    )
    command = [
        "setarch",
        platform.machine(),
        "-R",
        str(SCRIPT),
        str(workdir),
        "python",
        str(GUEST),
        str(model.resolve()),
        str(runs),
        str(info),
    ]
    state = git_state()
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0 or not counter.is_file():
        raise click.ClickException(f"{shlex.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {
        "instructions": int(counter.read_text()),
        "info": read_json(info),
        "wall_s": round(wall, 1),
        "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "delegate_library": built_delegate(workdir),
        "bcn": state,
    }


def host_machine() -> dict:
    qemu = subprocess.run(["qemu-aarch64", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {**machine_info(), "qemu": qemu}


def per_inference(counts: dict) -> tuple[float, float | None]:
    """{runs: instructions} -> (instructions per inference from the two largest run counts,
    with three run counts: the same from the two smallest minus that; from 0 and 1 runs,
    what the first inference costs beyond the later ones)."""
    points = sorted((int(r), c) for r, c in counts.items())
    (r2, c2), (r3, c3) = points[-2:]
    per = (c3 - c2) / (r3 - r2)
    if len(points) < 3:
        return per, None
    (r1, c1) = points[0]
    return per, (c2 - c1) / (r2 - r1) - per


def _ratio(per: dict, a: str, b: str) -> str:
    """per[a] / per[b] to three decimals, or "-" where either was not measured."""
    return f"{per[a] / per[b]:.3f}" if a in per and b in per else "-"


def report(results: dict) -> str:
    rows, ratios = [], []
    by_key = {(m["cpu"], m["name"], m["variant"]): m for m in results["measurements"]}
    names = list(dict.fromkeys((m["name"], m["preset"], m["input_size"]) for m in results["measurements"]))
    cpus = list(dict.fromkeys(m["cpu"] for m in results["measurements"]))
    for name, preset, size in names:
        for cpu in cpus:
            per = {}
            for variant in VARIANTS:
                m = by_key.get((cpu, name, variant))
                if not m:
                    continue
                per[variant] = m["per_inference"]
                runs = sorted(map(int, m["counts"]))
                binary_macs = f" ({m['binary_macs'] / 1e9:.2f} binary)" if m["binary_macs"] else ""
                extra = "-" if m["first_pair_extra"] is None else f"{m['first_pair_extra'] / 1e6:+.2f}"
                rows.append(
                    f"| {preset} | {size} | {CPUS[cpu]} | {variant} | {m['kernel'] or 'XNNPACK'} "
                    f"| {m['per_inference'] / 1e9:.4f} | {m['macs'] / 1e9:.2f}{binary_macs} "
                    f"| {m['macs'] / m['per_inference']:.2f} | {m['overhead'] / 1e9:.2f} | {extra} "
                    f"| {', '.join(map(str, runs))} | {m['wall_s']:.0f} |"
                )
            ratios.append(
                f"| {preset} | {size} | {CPUS[cpu]} | {_ratio(per, 'binary', 'float32')} "
                f"| {_ratio(per, 'binary', 'int8')} | {_ratio(per, 'binary-int8', 'int8')} "
                f"| {_ratio(per, 'int8', 'float32')} |"
            )
    machine = results["machine"]
    guest = results["guest"]
    lines = [
        "# ARM instructions per inference, under QEMU (a proxy of on-device cost, not a time)",
        "",
        f"Made by `{results['command']}` (untrained models: the work done does not depend on weights).",
        f"Full figures: `{results['stem']}.json`.",
        "",
        f"- host: {machine['cpu']}, {machine['logical_cores']} logical cores, {machine['os']}",
        f"- emulator: {machine['qemu']}, user mode, TCG plugin `benchmarks/qemu_plugin/count_insns.c` "
        "counting every executed guest instruction of the process",
        "- CPU models: " + ", ".join(f"`-cpu {cpu}` = {CPUS[cpu]}, with that Pi's /proc/cpuinfo" for cpu in cpus),
        f"- guest: aarch64 Debian Bookworm, Python {guest['python']}, ai-edge-litert {guest['ai_edge_litert']}, "
        f"numpy {guest['numpy']}; binary models measured with bcn at commit {guest['bcn_commit']}, its LCE "
        f"delegate ({guest['delegate']}) cross-compiled for aarch64 by its CMake project (Release, -O3)",
        "- each model as bcn's runtime loads it (`open_engine`, tflite engine), 1 thread: binary with bcn's "
        "LCE delegate (kernel auto) for the LCE ops and XNNPACK for the rest (float32, or int8 in binary-int8); "
        "float32 and int8 with XNNPACK",
        f"- measured {results['measured']}; host time of all the emulated processes: "
        f"{results['wall_s'] / 60:.0f} min (the plugin on; float32 is the slowest to emulate)",
        "",
        "## What these numbers are",
        "",
        "Instructions executed by the emulated CPU per inference: the count of a process that loads "
        "the model and runs it R2 times minus that of one that runs it R1 times, divided by R2 - R1 "
        "(the two largest run counts listed), so Python's start, the imports, loading the model and "
        "XNNPACK's weight packing cancel out. Where the smaller count is 0, whatever the first "
        "inference does once (XNNPACK's setup of its operators, first use of buffers) is counted in. "
        "Where three run counts are listed, the two smallest give a second figure; the column 'first "
        "pair extra' is it minus the first: from 0 and 1 runs, what the first inference costs beyond "
        "the later ones; from 1 and more, a check that the count grows linearly (about 0).",
        "**They are a proxy of on-device cost, not a time.** QEMU models no caches, no pipeline, no "
        "memory bandwidth, no issue width: a 128-bit NEON multiply-accumulate counts as one "
        "instruction, like a scalar add, and a load that would miss every cache costs the same as "
        "one that hits. Which code runs is real, though: the same aarch64 binaries (LiteRT, "
        "XNNPACK, bcn's NEON kernels) choose their paths from the emulated CPU's features "
        "(the A76 has the dot-product and fp16 instructions the A72 lacks). Only 1 thread was "
        "measured: the counter adds up all threads.",
        "Repeated runs of the same process differ by 1e4 to 1e5 instructions (hash seed fixed, "
        "address randomisation off, numpy's OpenBLAS on 1 thread), far below the per-inference figures.",
        "",
        "## Instructions per inference",
        "",
        "GMACs: multiply-accumulates of the model (binary ones included); MACs/insn: MACs per "
        "executed instruction; overhead: the rest of the process with the fewest runs (start, imports, "
        "load, packing), G; first pair extra: M instructions per inference; runs: the run counts "
        "measured, one process each; wall s: host time of those processes, emulated with the plugin.",
        "",
        "| model | z | CPU | variant | kernels | G insns / inference | GMACs | MACs/insn | overhead G "
        "| first pair extra M | runs | wall s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "## Ratios of instructions per inference",
        "",
        "| model | z | CPU | binary / float32 | binary / int8 | binary-int8 / int8 | int8 / float32 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *ratios,
        "",
    ]
    target = by_key.get(("cortex-a72", "q1_512", "binary")), by_key.get(("cortex-a72", "q1_512", "float32"))
    extras = {}
    for m in results["measurements"]:
        if m["first_pair_extra"] is not None and min(map(int, m["counts"])) == 0:
            extras.setdefault(m["name"], []).append(m["first_pair_extra"] / m["per_inference"])
    if extras:
        only = sorted(
            {f"{m['name']} {m['variant']}" for m in results["measurements"] if sorted(map(int, m["counts"])) == [0, 1]}
        )
        spans = "; ".join(f"{name}: {min(v):.2%} to {max(v):.2%}" for name, v in extras.items())
        lines.append(
            f"What the first inference costs beyond a later one, where 0, 1 and more runs were measured: "
            f"{spans}."
            + (f" The figures from 0 and 1 runs only ({', '.join(only)}) include such an extra." if only else "")
        )
        lines.append("")
    lines += ["## Against the target", ""]
    if all(target):
        value = target[0]["per_inference"] / target[1]["per_inference"]
        verdict = "meets it" if value <= TARGET else "does not meet it"
        lines.append(
            f"The project wants binary / float32 <= {TARGET} for q1 at 512 on a Cortex-A72 (by this "
            f"instruction count). Measured: **{value:.3f}**, which {verdict}."
        )
    else:
        lines.append(
            f"The project wants binary / float32 <= {TARGET} for q1 at 512 on a Cortex-A72; "
            "q1 at 512 on a Cortex-A72 was not measured in this run."
        )
    return "\n".join(lines) + "\n"


# A folder option's type.
FOLDER = click.Path(file_okay=False, path_type=Path)


@click.command(context_settings={"show_default": True})
@click.option(
    "--model",
    "models",
    multiple=True,
    default=DEFAULT_MODELS,
    help="PRESET:SIZE[:R1,R2[,R3]][/VARIANT+...][@CPU+...], repeatable: a preset ('demo' is bcn "
    "demo's architecture), its input size, and the run counts: instructions per inference come "
    "from the two largest; a third, smallest one (0) measures what the first inference costs "
    "beyond the others (default 1,2). /VARIANTS and @CPUS limit an entry to those; a later "
    "entry overrides an earlier one.",
)
@click.option(
    "--cpus", default="cortex-a72,cortex-a76", help="QEMU CPU models, comma-separated: cortex-a72, cortex-a76."
)
@click.option(
    "--variants",
    default=",".join(VARIANTS),
    help="Which variants to run: binary (float32 rest), binary-int8, float32, int8.",
)
@click.option("--samples", default=2, help="Images for int8 calibration.")
@click.option(
    "--work",
    type=FOLDER,
    default=Path("bench_models"),
    help="Where the models, the plugin and the count cache go (reused on a rerun).",
)
@click.option(
    "--workdir",
    type=FOLDER,
    default=Path(os.environ.get("BCN_AARCH64_WORKDIR", Path.home() / ".cache" / "bcn-aarch64")),
    help="check-runtime-aarch64.sh's cache (the arm64 root).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=HERE / "arm_emulated",
    help="Results stem: writes STEM.md and STEM.json.",
)
def main(models, cpus, variants, samples, work, workdir, out):
    """Count executed aarch64 instructions per inference of binary models and their twins."""
    from bench_latency import build_and_convert

    from bcn.runtime.metadata import read_metadata

    missing = [tool for tool in ("gcc", "qemu-aarch64", "setarch") if shutil.which(tool) is None]
    if missing:
        raise click.ClickException(
            f"missing {', '.join(missing)}: apt-get install -y --no-install-recommends gcc qemu-user util-linux"
        )
    cpus = [cpu.strip() for cpu in cpus.split(",")]
    unknown = set(cpus) - set(CPUS)
    if unknown:
        raise click.BadParameter(f"unknown CPU(s) {', '.join(sorted(unknown))}; choose from {', '.join(CPUS)}")
    variants = [v.strip() for v in variants.split(",")]
    entries = [parse_model(text) for text in models]
    files = {}
    for preset, size in dict.fromkeys((entry["preset"], entry["size"]) for entry in entries):
        paths = build_and_convert(preset, size, work / f"{preset}_{size}", samples)
        files.update({(preset, size, variant): path for variant, path in zip(VARIANTS, paths)})
    scratch = work / "arm_emulated"
    scratch.mkdir(parents=True, exist_ok=True)
    plugin = build_plugin(scratch)
    # (cpu, model hash, runs, measuring context) -> one process's count: a rerun resumes.
    cache_path = scratch / "counts.json"
    cache = read_json(cache_path) if cache_path.is_file() else {}

    measurements, guest = [], {}
    for (cpu, preset, size, variant), runs in plan(entries, cpus, variants).items():
        path = files[(preset, size, variant)]
        digest = sha256(path)
        context = measuring_context(variant in BINARY_VARIANTS)
        counts = {}
        for r in runs:
            key = f"{cpu}/{digest}/{r}/{context}"
            if key not in cache:
                click.echo(f"{cpu} {path.name} x{r} ...", nl=False)
                cache[key] = count_run(workdir, plugin, cpu, path, r, scratch)
                write_json(cache_path, cache, indent=1)
                click.echo(f" {cache[key]['instructions']:,} instructions, {cache[key]['wall_s']:.0f} s")
            counts[str(r)] = cache[key]
        libraries = {c.get("delegate_library") for c in counts.values()}
        if variant in BINARY_VARIANTS and len(libraries) > 1:
            raise click.ClickException(
                f"{cpu} {path.name}: the delegate library changed between the runs of "
                f"one measurement ({', '.join(map(str, libraries))}): delete {cache_path} "
                "and measure again with runtime/native unchanged"
            )
        info = counts[str(runs[-1])]["info"]
        guest = {key: info[key] for key in ("python", "ai_edge_litert", "numpy")} | {
            "delegate": info["delegate"] or guest.get("delegate")
        }
        metadata = read_metadata(path) or {}
        m = {
            "cpu": cpu,
            "name": f"{preset}_{size}",
            "preset": preset,
            "input_size": size,
            "variant": variant,
            "file": path.name,
            "sha256": digest,
            "counts": {r: c["instructions"] for r, c in counts.items()},
            "context": context,
            "delegate_library_sha256": libraries.pop() if variant in BINARY_VARIANTS else None,
            "bcn": counts[str(runs[-1])].get("bcn"),
            "kernel": info["kernel"],
            "library": info["library"],
            "options": info["options"],
            "macs": metadata.get("macs"),
            "binary_macs": metadata.get("binary_macs"),
            "wall_s": sum(c["wall_s"] for c in counts.values()),
            "measured": sorted(c["at"] for c in counts.values() if "at" in c),
        }
        m["per_inference"], m["first_pair_extra"] = per_inference(m["counts"])
        m["overhead"] = counts[str(runs[0])]["instructions"] - runs[0] * m["per_inference"]
        measurements.append(m)
        click.echo(f"{cpu} {path.name}: {m['per_inference'] / 1e9:.3f} G instructions per inference")

    command = ["python", "benchmarks/arm_emulated.py"]
    if tuple(models) != DEFAULT_MODELS:
        command += [f"--model={text}" for text in models]
    if cpus != list(CPUS):
        command += ["--cpus", ",".join(cpus)]
    if variants != list(VARIANTS):
        command += ["--variants", ",".join(variants)]
    if out.resolve() != (HERE / "arm_emulated").resolve():
        command += ["--out", str(out)]
    stamps = sorted(stamp for m in measurements for stamp in m["measured"])
    unstamped = sum(len(m["counts"]) for m in measurements) - len(stamps)
    states = sorted({m["bcn"] for m in measurements if m["variant"] in BINARY_VARIANTS and m["bcn"]})
    guest["bcn_commit"] = ", ".join(states) or "-"
    results = {
        "command": shlex.join(command),
        "stem": out.name,
        "machine": host_machine(),
        "guest": guest,
        "measured": (f"{stamps[0]} to {stamps[-1]}" if stamps else "-")
        + (f" ({unstamped} processes counted before time stamps were kept: the same day)" if unstamped else ""),
        "wall_s": round(sum(m["wall_s"] for m in measurements)),
        "threads": 1,
        "unit": "executed guest instructions per inference (a proxy of cost, not a time)",
        "target": {"model": "q1_512", "cpu": "cortex-a72", "binary_over_float32_at_most": TARGET},
        "measurements": measurements,
    }
    for a, b in (("binary", "float32"), ("binary", "int8"), ("binary-int8", "int8")):
        results[f"{a}_over_{b}"] = {
            f"{m['cpu']}/{m['name']}": m["per_inference"] / n["per_inference"]
            for m in measurements
            if m["variant"] == a
            for n in measurements
            if n["variant"] == b and (n["cpu"], n["name"]) == (m["cpu"], m["name"])
        }
    write_json(f"{out}.json", results, indent=1)
    Path(f"{out}.md").write_text(report(results))
    click.echo(f"wrote {out}.md and {out}.json")


if __name__ == "__main__":
    main()
