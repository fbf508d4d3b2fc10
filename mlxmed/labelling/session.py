"""Labelling one notes file for one task: the notes (read and checked as `mlxmed extract` reads
them), the answers saved so far (:class:`LabelStore`), the queue, undo, and, with a model, its
answer for each note (pre-filled in the form, and the confidence that orders the queue)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlxmed.errors import MlxmedError, error_line
from mlxmed.inference.notes import NotePredictor
from mlxmed.inputs.readers import read_notes
from mlxmed.inputs.records import Record, validate_records
from mlxmed.labelling.form import answer_from_form
from mlxmed.labelling.queue import INPUT_ORDER, LEAST_CERTAIN, LabelQueue, least_certain_order
from mlxmed.labelling.store import LabelStore
from mlxmed.tasks import Task


@dataclass(frozen=True)
class Suggestion:
    """The model's answer to a note (``value`` None when its answer was invalid)."""

    value: Any
    confidence: float | None
    probabilities: dict[str, float] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "confidence": self.confidence,
                "probabilities": self.probabilities, "error": self.error}

    @property
    def certainty(self) -> float | None:
        """What orders the queue: the confidence (for extraction, the weakest field's); None
        for an invalid answer; 1 for a valid answer whose engine gave no confidence."""
        if self.value is None:
            return None
        return self.confidence if self.confidence is not None else 1.0


@dataclass
class RankProgress:
    done: int = 0
    total: int = 0
    running: bool = False
    error: str | None = None


def read_unlabelled(task: Task, notes_path: str | Path, encoding: str | None = None
                    ) -> list[Record]:
    """The notes of a CSV/JSONL file or a folder of .txt notes, checked (no labels needed)."""
    read = read_notes(notes_path, task.required_columns(with_gold=False), encoding=encoding,
                      text_field=task.text_field, id_field=task.id_field)
    return validate_records(task, read, with_gold=False)


class LabelSession:
    """A person labelling ``notes_path`` for ``task``; answers go to ``labels_path``."""

    def __init__(self, task: Task, notes_path: str | Path, labels_path: str | Path,
                 predictor: NotePredictor | None = None) -> None:
        self.task, self.notes_path = task, Path(notes_path)
        if Path(labels_path).resolve() == self.notes_path.resolve():
            raise MlxmedError(f"{labels_path}: the labels file would overwrite the notes; "
                              "mlxmed never writes to an input file")
        self.records = read_unlabelled(task, notes_path)
        self.by_id = {record.id: record for record in self.records}
        self.store = LabelStore(task, labels_path)
        self.queue = LabelQueue([r.id for r in self.records], self.store.__contains__)
        self.predictor = predictor
        self.suggestions: dict[str, Suggestion] = {}
        self.ranking = RankProgress()
        self._history: list[tuple[str, bool, Any]] = []  # (id, had an answer, that answer)
        self._closed = threading.Event()

    # ----- what the page shows -------------------------------------------------------------
    @property
    def labelled(self) -> int:
        return sum(1 for record in self.records if record.id in self.store)

    def progress(self) -> dict[str, Any]:
        ranking = self.ranking
        return {"labelled": self.labelled, "total": len(self.records), "order": self.queue.order,
                "can_undo": bool(self._history),
                "ranking": {"done": ranking.done, "total": ranking.total,
                            "running": ranking.running, "error": ranking.error}}

    def first_position(self) -> int:
        found = self.queue.next_to_label()
        return 0 if found is None else found

    def view(self, position: int) -> dict[str, Any]:
        """The note at ``position`` of the queue, its saved answer and the model's answer."""
        position = self.queue.clamp(position)
        record = self.by_id[self.queue.ids[position]]
        suggestion = self.suggest(record.id) if self.predictor else None
        return {"position": position, **self.progress(),
                "note": {"id": record.id, "text": record.text},
                "labelled_now": record.id in self.store, "saved": self.store.get(record.id),
                "suggestion": suggestion.to_dict() if suggestion else None}

    def suggest(self, note_id: str) -> Suggestion:
        """The model's answer to one note (computed once)."""
        if self.predictor is None:
            raise MlxmedError("choose a model first to see its answers")
        if note_id not in self.suggestions:
            record = self.by_id[note_id]
            try:
                prediction = self.predictor.predict(record.text, record.where)
                found = Suggestion(prediction.value, prediction.confidence,
                                   prediction.probabilities, prediction.error)
            except MlxmedError as exc:
                found = Suggestion(None, None, None, str(exc))
            self.suggestions[note_id] = found
        return self.suggestions[note_id]

    # ----- answering -----------------------------------------------------------------------
    def answer(self, note_id: str, raw: Any) -> dict[str, Any]:
        """Save a form's answer for a note; the position of the next note to label."""
        record = self._record(note_id)
        value = answer_from_form(self.task, raw)
        had, before = note_id in self.store, self.store.get(note_id)
        self.store.set(note_id, record.text, value)
        self._history.append((note_id, had, before))
        return {"next": self.queue.next_to_label(self.queue.position(note_id)),
                **self.progress()}

    def skip(self, position: int) -> dict[str, Any]:
        return {"next": self.queue.skip(position), **self.progress()}

    def undo(self) -> dict[str, Any]:
        """Take back the last answer (the note gets its earlier answer, or none)."""
        if not self._history:
            raise MlxmedError("nothing to undo")
        note_id, had, before = self._history.pop()
        record = self._record(note_id)
        if had:
            self.store.set(note_id, record.text, before)
        else:
            self.store.remove(note_id)
        return {"position": self.queue.position(note_id), **self.progress()}

    def _record(self, note_id: str) -> Record:
        record = self.by_id.get(str(note_id))
        if record is None:
            raise MlxmedError(f"{self.notes_path}: no note with id {note_id!r}")
        return record

    # ----- the queue by the model's certainty ---------------------------------------------
    def rank_by_confidence(self, on_progress: Callable[[RankProgress], None] | None = None
                           ) -> None:
        """Answer every note with the model, then order the queue least certain first."""
        if self.predictor is None:
            raise MlxmedError("choose a model first: the order comes from its confidence")
        self.ranking = ranking = RankProgress(total=len(self.records), running=True)
        try:
            for record in self.records:
                if self._closed.is_set():
                    return
                self.suggest(record.id)
                ranking.done += 1
                if on_progress:
                    on_progress(ranking)
            certainty = {i: s.certainty for i, s in self.suggestions.items()}
            self.queue.reorder(least_certain_order([r.id for r in self.records], certainty),
                               LEAST_CERTAIN)
        except Exception as exc:  # shown in the page; the queue keeps its order
            ranking.error = error_line(exc)
        finally:
            ranking.running = False

    def rank_in_background(self) -> None:
        """:meth:`rank_by_confidence` in a thread of its own (``ranking`` shows how far)."""
        if self.ranking.running:
            return
        if self.predictor is None:
            raise MlxmedError("choose a model first: the order comes from its confidence")
        self.ranking = RankProgress(total=len(self.records), running=True)
        threading.Thread(target=self.rank_by_confidence, name="rank-notes", daemon=True).start()

    def input_order(self) -> None:
        self.queue.reorder([r.id for r in self.records], INPUT_ORDER)

    def close(self) -> None:
        """Stop a ranking in progress."""
        self._closed.set()
