"""A labels file that mlxmed creates and `mlxmed data` (or `mlxmed evaluate --gold`) reads as
it is: one row per labelled note with the task's id, text and gold columns, in CSV (values as
spreadsheet cells) or JSONL. Every change rewrites the whole file atomically (a temporary file,
synced, then renamed), so a killed process leaves the last saved answer on disk, never half a
file."""

from __future__ import annotations

import csv
import io
import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlxmed.atomic import atomic_file
from mlxmed.errors import MlxmedError
from mlxmed.inputs.readers import read_notes
from mlxmed.inputs.records import validate_records
from mlxmed.tasks import Task, format_json

ID_COLUMN = "id"  # the id column when the task has no id_field (notes are then row numbers)


def validated(task: Task, value: Any) -> Any:
    """``value`` as the task's gold value, checked the way `mlxmed data` checks it."""
    return task.gold_of(task.gold_cells(value))


def csv_cell(value: Any) -> str:
    """A value as a spreadsheet cell that the task reads back to the same value."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return format_json(value)


class LabelStore:
    """The answers given so far for one task, kept in ``path`` (``.csv`` or ``.jsonl``)."""

    def __init__(self, task: Task, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in (".csv", ".jsonl"):
            raise MlxmedError(f"{self.path}: a labels file must be .csv or .jsonl")
        # the file always has an id column, so answers find their notes again
        self.task = task if task.id_field else replace(task, id_field=ID_COLUMN)
        self._answers: dict[str, tuple[str, Any]] = {}  # id -> (text, gold value)
        self._lock = threading.Lock()
        if self.path.is_file() and self.path.stat().st_size > 0:
            self._load()

    def _load(self) -> None:
        task = self.task
        read = read_notes(self.path, task.required_columns(), text_field=task.text_field,
                          id_field=task.id_field)
        if not read.records and not read.problems:
            return  # only the header: every answer was undone
        for record in validate_records(task, read):
            self._answers[record.id] = (record.text, record.gold)

    # ----- reading -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._answers)

    def __contains__(self, note_id: str) -> bool:
        return note_id in self._answers

    def get(self, note_id: str) -> Any:
        """The saved answer of a note, or None."""
        entry = self._answers.get(note_id)
        return entry[1] if entry else None

    def answers(self) -> dict[str, Any]:
        return {note_id: gold for note_id, (_, gold) in self._answers.items()}

    # ----- changing ------------------------------------------------------------------------
    def set(self, note_id: str, text: str, value: Any) -> Any:
        """Validate ``value`` and save it as the note's answer; returns the stored value."""
        try:
            gold = validated(self.task, value)
        except MlxmedError as exc:
            raise MlxmedError(f"note {note_id}: {exc}") from exc
        with self._lock:
            before = dict(self._answers)
            self._answers[note_id] = (text, gold)
            self._save_or_restore(before)
        return gold

    def remove(self, note_id: str) -> None:
        """Forget a note's answer (undo of a first answer)."""
        with self._lock:
            if note_id in self._answers:
                before = dict(self._answers)
                del self._answers[note_id]
                self._save_or_restore(before)

    def _save_or_restore(self, before: dict[str, tuple[str, Any]]) -> None:
        """Write the file; if that fails (a full disk), memory goes back to what is on disk."""
        try:
            self._write()
        except BaseException:
            self._answers = before
            raise

    def _write(self) -> None:
        task = self.task
        columns = list(dict.fromkeys([task.id_field, task.text_field, *task.gold_columns()]))
        rows = []
        for note_id, (text, gold) in self._answers.items():
            rows.append({task.id_field: note_id, task.text_field: text,
                         **task.gold_cells(gold)})
        if self.path.suffix.lower() == ".jsonl":
            content = "".join(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False)
                              + "\n" for row in rows)
        else:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows([csv_cell(row.get(c)) for c in columns] for row in rows)
            content = buffer.getvalue()
        with atomic_file(self.path) as handle:
            handle.write(content)
