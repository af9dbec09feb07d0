"""Present a `bcn bench` report: text or Markdown tables, and a latency plot."""

from pathlib import Path

from bcn.errors import BcnError
from bcn.runtime.bench import RATIOS, ratio_key
from bcn.runtime.metadata import VARIANTS

MISSING = "-"


def _ms(stats: dict | None, key: str) -> str:
    value = (stats or {}).get(key)
    return MISSING if value is None else f"{value:.1f}"


def _fps(stats: dict | None) -> str:
    value = (stats or {}).get("fps")
    return MISSING if value is None else f"{value:.1f}"


def _giga(value) -> str:
    return MISSING if value is None else f"{value / 1e9:.2f}"


def _options(result: dict) -> str:
    options = result.get("options") or {}
    names = {"use_indirect_bgemm": "ibgemm", "use_xnnpack": "xnnpack", "use_reference_bconv": "ref-bconv"}
    words = [short for key, short in names.items() if options.get(key)]
    if options.get("lce_delegate"):  # which of bcn's kernel paths ran the binary layers
        words.append(f"bcn-lce {options.get('kernel', '?')}")
    return " ".join(words) or "plain"


# The header rows of result_rows' and comparison_rows' tables.
RESULT_COLUMNS = (
    "model|variant|engine (options)|thr|MiB|GMACs|rb|eqGFLOP|run mean|p50|p90|p99|FPS|detect mean|p50|p99|FPS|mem MB"
).split("|")
COMPARISON_COLUMNS = [
    "architecture",
    "z",
    "thr",
    *(f"{variant} ms" for variant in VARIANTS),
    *(f"{variant}/{baseline}" for variant, baseline in RATIOS),
    f"options ({' / '.join(VARIANTS)})",
]


def result_rows(report: dict) -> list[list[str]]:
    """One row per model and thread count, with a header row first."""
    rows = [RESULT_COLUMNS]
    for r in report["results"]:
        rows.append(
            [
                r["name"],
                r.get("variant") or MISSING,
                f"{r['engine']} ({_options(r)})",
                str(r["threads"]),
                f"{r['file_size_bytes'] / 2**20:.2f}",
                _giga(r.get("macs")),
                MISSING if r.get("binary_ratio") is None else f"{r['binary_ratio']:.3f}",
                _giga(r.get("eq_flops")),
                _ms(r["latency_ms"], "mean"),
                _ms(r["latency_ms"], "p50"),
                _ms(r["latency_ms"], "p90"),
                _ms(r["latency_ms"], "p99"),
                _fps(r["latency_ms"]),
                _ms(r.get("detect_ms"), "mean"),
                _ms(r.get("detect_ms"), "p50"),
                _ms(r.get("detect_ms"), "p99"),
                _fps(r.get("detect_ms")),
                MISSING if r.get("memory_mb") is None else f"{r['memory_mb']:.0f}",
            ]
        )
    return rows


def _mean_of(comparison: dict, variant: str) -> str:
    """The variant's mean latency in a comparison, or MISSING where it was not measured."""
    return _ms(comparison[variant]["latency_ms"], "mean") if comparison.get(variant) else MISSING


def _ratio(comparison: dict, variant: str, baseline: str) -> str:
    """The variant's mean latency over the baseline's, or MISSING."""
    value = (comparison.get(ratio_key(variant, baseline)) or {}).get("mean")
    return MISSING if value is None else f"{value:.2f}"


def comparison_rows(report: dict) -> list[list[str]]:
    """Binary variants versus the float32 and int8 twins, per architecture and thread count (interpreter call)."""
    rows = [COMPARISON_COLUMNS]
    for c in report["comparisons"]:
        options = " / ".join(_options(c[variant]) if c.get(variant) else MISSING for variant in VARIANTS)
        rows.append(
            [
                c["spec"],
                str(c["input_size"]),
                str(c["threads"]),
                *(_mean_of(c, variant) for variant in VARIANTS),
                *(_ratio(c, variant, baseline) for variant, baseline in RATIOS),
                options,
            ]
        )
    return rows


def profile_rows(profile: dict) -> list[list[str]]:
    """One row per node of bcn's LCE delegate and one for the rest of the model, with a header row first."""
    rows = [["op", "node", "input", "output", "binary MMACs", "ms", "binary GMAC/s", "share"]]
    for op in profile["ops"]:
        rate = op["binary_gmac_per_s"]
        rows.append(
            [
                op["op"],
                str(op["node"]),
                op["input"],
                op["output"],
                f"{op['binary_macs'] / 1e6:.1f}" if op["binary_macs"] else MISSING,
                f"{op['ms']:.3f}",
                MISSING if rate is None else f"{rate:.1f}",
                f"{op['share']:.1%}",
            ]
        )
    rest = ["rest of the model (runtime ops, XNNPACK)", MISSING, MISSING, MISSING, MISSING]
    rows.append(rest + [f"{profile['rest_ms']:.3f}", MISSING, f"{profile['rest_share']:.1%}"])
    return rows


