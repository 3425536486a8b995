"""report.html of a model-quality monitoring run: every metric against its baseline threshold,
violations in red, and a classifier's confusion matrix. One self-contained page (inline PNG,
matplotlib Agg).
"""

import base64
import math
from html import escape

from training.monitor.quality import metrics_of
from training.monitor.report import BASELINE_COLOUR, CURRENT_COLOUR, VIOLATION_COLOUR, png, pyplot


def matrix_picture(matrix: dict) -> str:
    labels = list(matrix)
    counts = [[matrix[actual].get(guess, 0) for guess in labels] for actual in labels]
    size = 1.2 + 0.6 * len(labels)
    figure, axes = pyplot().subplots(figsize=(size + 1.5, size), dpi=80)
    axes.imshow(counts, cmap="Blues")
    top = max((max(row) for row in counts), default=0)
    for row, values in enumerate(counts):
        for col, count in enumerate(values):
            axes.text(col, row, str(count), ha="center", va="center",
                      color="white" if count > top / 2 else "black")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("ground truth")
    return base64.b64encode(png(figure)).decode()


def deviation(metric: dict) -> float:
    """A metric's standard deviation as a number: NaN where SageMaker writes "NaN"."""
    value = metric["standard_deviation"]
    return value if isinstance(value, int | float) else math.nan


def metrics_picture(metrics: dict, constraints: dict, flagged: set) -> str:
    names = list(constraints)
    figure, axes = pyplot().subplots(figsize=(6.4, 2.8), dpi=80)
    values = [metrics[name]["value"] for name in names]
    colours = [VIOLATION_COLOUR if name in flagged else CURRENT_COLOUR for name in names]
    axes.bar(range(len(names)), values, color=colours, alpha=0.8, yerr=[
        deviation(metrics[name]) for name in names], label="current")
    axes.hlines([constraints[name][1] for name in names], [i - 0.45 for i in range(len(names))],
                [i + 0.45 for i in range(len(names))], colors=BASELINE_COLOUR, linewidth=3,
                label="threshold", zorder=3)
    axes.set_xticks(range(len(names)), names, rotation=20)
    if all(0 <= value <= 1 for value in values):  # rates and scores; errors keep their scale
        axes.set_ylim(0, 1.05)
    axes.legend(loc="lower right", fontsize="small")
    return base64.b64encode(png(figure)).decode()


def matrix_section(matrix: dict) -> str:
    head = "".join(f"<th>{escape(str(label))}</th>" for label in matrix)
    cells = "".join(f"<tr><th>{escape(str(actual))}</th>" + "".join(
        f"<td>{matrix[actual].get(guess, 0)}</td>" for guess in matrix) + "</tr>"
        for actual in matrix)
    return f"""<h2>Confusion matrix (rows: ground truth, columns: predicted)</h2>
<table><tr><th></th>{head}</tr>{cells}</table>
<img alt="confusion matrix" src="data:image/png;base64,{matrix_picture(matrix)}">"""


def html(statistics: dict, constraints: dict, violations: list, counts: dict, window: str,
         baseline: str) -> str:
    metrics = metrics_of(statistics)
    flagged = {v["metric_name"] for v in violations}
    rows = "".join(
        f"<tr{' class=bad' if name in flagged else ''}><td>{escape(name)}</td>"
        f"<td>{metrics[name]['value']:.4f} &plusmn; {deviation(metrics[name]):.4f}"
        f"</td><td>{escape(operator)} {threshold:.4f}</td>"
        f"<td>{'violated' if name in flagged else 'ok'}</td></tr>"
        for name, (operator, threshold) in constraints.items())
    matrix = metrics.get("confusion_matrix")  # regression has none
    confusion = matrix_section(matrix) if matrix else ""
    summary = (f"{counts['merged']} of {counts['predictions']} captured predictions had ground "
               f"truth; {counts['unmatched_predictions']} without a label and "
               f"{counts['unmatched_labels']} labels without a prediction were left out.")
    verdict = (f"<p class=bad>{len(violations)} violation(s): "
               f"{escape(', '.join(sorted(flagged)))}</p>" if violations
               else "<p>no violations</p>")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Model quality: {escape(window)}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .8em;text-align:right}}
table{{border-collapse:collapse}}tr.bad,p.bad{{color:{VIOLATION_COLOUR};font-weight:bold}}</style>
</head><body>
<h1>Model quality</h1>
<p>Window: {escape(window)}. Baseline: {escape(baseline)}. {escape(summary)}</p>
{verdict}
<h2>Metrics against the baseline's thresholds</h2>
<table><tr><th>metric</th><th>current</th><th>constraint</th><th></th></tr>{rows}</table>
<img alt="metrics" src="data:image/png;base64,{metrics_picture(metrics, constraints, flagged)}">
{confusion}
</body></html>
"""
