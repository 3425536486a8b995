"""report.html of a monitoring run: one self-contained page a person can read.

Each feature's baseline and current distribution side by side (numerical: the 10 buckets of
each as shares on one axis; string: the category shares), its violations in red beside it.
Pictures are inline PNG (matplotlib, Agg), so the file can be mailed or opened anywhere.
"""

import base64
import io
from html import escape as html_escape

BASELINE_COLOUR, CURRENT_COLOUR, VIOLATION_COLOUR = "#4c72b0", "#dd8452", "#c0392b"


def _shares(stats: dict) -> tuple[list, list, list]:
    """(labels or bucket edges, shares, widths) of one feature's distribution."""
    if "numerical_statistics" in stats:
        buckets = stats["numerical_statistics"]["distribution"]["kll"]["buckets"]
        total = sum(b["count"] for b in buckets) or 1
        return ([b["lower_bound"] for b in buckets], [b["count"] / total for b in buckets],
                [max(b["upper_bound"] - b["lower_bound"], 1e-9) for b in buckets])
    buckets = stats.get("string_statistics", {}).get("distribution", {}).get(
        "categorical", {}).get("buckets", [])
    total = sum(b["count"] for b in buckets) or 1
    return [str(b["value"]) for b in buckets], [b["count"] / total for b in buckets], []


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    pyplot().close(figure)
    return buffer.getvalue()


def picture(name: str, baseline: dict | None, current: dict | None, flagged: bool) -> str:
    figure, axes = pyplot().subplots(figsize=(5.2, 2.6), dpi=80)
    draw(axes, name, baseline, current, flagged)
    return base64.b64encode(png(figure)).decode()


def draw(axes, name: str, baseline: dict | None, current: dict | None, flagged: bool) -> None:
    numeric = any("numerical_statistics" in s for s in (baseline, current) if s)
    if numeric:
        for stats, colour, label in ((baseline, BASELINE_COLOUR, "baseline"),
                                     (current, CURRENT_COLOUR, "current")):
            if stats and "numerical_statistics" in stats:
                lefts, shares, widths = _shares(stats)
                axes.bar(lefts, shares, widths, align="edge", alpha=0.55, color=colour,
                         label=label, edgecolor=colour)
    else:
        seen = [_shares(stats)[0] for stats in (baseline, current) if stats]
        categories = list(dict.fromkeys(value for values in seen for value in values))
        for offset, (stats, colour, label) in enumerate(((baseline, BASELINE_COLOUR, "baseline"),
                                                        (current, CURRENT_COLOUR, "current"))):
            if stats:
                values = dict(zip(*_shares(stats)[:2], strict=True))
                axes.bar([i + 0.4 * offset for i in range(len(categories))],
                         [values.get(c, 0.0) for c in categories], 0.4, color=colour,
                         label=label)
        axes.set_xticks([i + 0.2 for i in range(len(categories))], categories, fontsize=8)
    axes.set_title(name, color=VIOLATION_COLOUR if flagged else "black", fontsize=10)
    axes.set_ylabel("share", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=7)
    if flagged:
        for spine in axes.spines.values():
            spine.set_edgecolor(VIOLATION_COLOUR)
            spine.set_linewidth(2)


def grid(baseline: dict, current: dict, violations: list) -> bytes:
    """report.png: every feature's picture in one image, flagged ones in red."""
    before = {f["name"]: f for f in baseline.get("features", [])}
    after = {f["name"]: f for f in current.get("features", [])}
    flagged = {v["feature_name"] for v in violations}
    names = list(dict.fromkeys([*before, *after]))
    columns = 2 if len(names) > 1 else 1
    rows = -(-len(names) // columns)
    figure, axes = pyplot().subplots(rows, columns, figsize=(5.2 * columns, 2.6 * rows), dpi=80,
                                     squeeze=False)
    for index, axis in enumerate(axes.flat):
        if index < len(names):
            name = names[index]
            draw(axis, name, before.get(name), after.get(name), name in flagged)
        else:
            axis.set_visible(False)
    return png(figure)


def html(baseline: dict, current: dict, violations: list, window: str) -> str:
    escape = html_escape
    before = {f["name"]: f for f in baseline.get("features", [])}
    after = {f["name"]: f for f in current.get("features", [])}
    flagged = {}
    for item in violations:
        flagged.setdefault(item["feature_name"], []).append(item)
    rows = []
    for name in dict.fromkeys([*before, *after]):
        found = flagged.get(name, [])
        notes = "".join(f"<li><b>{escape(v['constraint_check_type'])}</b>: "
                        f"{escape(v['description'])}</li>" for v in found)
        image = picture(name, before.get(name), after.get(name), bool(found))
        rows.append(f'<tr class="{"bad" if found else "ok"}"><td><img alt="{escape(name)}" '
                    f'src="data:image/png;base64,{image}"></td><td><h3>{escape(name)}</h3>'
                    f"<ul>{notes or '<li>no violation</li>'}</ul></td></tr>")
    summary = (f"{len(violations)} violation(s) in {len(flagged)} feature(s)" if violations
               else "no violations")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Data-quality monitoring: {escape(summary)}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} td{{vertical-align:top;padding:.3em}}
tr.bad h3,tr.bad b{{color:{VIOLATION_COLOUR}}} tr.ok h3{{color:#2e7d32}}</style></head><body>
<h1>Data-quality monitoring</h1>
<p>{escape(window)}: {current['dataset']['item_count']} records against a baseline of
{baseline.get('dataset', {}).get('item_count', '?')}; <b>{escape(summary)}</b>.
Blue: baseline, orange: current.</p>
<table>{''.join(rows)}</table></body></html>
"""

