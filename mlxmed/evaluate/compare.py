"""Gold answers against an extraction output: the task's metrics, rows missing on either side
counted, and the worst errors with their notes (the report is :mod:`mlxmed.evaluate.report`)."""

from __future__ import annotations

from pathlib import Path

from mlxmed.errors import MlxmedError
from mlxmed.extract.outputs import iter_rows
from mlxmed.inputs.readers import read_notes
from mlxmed.inputs.records import validate_records
from mlxmed.tasks import Task

WORST_ERRORS = 20


def evaluate(task: Task, pred_path: str | Path, gold_path: str | Path,
             encoding: str | None = None, sheet: str | None = None) -> dict:
    """Compare predictions with gold answers; every gold note counts (missing = wrong)."""
    pred_path = Path(pred_path)
    if not pred_path.is_file():
        raise MlxmedError(f"{pred_path}: no such prediction file; run `mlxmed extract` first")
    gold_read = read_notes(gold_path, task.required_columns(), encoding=encoding, sheet=sheet,
                           text_field=task.text_field, id_field=task.id_field)
    gold_records = validate_records(task, gold_read)
    predictions: dict[str, dict] = {}
    for row in iter_rows(pred_path):
        predictions[str(row.get("id"))] = row
    check_predictions(task, pred_path, predictions)
    gold_ids = {r.id for r in gold_records}
    if not gold_ids & set(predictions):
        raise MlxmedError(f"{pred_path}: none of its {len(predictions)} ids is in {gold_path}; "
                          "check that both files hold the same notes (the id column)")
    missing = [r.id for r in gold_records if r.id not in predictions]
    extra = sorted(set(predictions) - gold_ids)
    gold_values = [r.gold for r in gold_records]
    predicted = [task.value_from_row(predictions[r.id]) if r.id in predictions else None
                 for r in gold_records]
    metrics = task.metrics(gold_values, predicted)
    invalid = sum(1 for r in gold_records if r.id in predictions
                  and predictions[r.id].get("status") != "ok")
    report = {
        "task": task.name, "kind": task.kind, "predictions": str(pred_path),
        "gold": str(gold_path), "notes": len(gold_records), "missing_predictions": len(missing),
        "missing_ids": missing[:50], "predictions_without_gold": len(extra),
        "invalid_outputs": invalid, "invalid_rate": invalid / max(1, len(gold_records)),
        "metrics": metrics, **task.comparison(gold_values, predicted),
    }
    report["worst_errors"] = _worst_errors(task, gold_records, predicted, predictions)
    return report


def check_predictions(task: Task, path: Path, predictions: dict[str, dict]) -> None:
    """Refuse a prediction file that is empty, is not an extraction output, or was made for
    another task (other columns, or answers this task cannot give)."""
    if not predictions:
        raise MlxmedError(f"{path}: no prediction rows; run `mlxmed extract` into it first")
    needed = ["id", "status", *task.answer_columns()]
    first = next(iter(predictions.values()))
    missing = [c for c in needed if c not in first]
    if missing:
        raise MlxmedError(f"{path}: no column(s) {', '.join(missing)}; this is not an output of "
                          f"`mlxmed extract` for task '{task.name}' (give the file extract "
                          "wrote for this task)")
    for note_id, row in predictions.items():
        value = task.value_from_row(row)
        problem = task.value_problem(value) if value is not None else None
        if problem:
            raise MlxmedError(f"{path}: the row of id {note_id!r} holds an answer task "
                              f"'{task.name}' cannot give ({problem}); were these predictions "
                              "made for another task?")


def _worst_errors(task: Task, records, predicted, predictions) -> list[dict]:
    """Wrong answers, the worst first (as the task kind weighs them)."""
    errors = []
    for record, value in zip(records, predicted, strict=True):
        row = predictions.get(record.id, {})
        weight = task.error_weight(record.gold, value, row)
        if weight is None:
            continue
        errors.append({"id": record.id, "gold": record.gold, "predicted": value,
                       "status": row.get("status", "missing"), "error": row.get("error"),
                       "weight": weight, "text": record.text})
    errors.sort(key=lambda e: -e["weight"])
    return errors[:WORST_ERRORS]
