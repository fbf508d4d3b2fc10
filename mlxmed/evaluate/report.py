"""The evaluation report a clinician can open: report.json plus a self-contained report.html
(headline numbers, plots embedded as PNG data, the worst errors with their notes)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from mlxmed.artifacts.ownership import check_file_replaceable, refuse_input_as_output
from mlxmed.atomic import write_text

HTML_START = "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>mlxmed report"


def _is_our_json(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "metrics" in data and "worst_errors" in data


def _is_our_html(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.read(len(HTML_START)) == HTML_START
    except (OSError, UnicodeDecodeError):
        return False


def write_report(report: dict, out_dir: str | Path, curve_json: str | Path | None = None) -> Path:
    """report.json and a self-contained report.html (plots embedded as PNG data); an earlier
    report of mlxmed's in ``out_dir`` is replaced, any other file there is left alone."""
    out_dir = Path(out_dir)
    refuse_input_as_output(out_dir, [report.get("predictions"), report.get("gold"),
                                     curve_json], option="--report")
    check_file_replaceable(out_dir / "report.json", _is_our_json, "a report",
                           option="--report")
    check_file_replaceable(out_dir / "report.html", _is_our_html, "a report",
                           option="--report")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "report.json", json.dumps(report, indent=2, ensure_ascii=False,
                                                   default=str) + "\n")
    curve = json.loads(Path(curve_json).read_text(encoding="utf-8")) if curve_json else None
    write_text(out_dir / "report.html", render_html(report, curve))
    return out_dir / "report.html"


def _figure_png(draw) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=110)
    axis = figure.subplots()
    draw(axis)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


NULL_HANDLING = (
    "How nulls count: null (or an empty list) means the note does not state the field. "
    "Precision, recall and F1 count stated values only: a null where the gold is null is "
    "neither right nor wrong there, a value where the gold is null is a false positive, a null "
    "where the gold has a value a false negative. \"Exactly right\" counts every note, a null "
    "matching a null included. Numbers must match exactly; text matches ignoring case and "
    "spacing; list items are matched one to one, in any order.")


