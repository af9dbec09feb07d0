"""report.md of `bcn demo`: every figure comes from the summary written beside it (demo.json).

The report judges its own result: the warnings it opens with (result_warnings) are also what
`bcn demo` logs on the terminal.
"""

import shlex
from pathlib import Path

from bcn.io import write_text

# The least mAP@0.5 (VOC07) a working binary model reaches on the generated data (the demo's
# default run scores about 0.58); below it the report says why and how to train longer.
MAP_FLOOR = 0.3
# Held-out mAP counts as still rising when its last evaluation beats the one before by more than this.
STILL_RISING = 0.01
# The demo's models trained to convergence on the generated data, as benchmarks/train_convergence.json records
# them (tests/test_demo_parts.py checks these against it): mAP@0.5 (VOC07), the binary model's final and best.
CONVERGED = {"epochs": 100, "binary_final": 0.747, "binary_best": 0.772, "float_final": 0.824}
CONVERGENCE_COMMAND = "python benchmarks/train_convergence.py"


def mib(num_bytes: float) -> str:
    return f"{num_bytes / 2**20:.2f} MiB"


def ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def metric(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def engine_phrase(runtime: dict) -> str:
    """What ran a model, e.g. "the tflite engine (ai-edge-litert 2.3.0 + bcn-lce delegate, kernel avx2)"."""
    kernel = (runtime.get("options") or {}).get("kernel")
    return f"the {runtime['engine']} engine ({runtime['library']}{f', kernel {kernel}' if kernel else ''})"


def speed(over: float | None, than: str) -> str:
    """A latency ratio (binary / other) in words, with the ratio as the tables print it."""
    if over is None:
        return f"not measured against {than}"
    shown = ratio(over)
    pace = "as fast as" if shown == "1.00" else "faster than" if over < 1 else "slower than"
    return f"{pace} {than} ({shown}x its latency)"


def size(over: float | None, than: str) -> str:
    """A size ratio (other / binary) in words."""
    if over is None:
        return f"not compared with {than}"
    if ratio(over) == "1.00":
        return f"the same size as {than}"
    return f"{ratio(over)}x smaller than {than}" if over > 1 else f"{ratio(1 / over)}x larger than {than}"


def map_difference(converted: float | None, keras: float | None) -> str:
    """How the converted model's mAP@0.5 compares with the Keras model's, at the table's precision."""
    if converted is None or keras is None:
        return "cannot be compared with the Keras model's (n/a)"
    difference = float(metric(converted)) - float(metric(keras))
    if metric(converted) == metric(keras):
        return f"equals the Keras model's, {metric(keras)}"
    return (
        f"is {abs(difference):.3f} {'higher' if difference > 0 else 'lower'} than the Keras model's "
        f"({metric(converted)} vs {metric(keras)})"
    )


def train_longer_command(summary: dict) -> str:
    """The `bcn demo` command that trains longer than this run (twice the binary model's epochs, at least
    DEMO_EPOCHS), keeping this run's other choices about its data, model and report folder."""
    from bcn.demo import DEMO_ARCH, DEMO_EPOCHS, DEMO_IMAGES, DEMO_INPUT_SIZE, DEMO_OUT, DEMO_SEED

    words = ["bcn", "demo", "--epochs", str(max(DEMO_EPOCHS, 2 * summary["training"]["binary"]["epochs"]))]
    if summary.get("data"):
        words += ["--data", summary["data"]["root"]]
    elif summary["images"] != DEMO_IMAGES:
        words += ["--images", str(summary["images"])]
    for option, value, default in (
        ("--arch", summary["arch"], DEMO_ARCH),
        ("--input-size", summary["input_size"], DEMO_INPUT_SIZE),
        ("--seed", summary["seed"], DEMO_SEED),
        ("--out", summary["out"], DEMO_OUT),
    ):
        if value != default:
            words += [option, str(value)]
    return shlex.join(words)


def floor_warning(summary: dict) -> str | None:
    """On generated data, one line when the binary model scores below MAP_FLOOR: the likely cause and the
    command that trains longer; None otherwise (a user's data set has no known floor)."""
    score = summary["evaluation"]["binary_keras"]["map50_voc07"]
    if summary.get("data") or score is None or float(metric(score)) >= MAP_FLOOR:
        return None
    epochs = plural(summary["training"]["binary"]["epochs"], "epoch")
    cause = (
        f"the {summary['minutes']:g}-minute time budget gave it only {epochs} on this machine (its speed or load)"
        if summary.get("minutes")
        else f"{epochs} are too few for it to learn the data"
    )
    return (
        f"Warning: the binary model's mAP@0.5 (VOC07) is {metric(score)}, below {MAP_FLOOR}, the least a working "
        f"detector reaches on the generated data; likely cause: {cause}; train longer with "
        f"`{train_longer_command(summary)}`."
    )


def trend(evaluations: list[dict]) -> str:
    """How held-out mAP ended, from its last two evaluations at the report's precision: "rising" (by more than
    STILL_RISING), "level", "once" (a single evaluation) or "never"."""
    if len(evaluations) < 2:
        return "once" if evaluations else "never"
    before, last = (float(metric(evaluation["map50_voc07"])) for evaluation in evaluations[-2:])
    return "rising" if round(last - before, 3) > STILL_RISING else "level"


def _trend_clause(name: str, evaluations: list[dict]) -> str:
    """How the held-out mAP of the model called `name` ended, with the evaluations it is judged on."""
    kind = trend(evaluations)
    if kind == "never":
        return f"the {name}'s was never measured (no epoch finished)"
    if kind == "once":
        return f"the {name}'s was measured once (epoch {evaluations[0]['epoch']}), too few times to tell"
    pair = ", ".join(f"{metric(e['map50_voc07'])} at epoch {e['epoch']}" for e in evaluations[-2:])
    return f"the {name}'s {'was still rising' if kind == 'rising' else 'had levelled off'} ({pair})"


def budget_warning(summary: dict) -> str | None:
    """Under a time budget, one line when either model's held-out mAP was still rising at its end (or measured
    too rarely to tell), with the command that trains longer; None otherwise."""
    if not summary.get("minutes"):
        return None
    models = (("binary model", "binary"), ("float twin", "float"))
    if all(trend(summary["training"][run].get("evaluations", [])) == "level" for _, run in models):
        return None
    clauses = "; ".join(_trend_clause(name, summary["training"][run].get("evaluations", [])) for name, run in models)
    return (
        f"Warning: held-out mAP@0.5 (VOC07) at the end of the {summary['minutes']:g}-minute time budget: {clauses}. "
        f"More epochs would likely score higher: `{train_longer_command(summary)}`."
    )


def result_warnings(summary: dict) -> list[str]:
    """The lines that open the report and that `bcn demo` logs: a result below the floor, a budget ended too soon."""
    return [warning for warning in (floor_warning(summary), budget_warning(summary)) if warning]


def training_amount(summary: dict) -> str:
    """The training the run asked for, in a few words: its epochs per model or its time budget."""
    if summary.get("minutes"):
        return f"a {summary['minutes']:g}-minute training budget"
    return f"{plural(summary['epochs'], 'training epoch')} per model"


def training_sentence(summary: dict) -> str:
    """How much the two models trained: the same epochs, or the same time budget and the epochs it gave each."""
    if summary.get("minutes"):
        training = summary["training"]
        return (
            f"The binary model and its float twin train on the same data with the same time budget "
            f"({summary['minutes'] / 2:g} min each), which gave the binary model "
            f"{plural(training['binary']['epochs'], 'epoch')} and its float twin "
            f"{plural(training['float']['epochs'], 'epoch')} on this machine"
        )
    return (
        f"The binary model and its float twin train on the same data for the same number of epochs "
        f"({summary['epochs']} each)"
    )


def _bench_rows(bench: dict) -> list[str]:
    rows = [
        "| model | variant | threads | engine | interpreter p50 ms | detect p50 ms | detect FPS |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in bench["results"]:
        detect = r.get("detect_ms") or {}
        fps = 1e3 / detect["mean"] if detect.get("mean") else None
        rows.append(
            f"| {Path(r['model']).name} | {r['variant']} | {r['threads']} | {r['engine']} | "
            f"{ms(r['latency_ms']['p50'])} | {ms(detect.get('p50'))} | {ratio(fps)} |"
        )
    return rows


def _ratio_rows(bench: dict) -> list[str]:
    from bcn.runtime.bench import RATIOS, ratio_key

    rows = [
        "| threads | " + " | ".join(f"{variant} / {baseline} (p50)" for variant, baseline in RATIOS) + " |",
        "| --- |" + " --- |" * len(RATIOS),
    ]
    for c in bench.get("comparisons", []):
        cells = [ratio((c.get(ratio_key(variant, baseline)) or {}).get("p50")) for variant, baseline in RATIOS]
        rows.append(f"| {c['threads']} | " + " | ".join(cells) + " |")
    return rows


# What each variant of the conversion is, in the report's words.
MADE_FROM = {
    "binary": "the binary model, full-precision layers in float32",
    "binary-int8": "the binary model, full-precision layers in int8",
}


def _made_from(variant: str, entry: dict) -> str:
    if variant in MADE_FROM:
        return MADE_FROM[variant]
    return {"trained": "the trained float twin", "fresh": "a float twin with fresh (untrained) weights"}.get(
        entry.get("weights"), "the float twin"
    )


def _parity_sentence(path: str, parity: dict) -> str:
    """What convert's parity check compared for the file at `path`, and its verdict with the numbers it was
    judged on."""
    from bcn.converters.parity import parity_problem

    runner = f" on {engine_phrase(parity['runtime'])}" if parity.get("runtime") else ""
    if parity.get("check") == "failed":
        problem = parity_problem(parity)
        verdict = "failed" + (f": {problem}" if problem else "")
    else:
        threshold = parity["score_threshold"]
        matched = (
            f"{parity['agreement']:.1%} of the detections with score >= {threshold} match within IoU "
            f"{parity['min_iou']} with the same class"
            if parity.get("agreement") is not None
            else f"no detections with score >= {threshold} to match"
        )
        largest = parity.get("heatmap_max_abs_diff")
        heatmap = "" if largest is None else f", heatmap scores differ by at most {largest:.3g}"
        verdict = f"{parity.get('check')}: {matched}{heatmap}"
    return (
        f"Parity of `models/{Path(path).name}`, run by bcn's runtime with its defaults{runner}, vs Keras on "
        f"{plural(parity['images'], 'image')}: check {verdict}; details in [convert.json](convert.json)."
    )


def _convergence_sentence() -> str:
    """What longer training gives on the generated data, from the recorded benchmark."""
    c = CONVERGED
    return (
        f"Trained to convergence on the generated data (the binary model until held-out mAP stopped rising, "
        f"{c['epochs']} epochs, its float twin as many; `{CONVERGENCE_COMMAND}`), the binary model reached "
        f"{c['binary_final']:.3f} mAP@0.5 (VOC07; best {c['binary_best']:.3f}) and its float twin "
        f"{c['float_final']:.3f}: a gap of {c['float_final'] - c['binary_final']:.3f} that bcn's recipe does not "
        "close yet."
    )


def _converted_sentence(key: str, ev: dict) -> str:
    name = "float32" if key == "binary_lce" else "int8"
    return (
        f"With {name} rest its mAP@0.5 (VOC07) "
        f"{map_difference(ev[key]['map50_voc07'], ev['binary_keras']['map50_voc07'])}."
    )


def _speeds(comparison: dict) -> str:
    """How much faster each binary variant ran than the baselines it replaces, at one thread count."""
    from bcn.runtime.bench import RATIOS, ratio_key

    phrases = {
        "binary": "the binary model (float32 rest)",
        "binary-int8": "the binary model with int8 rest",
    }
    parts = [
        f"{phrases[variant]} is {speed(comparison[ratio_key(variant, baseline)]['p50'], f'its {baseline} twin')}"
        for variant, baseline in RATIOS
        if comparison.get(ratio_key(variant, baseline))
    ]
    return f"At {plural(comparison['threads'], 'thread')} " + "; ".join(parts) + "."


def _latency_prose(bench: dict) -> list[str]:
    """How the latency was measured and what the ratios show, in sentences made from bench.json."""
    lines = []
    if bench.get("tensorflow_loaded") is not None:
        lines.append(
            "`bcn bench` measured these models in a new Python process "
            + (
                "with TensorFlow loaded: its threads may skew the multi-threaded rows."
                if bench["tensorflow_loaded"]
                else "that never loaded TensorFlow, so no thread left by training competes with the measured runs."
            )
        )
    engines: dict[str, list] = {}
    for r in bench["results"]:
        engines.setdefault(engine_phrase(r), []).append(r["variant"] or r["name"])
    lines.append(
        "Engines: "
        + "; ".join(f"{' and '.join(dict.fromkeys(names))} on {phrase}" for phrase, names in engines.items())
        + "."
    )
    lines.append("Ratios are of the interpreter call's p50; below 1 the binary model is faster.")
    lines += [_speeds(c) for c in bench.get("comparisons", [])]
    threads = bench["settings"]["threads"]
    if len(threads) > 1:
        p50s: dict[str, dict] = {}
        for r in bench["results"]:
            p50s.setdefault(r["variant"] or r["name"], {})[r["threads"]] = r["latency_ms"]["p50"]
        fewest, most = min(threads), max(threads)
        changes = [
            f"{name} {ratio(by_threads[most] / by_threads[fewest])}x"
            for name, by_threads in p50s.items()
            if by_threads.get(fewest) and by_threads.get(most)
        ]
        lines.append(
            f"From {plural(fewest, 'thread')} to {most} the p50 changes by a factor of: "
            f"{', '.join(changes)} (below 1: faster with more threads)."
        )
    lines.append(
        "Absolute times on a shared machine are noisy; the models ran interleaved, one detect each in "
        "turn, so the ratios compare runs made side by side rather than minutes apart."
    )
    return lines


def render(summary: dict) -> str:
    """The report's Markdown."""
    conv, ev, bench = summary["conversion"], summary["evaluation"], summary["bench"]
    machine = bench["machine"]
    cost = conv["cost"]
    files = conv["files"]
    main = conv.get("main", "binary")
    shown = summary["detections"]
    lines = [
        "# bcn demo report",
        "",
        (
            f"Generated data set ({summary['images']} images, "
            if not summary.get("data")
            else f"Data set {summary['data']['root']} ({summary['data']['layout']}, evaluated on its "
            f"{summary['data']['held_out']} split of {summary['data']['held_out_images']} images, "
        )
        + f"classes: {', '.join(summary['classes'])}), "
        f"input {summary['input_size']}x{summary['input_size']}, {training_amount(summary)}, "
        f"seed {summary['seed']}. Machine: {machine.get('cpu')} ({machine.get('logical_cores')} logical cores, "
        f"{machine.get('arch')}, {machine.get('os')}). Whole run: {summary['total_seconds'] / 60:.1f} min.",
        "",
        *[line for warning in result_warnings(summary) for line in (f"> {warning}", "")],
        "## Architecture",
        "",
        f"`{summary['arch']}`",
        "",
        "| MACs | binary MACs | rb (binary share) | equivalent FLOPs (Eq. 1) | parameters |",
        "| --- | --- | --- | --- | --- |",
        f"| {cost['macs'] / 1e6:.1f} M | {cost['binary_macs'] / 1e6:.1f} M | {cost['binary_ratio']:.4f} | "
        f"{cost['eq_flops'] / 1e6:.1f} M | {cost['params']:,} |",
        "",
        "rb is the share of multiply-accumulates done by 1-bit convolutions; Eq. 1 counts a binary MAC",
        "as 1/64 of a float one, which is the paper's estimate of what a bitpacked kernel saves.",
        "",
        f"## Accuracy: VOC mAP@0.5 on the held-out {summary['held_out']} split",
        "",
        "| model | mAP@0.5 (VOC07 11-point) | mAP@0.5 (area) | epochs | training seconds |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, label, run in (
        ("binary_keras", "binary (Keras)", "binary"),
        ("binary_lce", "binary, float32 rest (converted .tflite)", None),
        ("binary_int8_lce", "binary, int8 rest (converted .tflite)", None),
        ("float_keras", "float twin (Keras)", "float"),
    ):
        if key not in ev:
            continue
        training = summary["training"].get(run, {}) if run else {}
        lines.append(
            f"| {label} | {metric(ev[key]['map50_voc07'])} | {metric(ev[key]['map50_area'])} | "
            f"{training.get('epochs', '')} | {training.get('seconds', '')} |"
        )
    lines += [
        "",
        f"{training_sentence(summary)}; the float twin is the fair baseline (same graph, every binary "
        "conv full precision). The converted rows are the binary model's .tflite files run as `bcn detect` "
        f"runs them, by bcn's runtime with its defaults on {engine_phrase(shown['runtime'])}. "
        + " ".join(_converted_sentence(key, ev) for key in ("binary_lce", "binary_int8_lce") if key in ev),
        "",
        _convergence_sentence(),
        "",
        "![precision-recall, binary](pr_binary.png) ![precision-recall, float twin](pr_float.png)",
        "",
        "## Conversion",
        "",
        "| file | made from | format | size | binary convs (LceBconv2d) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for variant, entry in files.items():
        bconv = entry["ops"].get("LceBconv2d", 0)
        kind = "TFLite with LCE ops" if entry["engine"] == "lce" else "TFLite"
        lines.append(
            f"| {Path(entry['path']).name} | {_made_from(variant, entry)} | {kind} | {mib(entry['bytes'])} | {bconv} |"
        )
    lines += [
        "",
        f"`{Path(files[main]['path']).name}` (what `bcn convert` writes by default) is "
        f"{size(conv['size_ratios'].get('float32'), 'the float32 twin')} "
        f"and {size(conv['size_ratios'].get('int8'), 'the int8 twin')}. "
        f"{conv['binary_layers'].get('LceBconv2d', 0)} of {conv['binary_layers'].get('keras_binary_convs', '?')} "
        "binary Keras layers became bitpacked LceBconv2d ops.",
        "",
        *(
            line
            for variant, parity in conv.get("parities", {main: conv["parity"]}).items()
            for line in (_parity_sentence(files[variant]["path"], parity), "")
        ),
        "",
        "## Latency (one interleaved run)",
        "",
        *_bench_rows(bench),
        "",
        *_ratio_rows(bench),
        "",
        " ".join(_latency_prose(bench)),
        "",
        "![latency](latency.png)",
        "",
        "## Detections",
        "",
        f"`models/{Path(files[main]['path']).name}` run by bcn's runtime on {engine_phrase(shown['runtime'])}, on "
        f"{plural(len(shown['images']), 'test image')}; boxes with score >= {shown['score_threshold']}:",
        "",
    ]
    for item in shown["images"]:
        enlarged = f", drawn {item['enlarged']}x enlarged" if item["enlarged"] > 1 else ""
        lines.append(
            f"- [{item['image']}]({item['image']}): detections {item['detections']}, "
            f"objects in the annotation {item['ground_truth']}{enlarged}"
        )
    lines += [
        "",
        "## Files",
        "",
        "- `models/`: "
        + ", ".join(f"`{Path(entry['path']).name}` ({_made_from(variant, entry)})" for variant, entry in files.items()),
        "- `runs/binary`, `runs/float`: training runs, each with `best.h5` and `model.h5` (Keras), config.json "
        "and TensorBoard logs (`tensorboard --logdir runs`)",
        *(["- `data/`: the generated VOC-layout data set"] if not summary.get("data") else []),
        "- `eval.json`, `convert.json`, `bench.json`, `bench.md`, `demo.json`: the figures above",
        "",
        "Step timings (s): " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in summary["timings"].items()),
        "",
    ]
    return "\n".join(lines)


def write_report(out: Path, summary: dict) -> Path:
    """Write OUT/report.md atomically; returns its path."""
    path = out / "report.md"
    write_text(path, render(summary))
    return path
