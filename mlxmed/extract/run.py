"""Offline batch extraction with llama.cpp: one output row per note, appended and flushed as it
goes, so a killed run loses at most the note in flight and `resume` never repeats a row. An
Excel output is built from those rows when the run ends (:mod:`mlxmed.extract.workbook`).

Prompts are built by the same code as the training chats (task spec -> messages -> the model's
chat template, rendered in the sandbox); notes too long for the context follow the task's
long-note policy and are counted.

Where the notes are answered is an engine's business: :class:`LocalEngine` (this process, the
default) or :class:`mlxmed.extract.ray_engine.RayEngine` (workers of a Ray cluster). Either
answers each note with :meth:`NoteJob.answerer` and hands the rows back; everything else
(checks, resume, writing, the summary, the workbook) is this module's, the same for both."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlxmed import __version__
from mlxmed.artifacts.ownership import refuse_input_as_output, unmark_extraction_output
from mlxmed.data.fitting import fit_chat
from mlxmed.errors import MlxmedError
from mlxmed.extract.outputs import RowWriter, check_resumable, done_ids, iter_rows
from mlxmed.extract.workbook import is_workbook, journal_from_workbook, journal_path, write_workbook
from mlxmed.inputs.ocr import ocr_languages
from mlxmed.inputs.raw import LeftOut, ReadResult
from mlxmed.inputs.readers import read_notes
from mlxmed.inputs.records import Record, validate_records
from mlxmed.tasks import Task, task_file

OUTPUT_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".xlsx")

Event = Callable[[dict], None]
# an engine's row producer: the notes to do -> one raw row per note (see _extract_one), in any
# order; a row may come twice (a batch retried after a worker died), the writer keeps the first
Rows = Callable[[list[Record]], Iterable[dict]]


@dataclass(frozen=True)
class NoteJob:
    """What answering a note needs, wherever that runs: the task, the GGUF model (and a LoRA
    adapter), the context size and llama.cpp's threads. Small and picklable, so a worker of a
    cluster builds its own predictor from it."""

    task: Task
    model: Path
    adapter: Path | None
    n_ctx: int
    threads: int | None = None

    def answerer(self) -> Callable[[Record], dict]:
        """Load the model once; the returned function answers one note as a raw row."""
        from mlxmed.inference.llama_predictor import LlamaPredictor

        predictor = LlamaPredictor(self.task, self.model, n_ctx=self.n_ctx,
                                   lora_path=self.adapter, threads=self.threads)
        budget = self.n_ctx - predictor.answer_budget()
        return functools.partial(_extract_one, self.task, predictor, budget=budget)


class Engine(Protocol):
    """Where notes are answered. ``session`` does everything that can fail before the first
    row (loading a model, reaching a cluster) and yields the row producer."""

    def session(self, job: NoteJob) -> contextlib.AbstractContextManager[Rows]: ...

    def describe(self, job: NoteJob) -> str | None:
        """What a results workbook records about the engine (None: nothing, the default)."""
        ...


class LocalEngine:
    """The notes answered one after another in this process, in their input order."""

    @contextlib.contextmanager
    def session(self, job: NoteJob) -> Iterator[Rows]:
        answer = job.answerer()
        yield lambda todo: map(answer, todo)

    def describe(self, job: NoteJob) -> str | None:
        return None


@dataclass
class ExtractSummary:
    out: Path
    total: int
    done_before: int = 0
    written: int = 0
    errors: int = 0
    shortened: int = 0
    seconds: float = 0.0
    labels: dict[str, int] = field(default_factory=dict)
    formats: dict[str, int] = field(default_factory=dict)  # notes per file format (folders)
    left_out: list[LeftOut] = field(default_factory=list)  # files of a folder not read
    ocr: list[str] = field(default_factory=list)  # notes read by OCR
    low_confidence: int | None = None  # workbook rows under the confidence threshold


def run_extract(task: Task, model: str | Path, input_path: str | Path,
                out: str | Path, resume: bool = False, threads: int | None = None,
                n_ctx: int | None = None, adapter: str | Path | None = None,
                limit: int | None = None, include_text: bool = False,
                encoding: str | None = None, labels_csv: str | Path | None = None,
                sheet: str | None = None, ocr: bool = False,
                on_event: Event | None = None, engine: Engine | None = None) -> ExtractSummary:
    """Extract the task's answer from every note of ``input_path`` into ``out`` (.csv, .jsonl
    or .xlsx). ``sheet`` picks the sheet of an Excel input; ``ocr`` reads scanned PDFs of a
    notes folder by OCR; ``engine`` answers the notes (default: :class:`LocalEngine`; with a
    :class:`~mlxmed.extract.ray_engine.RayEngine`, ``threads`` are per worker)."""
    engine = engine or LocalEngine()
    on_event = on_event or (lambda event: None)
    out = Path(out)
    refuse_input_as_output(out, [input_path, model, adapter, labels_csv, task_file(task)])
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise MlxmedError(f"--out {out}: the output must be a .csv, .jsonl or .xlsx file")
    rows_file = journal_path(out) if is_workbook(out) else out
    if not resume and any(p.exists() and p.stat().st_size > 0 for p in {out, rows_file}):
        raise MlxmedError(f"{out} already exists; pass --resume to continue it, or choose "
                          "another --out")
    if resume and rows_file.exists() and rows_file.stat().st_size > 0:
        check_resumable(rows_file, task.output_columns(include_text))  # before a byte changes
    check_trained_for(task, Path(adapter) if adapter else Path(model))
    read = read_notes(input_path, task.required_columns(with_gold=False),
                      labels_csv=labels_csv, encoding=encoding, text_field=task.text_field,
                      id_field=task.id_field, sheet=sheet,
                      ocr=ocr_languages(task.language) if ocr else None)
    records = validate_records(task, read, with_gold=False)
    if limit is not None:
        records = records[:limit]
    if resume and rows_file != out and out.is_file() and not rows_file.exists():
        journal_from_workbook(out, rows_file)  # a finished workbook: continue from its rows
    already = done_ids(rows_file) if resume else set()
    todo = [r for r in records if r.id not in already]
    n_ctx = n_ctx or task.max_seq_length + 256
    job = NoteJob(task, Path(model), Path(adapter) if adapter else None, n_ctx, threads)
    summary = ExtractSummary(out, len(records), done_before=len(records) - len(todo),
                             formats=read.formats, left_out=read.left_out, ocr=read.ocr)
    columns = task.output_columns(include_text)
    with engine.session(job) as answer:
        out.parent.mkdir(parents=True, exist_ok=True)
        writer = RowWriter(rows_file, columns)
        on_event({"type": "start", "total": len(records), "todo": len(todo),
                  "done_before": summary.done_before})
        started = time.perf_counter()
        try:
            _write_rows(task, answer(todo), todo, writer, summary, include_text, on_event)
        finally:
            writer.close()
            summary.seconds = time.perf_counter() - started
    if rows_file != out:
        options = [("note text included (--include-text)", str(include_text)),
                   ("context size in tokens (--ctx)", n_ctx), ("--limit", limit)]
        if (described := engine.describe(job)) is not None:
            options.append(("extraction engine", described))
        settings = workbook_settings(task, model, adapter, input_path, read, summary, options)
        counts = write_workbook(out, iter_rows(rows_file), columns, settings)
        summary.low_confidence = counts["low_confidence"]
        rows_file.unlink()
        unmark_extraction_output(rows_file)
    return summary


def _write_rows(task: Task, rows: Iterable[dict], todo: list[Record], writer: RowWriter,
                summary: ExtractSummary, include_text: bool, on_event: Event) -> None:
    """Write each note's row as it arrives (once: a repeat of a written id is dropped), count
    it in ``summary`` and report progress."""
    notes = {record.id: record for record in todo}
    written: set[str] = set()
    try:
        for row in rows:
            note = notes.get(row["id"])
            if note is None or note.id in written:
                continue
            written.add(note.id)
            summary.shortened += row.pop("_shortened")
            summary.errors += row["status"] == "error"
            key = task.summary_key(row.pop("_value"))
            if key is not None:
                summary.labels[key] = summary.labels.get(key, 0) + 1
            if include_text:
                row["text"] = note.text
            writer.write(row)
            summary.written += 1
            on_event({"type": "row", "done": summary.written, "todo": len(todo),
                      "errors": summary.errors})
    finally:
        if hasattr(rows, "close"):  # a generator: stop its workers now, not when collected
            rows.close()


def check_trained_for(task: Task, gguf: Path) -> None:
    """Refuse a model exported from a run of another version of the task: it learnt another
    prompt. Files without mlxmed's provenance (a base model) are not judged."""
    from mlxmed.models.gguf_import import read_gguf_metadata

    try:
        meta = read_gguf_metadata(gguf)
    except MlxmedError:
        return  # not a readable GGUF: llama_runtime's own check reports it
    trained = meta.get("mlxmed.task_spec_hash")
    if trained and trained != task.spec_hash():
        raise MlxmedError(f"{gguf}: exported from a run trained on another version of task "
                          f"'{meta.get('mlxmed.task_name', '?')}' (its prompt, labels or fields "
                          f"differ from {task.source}); use the task file it was trained with")


