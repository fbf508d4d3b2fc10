"""The review page: an extraction output beside its notes, filtered and sorted least certain
first; a note with its evidence marked; the reviewer's answers saved as gold labels."""

from __future__ import annotations

from pathlib import Path

from mlxmed.studio.api import Args, endpoint
from mlxmed.studio.state import Review, Studio
from starlette.routing import Route

from mlxmed.errors import MlxmedError
from mlxmed.evaluate.compare import evaluate
from mlxmed.evaluate.report import write_report
from mlxmed.review import ReviewTable, answer_marks, match_notes, note_evidence, segments

MAX_ROWS = 500  # rows sent to the page at once (filters narrow them down)


def _review(studio: Studio, args: Args) -> Review:
    return studio.session(studio.reviews, args.text("session"))


def open_review(studio: Studio, args: Args) -> dict:
    task_file, task = studio.task(args.text("task"))
    output = studio.workspace.resolve(args.text("output"))
    if args.optional("notes"):
        notes_path = studio.workspace.resolve(args.text("notes"))
        found, notes = match_notes(task, _ids(task, output), [notes_path])
        if found is None:
            raise MlxmedError(f"{args.text('notes')}: none of the output's ids are in this "
                              "notes file; choose the notes the output was extracted from")
    else:
        notes_path, notes = match_notes(task, _ids(task, output),
                                        studio.workspace.notes_files())
    table = ReviewTable(task, output, notes, studio.workspace.corrections_file(output))
    review = Review(table, task_file, studio.gguf(args.optional("model")))
    session_id = studio.open_review(review)
    return {"session": session_id, "form": task.answer_form(), "task": task.name,
            "notes_file": studio.workspace.relative(notes_path) if notes_path else None,
            "corrections_file": studio.workspace.relative(table.corrections.path),
            "columns": task.answer_columns(), "facets": table.facets(),
            "can_explain": review.model is not None
            and task.answer_form()["type"] == "choice"}


def _ids(task, output: Path) -> list[str]:
    from mlxmed.review import read_output

    return [row.id for row in read_output(task, output)]


def rows(studio: Studio, args: Args) -> dict:
    table = _review(studio, args).table
    reviewed = args.flag("reviewed")
    chosen = table.select(status=args.optional("status"), column=args.optional("column"),
                          value=args.optional("value"),
                          max_confidence=args.number("max_confidence"), reviewed=reviewed)
    return {"matching": len(chosen), "rows": [table.row_dict(r) for r in chosen[:MAX_ROWS]],
            "facets": table.facets()}


def note(studio: Studio, args: Args) -> dict:
    review = _review(studio, args)
    table, note_id = review.table, args.text("id")
    row = table.by_id.get(note_id)
    if row is None:
        raise MlxmedError(f"no row with id {note_id!r} in {table.output_path.name}")
    text = table.text_of(note_id)
    marks = answer_marks(table.task, text, row.value) if text else []
    return {"row": table.row_dict(row), "text": text,
            "segments": segments(text, marks) if text else [],
            "found": sorted({m.tag for m in marks})}


def evidence(studio: Studio, args: Args) -> dict:
    review = _review(studio, args)
    table, note_id = review.table, args.text("id")
    row, text = table.by_id.get(note_id), table.text_of(note_id)
    if review.model is None:
        raise MlxmedError("choose the model (.gguf) that made the output to see the evidence")
    if row is None or text is None or row.value is None:
        raise MlxmedError(f"note {note_id}: no text or no valid answer to explain")
    predictor = studio.predictors.get(table.task, review.model)
    found = note_evidence(predictor, text, row.value)
    return {**found.to_dict(), "segments": segments(text, found.marks())}


def correct(studio: Studio, args: Args) -> dict:
    table = _review(studio, args).table
    note_id = args.text("id")
    table.correct(note_id, args.raw("value"))
    return {"row": table.row_dict(table.by_id[note_id]), "reviewed": table.reviewed()}


def evaluate_reviewed(studio: Studio, args: Args) -> dict:
    """The output scored against the reviewed answers, as an HTML report."""
    review = _review(studio, args)
    table = review.table
    if not table.reviewed():
        raise MlxmedError("review some answers first: they are the gold labels")
    # the corrections' own reading of the task: it always has an id column
    report = evaluate(table.corrections.task, table.output_path, table.corrections.path)
    page = write_report(report, studio.workspace.report_dir(table.output_path))
    return {"report": studio.workspace.relative(page.parent)}


ROUTES = [
    Route("/api/review/open", endpoint(open_review), methods=["POST"]),
    Route("/api/review/rows", endpoint(rows)),
    Route("/api/review/note", endpoint(note)),
    Route("/api/review/evidence", endpoint(evidence), methods=["POST"]),
    Route("/api/review/correct", endpoint(correct), methods=["POST"]),
    Route("/api/review/evaluate", endpoint(evaluate_reviewed), methods=["POST"]),
]