def render_html(report: dict, curve: dict | None) -> str:
    """The report page: headline numbers, plots and the worst errors with their notes."""
    metrics = report["metrics"]
    esc = html.escape
    parts = [f"<h1>mlxmed evaluation: {esc(report['task'])}</h1>",
             f"<p>{report['notes']} gold notes; predictions from <code>"
             f"{esc(report['predictions'])}</code>. Missing predictions: "
             f"{report['missing_predictions']}; invalid outputs: {report['invalid_outputs']} "
             f"({report['invalid_rate']:.1%}); predictions without gold: "
             f"{report['predictions_without_gold']}.</p>"]
    if "per_class" in metrics:
        parts.append("<table><tr><th>accuracy</th><th>micro-F1</th><th>macro-F1</th></tr>"
                     f"<tr><td>{metrics['accuracy']:.3f}</td><td>{metrics['micro_f1']:.3f}</td>"
                     f"<td>{metrics['macro_f1']:.3f}</td></tr></table>")
        rows = "".join(f"<tr><td>{esc(label)}</td><td>{m['precision']:.3f}</td>"
                       f"<td>{m['recall']:.3f}</td><td>{m['f1']:.3f}</td>"
                       f"<td>{m['support']}</td></tr>"
                       for label, m in metrics["per_class"].items())
        parts.append("<h2>Per class</h2><table><tr><th>label</th><th>precision</th>"
                     f"<th>recall</th><th>F1</th><th>support</th></tr>{rows}</table>")
        parts.append(_img(_figure_png(lambda ax: _draw_confusion(ax, report)),
                          "confusion matrix"))
        parts.append(_img(_figure_png(lambda ax: _draw_bars(ax, metrics["per_class"])),
                          "F1 per class"))
    else:
        parts.append("<table><tr><th>field precision</th><th>field recall</th><th>field F1"
                     "</th><th>exact match</th></tr>"
                     f"<tr><td>{metrics['field_precision']:.3f}</td><td>"
                     f"{metrics['field_recall']:.3f}</td><td>{metrics['field_f1']:.3f}</td>"
                     f"<td>{metrics['exact_match']:.3f}</td></tr></table>")
        rows = "".join(f"<tr><td>{esc(name)}</td><td>{m['precision']:.3f}</td>"
                       f"<td>{m['recall']:.3f}</td><td>{m['f1']:.3f}</td>"
                       f"<td>{m.get('accuracy', 0):.3f}</td><td>{m.get('stated', '')}</td></tr>"
                       for name, m in metrics["per_field"].items())
        parts.append("<h2>Per field</h2><table><tr><th>field</th><th>precision</th>"
                     "<th>recall</th><th>F1</th><th>exactly right (nulls count)</th>"
                     f"<th>notes stating it</th></tr>{rows}</table>")
        parts.append(f"<p>{NULL_HANDLING}</p>")
        parts.append(_img(_figure_png(lambda ax: _draw_bars(ax, metrics["per_field"])),
                          "F1 per field"))
        for name, matrix in report.get("field_confusion", {}).items():
            parts.append(_img(_figure_png(lambda ax, m=matrix: _draw_matrix(ax, m)),
                              f"confusion matrix of {name}"))
    if curve:
        parts.append(_img(_figure_png(lambda ax: _draw_curve(ax, curve)), "learning curve"))
    error_rows = "".join(
        f"<tr><td>{esc(e['id'])}</td><td>{esc(json.dumps(e['gold'], ensure_ascii=False))}</td>"
        f"<td>{esc(json.dumps(e['predicted'], ensure_ascii=False))}</td>"
        f"<td>{esc(str(e['status']))}</td><td class=note>{esc(e['text'][:1500])}</td></tr>"
        for e in report["worst_errors"])
    parts.append("<h2>Worst errors</h2><table><tr><th>id</th><th>gold</th><th>predicted</th>"
                 f"<th>status</th><th>note</th></tr>{error_rows}</table>")
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
             "padding:4px 8px;text-align:left;vertical-align:top}"
             "td.note{white-space:pre-wrap;font-size:0.85em;max-width:600px}"
             "img{max-width:100%}")
    return (HTML_START +
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def _img(png: str, alt: str) -> str:
    return f'<h2>{alt.capitalize()}</h2><img alt="{alt}" src="data:image/png;base64,{png}">'


def _draw_confusion(axis, report: dict) -> None:
    _draw_matrix(axis, report["confusion_matrix"])


def _draw_matrix(axis, confusion: dict) -> None:
    import numpy as np

    labels = confusion["labels"]
    matrix = np.array(confusion["matrix"])
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
    axis.set_yticks(range(len(labels)), labels, fontsize=7)
    axis.set_xlabel("predicted")
    axis.set_ylabel("gold")
    for (i, j), value in np.ndenumerate(matrix):
        axis.text(j, i, str(value), ha="center", va="center", fontsize=7)


def _draw_bars(axis, per_item: dict) -> None:
    names = list(per_item)
    axis.barh(names, [per_item[n]["f1"] for n in names], color="#4c78a8")
    axis.set_xlim(0, 1)
    axis.set_xlabel("F1")
    axis.tick_params(axis="y", labelsize=7)


def _draw_curve(axis, curve: dict) -> None:
    rows = curve["rows"]
    trained = [r for r in rows if r["n"] > 0]
    axis.errorbar([r["n"] for r in trained], [r["mean"] for r in trained],
                  yerr=[r["sd"] for r in trained], marker="o", capsize=4, label="fine-tuned")
    zero = next((r for r in rows if r["n"] == 0), None)
    if zero:
        axis.axhline(zero["mean"], linestyle="--", color="grey", label="zero-shot")
    axis.set_ylim(0, 1)
    axis.set_xlabel("training notes")
    axis.set_ylabel(rows[0]["metric"] if rows else "score")
    axis.legend()
