"""Input records checked against a task: every record's text, id and gold answer validated,
all problems reported together (one line each, naming the file, row and field)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlxmed.errors import MlxmedError
from mlxmed.inputs.encoding import not_utf8
from mlxmed.inputs.raw import RawRecord, ReadResult
from mlxmed.tasks import Task

MAX_SHOWN_PROBLEMS = 20
_NAMED_FIELD = re.compile(r"field '([^']+)'")


class DataError(MlxmedError):
    """Several problems in the input, reported together (one per line)."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(format_problems(source, self.problems))


def format_problems(source: str, problems: Sequence[str], limit: int = MAX_SHOWN_PROBLEMS) -> str:
    """One line for a single problem; a header plus one line each (first ``limit``) for more."""
    if len(problems) == 1:
        return problems[0]
    lines = [f"{source}: {len(problems)} problems; fix them and run again:"]
    lines += [f"  {p}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  … and {len(problems) - limit} more")
    return "\n".join(lines)


def _gold_location(raw: RawRecord, message: str) -> str:
    """Where a gold-answer problem is: the cell of the field the task's message names."""
    named = _NAMED_FIELD.match(message)
    return raw.at(named.group(1)) if named else raw.where


@dataclass(frozen=True)
class Record:
    """A validated note: id, text, gold answer and its stratum."""

    id: str
    row: int
    where: str
    text: str
    gold: Any
    stratum: str


def validate_records(task: Task, read: ReadResult, with_gold: bool = True) -> list[Record]:
    """Check every record (text, id and, ``with_gold``, the gold answer); raise
    :class:`DataError` listing all problems."""
    problems = list(read.problems)
    records: list[Record] = []
    seen: dict[str, str] = {}
    for raw in read.records:
        row_problems = []
        text = raw.data.get(task.text_field)
        at_text = raw.at(task.text_field)
        if text is None:
            row_problems.append(f"{at_text}, field '{task.text_field}': missing note text; "
                                "add it or remove the row")
        elif not isinstance(text, str):
            row_problems.append(f"{at_text}, field '{task.text_field}': the note must be "
                                f"text, got {type(text).__name__}")
        elif not text.strip():
            row_problems.append(f"{at_text}, field '{task.text_field}': empty note text; "
                                "fill it in or remove the row")
        if raw.id is not None:
            note_id = raw.id
        elif task.id_field:
            value = raw.data.get(task.id_field)
            note_id = "" if value is None else str(value).strip()
            if not note_id:
                row_problems.append(f"{raw.at(task.id_field)}, field '{task.id_field}': "
                                    "missing id; give every note a unique id")
        else:
            note_id = str(raw.row)
        if note_id and note_id in seen:
            id_name = task.id_field or "id"
            row_problems.append(f"{raw.at(id_name)}, field '{id_name}': duplicate id {note_id!r} "
                                f"(first seen at {seen[note_id]}); make ids unique")
        elif note_id:
            seen[note_id] = raw.where
        gold = None
        if with_gold and not any(not_utf8(v) for v in raw.data.values()):  # reader reported
            try:
                gold = task.gold_of(raw.data)
            except MlxmedError as exc:
                row_problems.append(f"{_gold_location(raw, str(exc))}, {exc}")
        if row_problems:
            problems += row_problems
            continue
        text = str(text).replace("\r\n", "\n").replace("\r", "\n")
        stratum = task.stratum(gold) if with_gold else ""
        records.append(Record(note_id, raw.row, raw.where, text, gold, stratum))
    if problems:
        raise DataError(str(read.source), problems)
    if not records:
        raise MlxmedError(f"{read.source}: no notes found; add rows with a note and its label")
    return records
