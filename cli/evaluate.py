"""`mlxmed evaluate`: gold vs predicted, with a report a clinician can open."""

from __future__ import annotations

from pathlib import Path

import click
from mlxmed.cli.common import console, esc
from rich.table import Table

from mlxmed.evaluate.compare import evaluate
from mlxmed.evaluate.report import write_report
from mlxmed.tasks import load_task


@click.command("evaluate")
@click.argument("task", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--pred", required=True, type=click.Path(dir_okay=False, exists=True,
              path_type=Path), help="Output of `mlxmed extract` (.csv, .jsonl or .xlsx).")
@click.option("--gold", required=True, type=click.Path(exists=True, path_type=Path),
              help="The notes with their gold labels/fields (CSV/TSV/JSONL/.xlsx or folder).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for report.json and report.html.")
@click.option("--curve", "curve_json", type=click.Path(dir_okay=False, exists=True,
              path_type=Path), help="A curve.json from `mlxmed curve` to plot in the report.")
@click.option("--encoding", default=None, help="Encoding of the gold file if not UTF-8.")
@click.option("--sheet", default=None,
              help="The sheet of an Excel (.xlsx) gold file (default: the first sheet).")
def evaluate_command(task: Path, pred: Path, gold: Path, report_dir: Path | None,
                     curve_json: Path | None, encoding: str | None, sheet: str | None) -> None:
    """Score extracted answers against gold answers: accuracy, micro/macro F1, per-class
    numbers and a confusion matrix for classification; per-field and overall precision,
    recall and F1 for extraction. Notes without a prediction count as wrong.

    Example: mlxmed evaluate task.yaml --pred out.csv --gold test.csv --report report/
    """
    report = evaluate(load_task(task), pred, gold, encoding, sheet=sheet)
    metrics = report["metrics"]
    table = Table(title=f"Evaluation of {esc(pred.name)} ({report['notes']} notes)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("accuracy", "micro_f1", "macro_f1", "field_precision", "field_recall",
                "field_f1", "exact_match"):
        if key in metrics:
            table.add_row(key, f"{metrics[key]:.3f}")
    table.add_row("invalid outputs", f"{report['invalid_outputs']} "
                  f"({report['invalid_rate']:.1%})")
    table.add_row("missing predictions", str(report["missing_predictions"]))
    console.print(table)
    if report_dir:
        page = write_report(report, report_dir, curve_json)
        console.print(f"Report: {esc(page)}", highlight=False)
