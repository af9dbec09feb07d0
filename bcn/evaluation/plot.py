"""Precision-recall curves as a PNG (matplotlib, no display needed)."""

import io
import math

from bcn.evaluation.voc_map import Evaluation


def pr_curves_png(evaluation: Evaluation, title: str = "") -> bytes:
    """A PNG with one panel per class with ground truth: precision over recall, its AP in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = [c for c in evaluation.per_class if c.ap_area is not None]
    columns = min(5, max(1, math.ceil(math.sqrt(len(classes)))))
    rows = max(1, math.ceil(len(classes) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 2.8 * rows + 0.6), squeeze=False)
    for ax in axes.flat[len(classes) :]:
        ax.axis("off")
    for ax, result in zip(axes.flat, classes):
        if len(result.recall):
            ax.step(result.recall, result.precision, where="post", linewidth=1.2)
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
        ax.set_title(f"{result.name}  AP {result.ap_area:.3f} (07: {result.ap_voc07:.3f})", fontsize=9)
        ax.grid(alpha=0.3)
    figure.suptitle(
        f"{title}  mAP@0.5 {evaluation.map50_voc07 or 0:.3f} (VOC07), {evaluation.map50_area or 0:.3f} (area)".strip()
    )
    figure.tight_layout()
    png = io.BytesIO()
    figure.savefig(png, dpi=100, format="png")
    plt.close(figure)
    return png.getvalue()