def workbook_settings(task: Task, model: str | Path, adapter: str | Path | None,
                      input_path: str | Path, read: ReadResult, summary: ExtractSummary,
                      options: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The settings and provenance a results workbook records."""
    import llama_cpp

    trained = _model_provenance(Path(model))
    settings: list[tuple[str, Any]] = [
        ("task", task.name), ("task kind", task.kind), ("task file", str(task.source)),
        ("task spec hash", task.spec_hash()),
        ("model file", str(Path(model).resolve())),
        ("model trained on task spec hash", trained.get("mlxmed.task_spec_hash", "")),
        ("model training run", trained.get("mlxmed.run_id", "")),
        ("adapter", str(adapter or "")),
        ("input", str(Path(input_path).resolve())), ("input sha256", read.sha256),
        ("input sheet", read.sheet or ""),
        ("notes in input", summary.total), ("rows from earlier runs", summary.done_before),
        ("notes read by OCR", ", ".join(read.ocr)),
        ("files left out", "; ".join(f"{i.file} ({i.reason})" for i in read.left_out)),
        *options,
        ("mlxmed version", __version__), ("llama-cpp-python version", llama_cpp.__version__),
        ("finished", dt.datetime.now().astimezone().isoformat(timespec="seconds")),
    ]
    return settings


def _model_provenance(model: Path) -> dict[str, str]:
    from mlxmed.models.gguf_import import read_gguf_metadata

    try:
        meta = read_gguf_metadata(model)
    except Exception:  # noqa: BLE001 - provenance is informative; the run already used it
        return {}
    return {k: str(v) for k, v in meta.items() if k.startswith("mlxmed.")}


def _extract_one(task: Task, predictor, record: Record, budget: int) -> dict:
    """One note's raw row: its cells, plus ``_shortened`` and ``_value`` for the summary."""
    started = time.perf_counter()
    row: dict = {"id": record.id, "_shortened": False, "_value": None}
    try:
        messages, _, shortened = fit_chat(task, record.text, None, predictor.chat, budget,
                                          where=record.where)
        row["_shortened"] = shortened
        prediction = predictor.predict(messages)
        if prediction.value is None:
            row.update(status="error", error=prediction.error or "no valid answer")
        else:
            row.update(task.answer_cells(prediction.value), status="ok",
                       _value=prediction.value)
        row.update(task.confidence_cells(prediction))
    except MlxmedError as exc:
        row.update(status="error", error=str(exc))
    row["ms"] = round((time.perf_counter() - started) * 1000)
    return row
