"""Gold answers against an extraction output: the numbers (scikit-learn for classification,
field-level P/R/F1 for extraction), rows missing on either side counted, and a report a
clinician can open: report.json plus a self-contained report.html with plots."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from mlxmed.atomic import write_text
from mlxmed.data import required_columns, validate_records
from mlxmed.errors import MlxmedError
from mlxmed.extract import iter_rows
from mlxmed.metrics import field_counts, task_metrics
from mlxmed.readers import read_notes
from mlxmed.tasks import TaskSpec, load_task

WORST_ERRORS = 20


def _predicted_value(task: TaskSpec, row: dict) -> Any:
    """The answer in an output row (CSV cells are text; lists are JSON)."""
    if row.get("status") != "ok":
        return None
    if task.kind == "classification":
        return row.get("label") or None
    value = {}
    for name in task.field_names:
        cell = row.get(name)
        if isinstance(cell, str):
            cell = _cell_value(cell)
        value[name] = cell
    return value


def _cell_value(cell: str) -> Any:
    """A CSV cell back to its value: JSON for numbers, lists and null, else the string."""
    if cell == "":
        return None
    try:
        return json.loads(cell)
    except ValueError:
        return cell


def evaluate(task_path: str | Path, pred_path: str | Path, gold_path: str | Path,
             encoding: str | None = None) -> dict:
    """Compare predictions with gold answers; every gold note counts (missing = wrong)."""
    task = load_task(task_path)
    pred_path = Path(pred_path)
    if not pred_path.is_file():
        raise MlxmedError(f"{pred_path}: no such prediction file; run `mlxmed extract` first")
    gold_read = read_notes(gold_path, required_columns(task), encoding=encoding,
                           text_field=task.text_field, id_field=task.id_field)
    gold_records = validate_records(task, gold_read)
    predictions: dict[str, dict] = {}
    for row in iter_rows(pred_path):
        predictions[str(row.get("id"))] = row
    gold_ids = {r.id for r in gold_records}
    missing = [r.id for r in gold_records if r.id not in predictions]
    extra = sorted(set(predictions) - gold_ids)
    gold_values = [r.gold for r in gold_records]
    predicted = [_predicted_value(task, predictions[r.id]) if r.id in predictions else None
                 for r in gold_records]
    metrics = task_metrics(task, gold_values, predicted)
    invalid = sum(1 for r in gold_records if r.id in predictions
                  and predictions[r.id].get("status") != "ok")
    report = {
        "task": task.name, "kind": task.kind, "predictions": str(pred_path),
        "gold": str(gold_path), "notes": len(gold_records), "missing_predictions": len(missing),
        "missing_ids": missing[:50], "predictions_without_gold": len(extra),
        "invalid_outputs": invalid, "invalid_rate": invalid / max(1, len(gold_records)),
        "metrics": metrics,
    }
    if task.kind == "classification":
        from sklearn.metrics import confusion_matrix

        labels = task.label_names
        pred_labels = [p if p is not None else "(none)" for p in predicted]
        matrix = confusion_matrix(gold_values, pred_labels, labels=[*labels, "(none)"])
        report["confusion_matrix"] = {"labels": [*labels, "(none)"],
                                      "matrix": matrix.tolist()}
    report["worst_errors"] = _worst_errors(task, gold_records, predicted, predictions)
    return report


def _worst_errors(task: TaskSpec, records, predicted, predictions) -> list[dict]:
    """Wrong answers, the most confidently wrong first (extraction: the most fields wrong)."""
    errors = []
    for record, value in zip(records, predicted, strict=True):
        row = predictions.get(record.id, {})
        if task.kind == "classification":
            if value == record.gold:
                continue
            weight = float(row.get("confidence") or 0)
        else:
            wrong = sum(sum(field_counts(record.gold.get(n), (value or {}).get(n))[1:])
                        for n in task.field_names)
            if value is not None and wrong == 0:
                continue
            weight = wrong
        errors.append({"id": record.id, "gold": record.gold, "predicted": value,
                       "status": row.get("status", "missing"), "error": row.get("error"),
                       "weight": weight, "text": record.text})
    errors.sort(key=lambda e: -e["weight"])
    return errors[:WORST_ERRORS]


def write_report(report: dict, out_dir: str | Path, curve_json: str | Path | None = None) -> Path:
    """report.json and a self-contained report.html (plots embedded as PNG data)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "report.json", json.dumps(report, indent=2, ensure_ascii=False,
                                                   default=str) + "\n")
    curve = json.loads(Path(curve_json).read_text(encoding="utf-8")) if curve_json else None
    write_text(out_dir / "report.html", render_html(report, curve))
    return out_dir / "report.html"


def _figure_png(draw) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4), dpi=110)
    draw(axis)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


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
    if report["kind"] == "classification":
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
                       f"<td>{m['recall']:.3f}</td><td>{m['f1']:.3f}</td></tr>"
                       for name, m in metrics["per_field"].items())
        parts.append("<h2>Per field</h2><table><tr><th>field</th><th>precision</th>"
                     f"<th>recall</th><th>F1</th></tr>{rows}</table>")
        parts.append(_img(_figure_png(lambda ax: _draw_bars(ax, metrics["per_field"])),
                          "F1 per field"))
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
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>mlxmed report"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def _img(png: str, alt: str) -> str:
    return f'<h2>{alt.capitalize()}</h2><img alt="{alt}" src="data:image/png;base64,{png}">'


def _draw_confusion(axis, report: dict) -> None:
    import numpy as np

    labels = report["confusion_matrix"]["labels"]
    matrix = np.array(report["confusion_matrix"]["matrix"])
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
