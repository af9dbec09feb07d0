"""report.md of `bcn demo`: every figure comes from the summary written beside it (demo.json)."""

from pathlib import Path

from bcn.io import atomic_output


def mib(num_bytes: float) -> str:
    return f"{num_bytes / 2**20:.2f} MiB"


def ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def metric(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _bench_rows(bench: dict) -> list[str]:
    rows = ["| model | variant | threads | engine | interpreter p50 ms | detect p50 ms | detect FPS |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in bench["results"]:
        detect = r.get("detect_ms") or {}
        fps = 1e3 / detect["mean"] if detect.get("mean") else None
        rows.append(f"| {Path(r['model']).name} | {r['variant']} | {r['threads']} | {r['engine']} | "
                    f"{ms(r['latency_ms']['p50'])} | {ms(detect.get('p50'))} | {ratio(fps)} |")
    return rows


def _ratio_rows(bench: dict) -> list[str]:
    rows = ["| threads | binary / float32 (p50) | binary / int8 (p50) |", "| --- | --- | --- |"]
    for c in bench.get("comparisons", []):
        f32, i8 = c.get("binary_over_float32") or {}, c.get("binary_over_int8") or {}
        rows.append(f"| {c['threads']} | {ratio(f32.get('p50'))} | {ratio(i8.get('p50'))} |")
    return rows


def render(summary: dict) -> str:
    """The report's Markdown."""
    conv, ev, bench = summary["conversion"], summary["evaluation"], summary["bench"]
    machine = bench["machine"]
    cost = conv["cost"]
    files = conv["files"]
    parity = conv["parity"]
    lines = [
        "# bcn demo report",
        "",
        (f"Generated data set ({summary['images']} images, " if not summary.get("data") else
         f"Data set {summary['data']['root']} ({summary['data']['layout']}, evaluated on its "
         f"{summary['data']['held_out']} split of {summary['data']['held_out_images']} images, ")
        + f"classes: {', '.join(summary['classes'])}), "
        f"input {summary['input_size']}x{summary['input_size']}, {summary['minutes']:g} training minutes, "
        f"seed {summary['seed']}. Machine: {machine.get('cpu')} ({machine.get('logical_cores')} logical cores, "
        f"{machine.get('arch')}, {machine.get('os')}). Whole run: {summary['total_seconds'] / 60:.1f} min.",
        "",
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
        "## Accuracy: VOC mAP@0.5 on the held-out test split",
        "",
        "| model | mAP@0.5 (VOC07 11-point) | mAP@0.5 (area) | epochs | training seconds |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, label, run in (("binary_keras", "binary (Keras)", "binary"), ("binary_lce", "binary (LCE .tflite)", None),
                            ("float_keras", "float twin (Keras)", "float")):
        training = summary["training"].get(run, {}) if run else {}
        lines.append(f"| {label} | {metric(ev[key]['map50_voc07'])} | {metric(ev[key]['map50_area'])} | "
                     f"{training.get('epochs', '')} | {training.get('seconds', '')} |")
    lines += [
        "",
        "The binary model and its float twin train on the same data for the same time; the float twin is",
        "the fair baseline (same graph, every binary conv full precision). The LCE row is the converted",
        "flatbuffer run by the LCE interpreter: it should match the Keras row closely.",
        "",
        "![precision-recall, binary](pr_binary.png) ![precision-recall, float twin](pr_float.png)",
        "",
        "## Conversion",
        "",
        "| file | engine | size | binary convs (LceBconv2d) |",
        "| --- | --- | --- | --- |",
    ]
    for variant, entry in files.items():
        bconv = entry["ops"].get("LceBconv2d", 0)
        lines.append(f"| {Path(entry['path']).name} | {entry['engine']} | {mib(entry['bytes'])} | {bconv} |")
    lines += [
        "",
        f"The binary model is {ratio(conv['size_ratios'].get('float32'))}x smaller than its float32 twin "
        f"and {ratio(conv['size_ratios'].get('int8'))}x smaller than int8. "
        f"{conv['binary_layers'].get('LceBconv2d', 0)} of {conv['binary_layers'].get('keras_binary_convs', '?')} "
        "binary Keras layers became bitpacked LceBconv2d ops.",
        "",
        f"Parity, LCE interpreter vs Keras on {len(parity.get('samples', []))} images: "
        f"check {parity.get('check')}; details in [convert.json](convert.json).",
        "",
        "## Latency (measured interleaved, one run)",
        "",
        *_bench_rows(bench),
        "",
        *_ratio_rows(bench),
        "",
        "Below 1 the binary model is faster. On x86 LCE has no hand-optimized kernels (its fast paths are",
        "ARM NEON): expect larger gains on a Raspberry Pi. Absolute times on a shared machine are noisy;",
        "the ratios come from runs interleaved model by model, so noise hits all alike.",
        "",
        "![latency](latency.png)",
        "",
        "## Detections (binary model, LCE runtime, score >= 0.3)",
        "",
    ]
    for item in summary["detections"]:
        lines.append(f"- [{item['image']}]({item['image']}): detections {item['detections']}, "
                     f"objects in the annotation {item['ground_truth']}")
    lines += [
        "",
        "## Files",
        "",
        "- `models/`: `binary.tflite` (LCE), `binary_float32.tflite` and `binary_int8.tflite` (the float twin)",
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
    with atomic_output(path) as tmp:
        Path(tmp).write_text(render(summary))
    return path