def _profiles(report: dict, markdown: bool) -> list[str]:
    """A per-layer table for each result measured with a profile."""
    parts = []
    for r in report["results"]:
        if not r.get("profile"):
            continue
        title = f"{r['name']}, {r['threads']} thread(s): per-layer time of bcn's LCE delegate"
        note = (
            f"ms per run over every run, warm-up included; share of the mean interpreter call "
            f"({r['profile']['model_ms']:.3f} ms)"
        )
        header = ["", f"### {title}", "", note, ""] if markdown else ["", f"{title} ({note}):"]
        parts += header + [format_table(profile_rows(r["profile"]), markdown=markdown)]
    return parts


def format_table(rows: list[list[str]], markdown: bool = False) -> str:
    """Aligned text columns, or a Markdown pipe table."""
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join(" --- " for _ in rows[0]) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows[1:]])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine_line(report: dict) -> str:
    m = report["machine"]
    cores = f"{m['logical_cores']} logical cores" + (
        f" ({m['physical_cores']} physical)" if m.get("physical_cores") else ""
    )
    load = m.get("load_average")
    load_text = f", load average {load[0]:.2f} at start" if load else ""
    return f"{m['cpu']}, {cores}, {m['arch']}, {m['os']}, Python {m['python']}{load_text}"


def format_text(report: dict) -> str:
    """The report as the console shows it."""
    parts = [f"machine: {machine_line(report)}", "", format_table(result_rows(report))]
    if report["comparisons"]:
        parts += [
            "",
            "binary vs full precision (interpreter call, mean latency):",
            format_table(comparison_rows(report)),
        ]
    parts += _profiles(report, markdown=False)
    parts += [
        "",
        "run = interpreter call alone; detect = letterbox + run + decode; times in ms; "
        f"{report['settings']['runs']} runs after {report['settings']['warmup']} warm-up, "
        "models interleaved round-robin" + _separate_note(report),
    ]
    return "\n".join(parts)


def _separate_note(report: dict) -> str:
    separate = any(not r["interleaved"] for r in report["results"])
    return "; lce_benchmark_model runs are separate, after the others" if separate else ""


def format_markdown(report: dict) -> str:
    """The report as a Markdown document."""
    libraries = ", ".join(f"{name} {version}" for name, version in report["libraries"].items())
    settings = report["settings"]
    parts = [
        "# bcn bench",
        "",
        f"- machine: {machine_line(report)}",
        f"- libraries: {libraries}",
        f"- runs: {settings['runs']} after {settings['warmup']} warm-up, all models interleaved round-robin "
        f"in one process; detect input {settings['image_shape'][1]}x{settings['image_shape'][0]}",
        f"- engine: {settings['engine']}, options given: {settings['options'] or 'defaults'} "
        f"(defaults: LCE {settings['defaults']['lce']}, TFLite {settings['defaults']['tflite']})",
        f"- measured {report['created']}; peak RSS of the process {report['peak_rss_mb']:.0f} MB",
        "",
        "## Latency (ms)",
        "",
        "run = interpreter call alone (input copy, invoke, output copy); detect = letterbox + run + decode. "
        "mem MB = resident memory added by loading the model and its first run.",
        "",
        format_table(result_rows(report), markdown=True),
    ]
    if report["comparisons"]:
        parts += [
            "",
            "## Binary vs full precision (mean interpreter latency)",
            "",
            format_table(comparison_rows(report), markdown=True),
        ]
    if any(r.get("profile") for r in report["results"]):
        parts += ["", "## Per-layer profile"] + _profiles(report, markdown=True)
    return "\n".join(parts) + "\n"


def plot_latency(report: dict, path) -> None:
    """A horizontal bar chart of p50 latency (interpreter and whole detect) per model and thread count."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise BcnError(f"{path}: plotting needs matplotlib, which is not installed: pip install matplotlib") from error
    from bcn.io import atomic_output

    results = report["results"]
    labels = [f"{r['name']} ({r['threads']} thr)" for r in results]
    run = [r["latency_ms"]["p50"] or r["latency_ms"]["mean"] for r in results]
    detect = [(r.get("detect_ms") or {}).get("p50") or 0 for r in results]
    figure, axes = plt.subplots(figsize=(8, 1.2 + 0.45 * len(results)))
    rows = range(len(results))
    axes.barh([y + 0.2 for y in rows], detect, height=0.4, label="detect (letterbox + run + decode)", color="#9ecae1")
    axes.barh([y - 0.2 for y in rows], run, height=0.4, label="interpreter call", color="#3182bd")
    axes.set_yticks(list(rows), labels)
    axes.invert_yaxis()
    axes.set_xlabel("p50 latency (ms)")
    axes.set_title(f"bcn bench on {report['machine']['cpu']}", fontsize=9)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    with atomic_output(path) as tmp:
        figure.savefig(tmp, dpi=120, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(figure)
