"""Offline batch extraction with llama.cpp: one output row per note, appended and flushed as it
goes, so a killed run loses at most the note in flight and `resume` never repeats a row. An
Excel output is built from those rows when the run ends (:mod:`mlxmed.extract.workbook`).

Prompts are built by the same code as the training chats (task spec -> messages -> the model's
chat template, rendered in the sandbox); notes too long for the context follow the task's
long-note policy and are counted."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlxmed import __version__
from mlxmed.artifacts.ownership import refuse_input_as_output, unmark_extraction_output
from mlxmed.data.fitting import fit_chat
from mlxmed.errors import MlxmedError
from mlxmed.extract.outputs import RowWriter, check_resumable, done_ids, iter_rows
from mlxmed.extract.workbook import is_workbook, journal_from_workbook, journal_path, write_workbook
from mlxmed.inputs.ocr import ocr_languages
from mlxmed.inputs.raw import LeftOut, ReadResult
from mlxmed.inputs.readers import read_notes
from mlxmed.inputs.records import validate_records
from mlxmed.tasks import Task, task_file

OUTPUT_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".xlsx")

Event = Callable[[dict], None]


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
                on_event: Event | None = None) -> ExtractSummary:
    """Extract the task's answer from every note of ``input_path`` into ``out`` (.csv, .jsonl
    or .xlsx). ``sheet`` picks the sheet of an Excel input; ``ocr`` reads scanned PDFs of a
    notes folder by OCR."""
    from mlxmed.inference.llama_predictor import LlamaPredictor

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
    predictor = LlamaPredictor(task, model, n_ctx=n_ctx, lora_path=adapter, threads=threads)
    budget = n_ctx - predictor.answer_budget()
    summary = ExtractSummary(out, len(records), done_before=len(records) - len(todo),
                             formats=read.formats, left_out=read.left_out, ocr=read.ocr)
    columns = task.output_columns(include_text)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = RowWriter(rows_file, columns)
    on_event({"type": "start", "total": len(records), "todo": len(todo),
              "done_before": summary.done_before})
    started = time.perf_counter()
    try:
        for index, record in enumerate(todo):
            row = _extract_one(task, predictor, record, budget, include_text)
            summary.shortened += row.pop("_shortened")
            summary.errors += row["status"] == "error"
            key = task.summary_key(row.pop("_value"))
            if key is not None:
                summary.labels[key] = summary.labels.get(key, 0) + 1
            writer.write(row)
            summary.written += 1
            on_event({"type": "row", "done": index + 1, "todo": len(todo),
                      "errors": summary.errors})
    finally:
        writer.close()
        summary.seconds = time.perf_counter() - started
    if rows_file != out:
        options = [("note text included (--include-text)", str(include_text)),
                   ("context size in tokens (--ctx)", n_ctx), ("--limit", limit)]
        settings = workbook_settings(task, model, adapter, input_path, read, summary, options)
        counts = write_workbook(out, iter_rows(rows_file), columns, settings)
        summary.low_confidence = counts["low_confidence"]
        rows_file.unlink()
        unmark_extraction_output(rows_file)
    return summary


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


def _extract_one(task: Task, predictor, record, budget: int, include_text: bool) -> dict:
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
    if include_text:
        row["text"] = record.text
    return row
