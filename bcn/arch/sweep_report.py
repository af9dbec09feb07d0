"""A sweep's rows as a table (terminal, Markdown, CSV) and as the paper's Fig. 1 (no TensorFlow)."""

import csv
import io
from pathlib import Path

from bcn.errors import BcnError
from bcn.io import atomic_output

COLUMNS = (
    ("name", "name", "{}"),
    ("z", "input_size", "{}"),
    ("GMACs", "macs", "{:.2f}", 1e-9),
    ("rb", "binary_ratio", "{:.4f}"),
    ("eq GFLOP", "eq_flops", "{:.2f}", 1e-9),
    ("Mparams", "params", "{:.2f}", 1e-6),
    ("mAP", "map", "{:.1f}"),
    ("paper mAP", "paper_map", "{:.1f}"),
    ("binary ms", "latency_ms", "{:.1f}"),
    ("float ms", "float_latency_ms", "{:.1f}"),
    ("binary/float", "latency_ratio", "{:.3f}"),
    ("spec", "spec", "{}"),
)


def _cell(row: dict, column) -> str:
    _, key, fmt, *scale = column
    value = row.get(key)
    if value is None:
        return ""
    if key == "spec" and row.get("float_twin"):
        value = f"{value} (float twin)"
    return fmt.format(value * scale[0] if scale else value)


def _shown(rows: list[dict]):
    """The columns that have a value in some row (no latency columns without --measure)."""
    return [c for c in COLUMNS if any(row.get(c[1]) is not None for row in rows)]


def format_table(rows: list[dict], markdown: bool = False) -> str:
    """Aligned text for the terminal, or a Markdown table."""
    columns = _shown(rows)
    table = [[c[0] for c in columns]] + [[_cell(row, c) for c in columns] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(table[0]) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
        return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in table[1:]]) + "\n"
    widths = [max(len(cells[i]) for cells in table) for i in range(len(columns))]
    text = [
        "  ".join(
            cell.ljust(w) if i in (0, len(columns) - 1) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths))
        ).rstrip()
        for cells in table
    ]
    return "\n".join(text[:1] + ["  ".join("-" * w for w in widths)] + text[1:])


def format_csv(rows: list[dict]) -> str:
    """Every row's raw values (counts, not giga), one line each."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def plot_fig1(rows: list[dict], path) -> None:
    """The paper's Fig. 1: eq GFLOP (log x) against mAP and, when measured, latency; rb as colour."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise BcnError(f"{path}: plotting needs matplotlib, which is not installed: pip install matplotlib") from error
    panels = [("map", "mAP@0.5 (VOC07; yours, else the paper's)"), ("latency_ms", "binary model latency (ms)")]
    panels = [(key, label) for key, label in panels if key != "latency_ms" or any(r.get(key) for r in rows)]
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    scatter = None
    for ax, (key, label) in zip(axes[0], panels):
        points = [
            (r, r.get(key) if key != "map" else (r["map"] if r.get("map") is not None else r.get("paper_map")))
            for r in rows
        ]
        points = [(r, y) for r, y in points if y is not None]
        if points:
            scatter = ax.scatter(
                [r["eq_flops"] / 1e9 for r, _ in points],
                [y for _, y in points],
                c=[r["binary_ratio"] for r, _ in points],
                cmap="viridis",
                vmin=0,
                vmax=1,
                s=40,
                edgecolors="black",
                linewidths=0.5,
            )
            for r, y in points:
                ax.annotate(r["name"], (r["eq_flops"] / 1e9, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        else:
            ax.text(
                0.5,
                0.5,
                "no mAP: presets at their own input size,\nor --results EVAL.json",
                ha="center",
                va="center",
                transform=ax.transAxes,
                fontsize=9,
            )
        ax.set_xscale("log")
        ax.set_xlabel("equivalent GFLOP (Eq. 1, log scale)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    if scatter is not None:
        figure.colorbar(scatter, ax=list(axes[0]), label="rb (binary MACs / all MACs)")
    sizes = sorted({r["input_size"] for r in rows})
    figure.suptitle(f"bcn arch sweep at z = {', '.join(map(str, sizes))}", fontsize=10)
    with atomic_output(path) as tmp:
        figure.savefig(tmp, dpi=120, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(figure)
