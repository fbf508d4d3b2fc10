"""An extraction output beside its notes: each row's answer, confidence and status, matched
with its note by id; filtered by answer value, status and confidence, the least certain
first; and the corrections a reviewer makes, kept as gold labels (a :class:`LabelStore`)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlxmed.errors import MlxmedError
from mlxmed.extract.outputs import iter_rows
from mlxmed.inputs.records import Record
from mlxmed.labelling.form import answer_from_form
from mlxmed.labelling.session import read_unlabelled
from mlxmed.labelling.store import LabelStore
from mlxmed.tasks import Task, format_json

NOT_STATED = "(not stated)"
OUTPUT_COLUMNS = ("id", "status")  # what every `mlxmed extract` output has


@dataclass(frozen=True)
class ReviewRow:
    """One output row: the answer as the task reads it (None when invalid)."""

    index: int
    id: str
    value: Any
    cells: dict[str, Any]
    confidence: float | None
    status: str
    error: str | None
    text: str | None = None  # from the output itself (`extract --include-text`)

    def certainty_key(self) -> tuple[int, float, int]:
        """Least certain first: invalid answers, then by confidence, then the rest."""
        if self.status != "ok" or self.value is None:
            return (0, 0.0, self.index)
        if self.confidence is None:
            return (2, 0.0, self.index)
        return (1, self.confidence, self.index)


def cell_keys(value: Any) -> list[str]:
    """What a filter on an answer column matches: the value shown as text, list items one by
    one, null as "(not stated)"."""
    if value is None:
        return [NOT_STATED]
    if isinstance(value, list):
        return [key for item in value for key in cell_keys(item)] or ["(empty list)"]
    return [value if isinstance(value, str) else format_json(value)]


def read_output(task: Task, path: str | Path) -> list[ReviewRow]:
    """The rows of an `mlxmed extract` output (CSV or JSONL) for ``task``."""
    path = Path(path)
    if not path.is_file():
        raise MlxmedError(f"{path}: no such output file; run `mlxmed extract` first")
    rows = []
    try:
        for index, row in enumerate(iter_rows(path)):
            if index == 0:
                _check_columns(task, path, row)
            value = task.value_from_row(row)
            rows.append(ReviewRow(index, str(row.get("id")), value,
                                  task.answer_cells(value) if value is not None else
                                  {c: None for c in task.answer_columns()},
                                  _confidence(row.get("confidence")),
                                  str(row.get("status") or ""), row.get("error") or None,
                                  row.get("text") or None))
    except (ValueError, csv.Error, UnicodeDecodeError) as exc:
        raise MlxmedError(f"{path}: row {len(rows) + 1} cannot be read ({exc}); is it an "
                          "output of `mlxmed extract`?") from exc
    return rows


def _check_columns(task: Task, path: Path, row: dict) -> None:
    missing = [c for c in (*OUTPUT_COLUMNS, *task.answer_columns()) if c not in row]
    if missing:
        raise MlxmedError(f"{path}: no column(s) {', '.join(missing)}; choose the output of "
                          f"`mlxmed extract` for task '{task.name}'")


def _confidence(cell: Any) -> float | None:
    if cell in (None, ""):
        return None
    try:
        return float(cell)
    except (TypeError, ValueError):
        return None


def match_notes(task: Task, ids: Iterable[str], candidates: Sequence[Path]
                ) -> tuple[Path | None, dict[str, Record]]:
    """The candidate notes file that holds most of ``ids`` (files that do not read as notes
    for the task are passed over), with its notes by id."""
    wanted = set(ids)
    best: tuple[int, Path | None, dict[str, Record]] = (0, None, {})
    for path in candidates:
        try:
            notes = {r.id: r for r in read_unlabelled(task, path)}
        except MlxmedError:
            continue
        found = len(wanted & set(notes))
        if found > best[0]:
            best = (found, path, notes)
    return best[1], best[2]


class ReviewTable:
    """Review of one output: rows, their notes, and the reviewer's corrections."""

    def __init__(self, task: Task, output_path: str | Path, notes: dict[str, Record],
                 corrections_path: str | Path) -> None:
        self.task, self.output_path = task, Path(output_path)
        self.rows = read_output(task, output_path)
        self.by_id = {row.id: row for row in self.rows}
        self.notes = notes
        self.corrections = LabelStore(task, corrections_path)

    def text_of(self, note_id: str) -> str | None:
        record = self.notes.get(note_id)
        if record is not None:
            return record.text
        row = self.by_id.get(note_id)
        return row.text if row else None

    def facets(self) -> dict[str, Any]:
        """Counts to filter by: statuses, and the values of each answer column."""
        columns = {c: Counter() for c in self.task.answer_columns()}
        for row in self.rows:
            for column, counter in columns.items():
                counter.update(set(cell_keys(row.cells.get(column))) if row.value is not None
                               else ["(no answer)"])
        return {"total": len(self.rows), "reviewed": self.reviewed(),
                "with_text": sum(self.text_of(r.id) is not None for r in self.rows),
                "status": dict(Counter(row.status for row in self.rows)),
                "columns": {c: dict(counter.most_common()) for c, counter in columns.items()}}

    def reviewed(self) -> int:
        return sum(1 for row in self.rows if row.id in self.corrections)

    def select(self, status: str | None = None, column: str | None = None,
               value: str | None = None, max_confidence: float | None = None,
               reviewed: bool | None = None) -> list[ReviewRow]:
        """The rows that pass every filter given, least certain first."""
        chosen = []
        for row in self.rows:
            if status and row.status != status:
                continue
            if column and value is not None:
                keys = cell_keys(row.cells.get(column)) if row.value is not None \
                    else ["(no answer)"]
                if value not in keys:
                    continue
            if max_confidence is not None and row.confidence is not None \
                    and row.confidence > max_confidence:
                continue
            if reviewed is not None and (row.id in self.corrections) != reviewed:
                continue
            chosen.append(row)
        return sorted(chosen, key=ReviewRow.certainty_key)

    def row_dict(self, row: ReviewRow) -> dict[str, Any]:
        return {"id": row.id, "value": row.value, "cells": row.cells,
                "confidence": row.confidence, "status": row.status, "error": row.error,
                "reviewed": row.id in self.corrections,
                "correction": self.corrections.get(row.id),
                "has_text": self.text_of(row.id) is not None}

    def correct(self, note_id: str, raw: Any) -> Any:
        """Save the reviewer's answer (the model's, accepted, or their own) as gold."""
        text = self.text_of(note_id)
        if note_id not in self.by_id:
            raise MlxmedError(f"{self.output_path}: no row with id {note_id!r}")
        if text is None:
            raise MlxmedError(f"note {note_id}: its text is not in the notes file; choose the "
                              "notes file the output was extracted from")
        return self.corrections.set(note_id, text, answer_from_form(self.task, raw))
