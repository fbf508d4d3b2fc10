"""Offline batch extraction with llama.cpp: one output row per note, appended and flushed as it
goes, so a killed run loses at most the note in flight and `resume` never repeats a row.

Prompts are built by the same code as the training chats (task spec -> messages -> the model's
chat template, rendered in the sandbox); notes too long for the context follow the task's
long-note policy and are counted."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlxmed.artifacts.ownership import refuse_input_as_output
from mlxmed.data.fitting import fit_chat
from mlxmed.errors import MlxmedError
from mlxmed.extract.outputs import RowWriter, check_resumable, done_ids
from mlxmed.inputs.readers import read_notes
from mlxmed.inputs.records import validate_records
from mlxmed.tasks import Task, task_file

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


def run_extract(task: Task, model: str | Path, input_path: str | Path,
                out: str | Path, resume: bool = False, threads: int | None = None,
                n_ctx: int | None = None, adapter: str | Path | None = None,
                limit: int | None = None, include_text: bool = False,
                encoding: str | None = None, labels_csv: str | Path | None = None,
                on_event: Event | None = None) -> ExtractSummary:
    """Extract the task's answer from every note of ``input_path`` into ``out``."""
    from mlxmed.inference.llama_predictor import LlamaPredictor

    on_event = on_event or (lambda event: None)
    out = Path(out)
    refuse_input_as_output(out, [input_path, model, adapter, labels_csv, task_file(task)])
    if out.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
        raise MlxmedError(f"--out {out}: the output must be a .csv or .jsonl file")
    if out.exists() and out.stat().st_size > 0:
        if not resume:
            raise MlxmedError(f"{out} already exists; pass --resume to continue it, or choose "
                              "another --out")
        check_resumable(out, task.output_columns(include_text))
    read = read_notes(input_path, task.required_columns(with_gold=False),
                      labels_csv=labels_csv, encoding=encoding, text_field=task.text_field,
                      id_field=task.id_field)
    records = validate_records(task, read, with_gold=False)
    if limit is not None:
        records = records[:limit]
    already = done_ids(out) if resume else set()
    todo = [r for r in records if r.id not in already]
    n_ctx = n_ctx or task.max_seq_length + 256
    predictor = LlamaPredictor(task, model, n_ctx=n_ctx, lora_path=adapter, threads=threads)
    budget = n_ctx - predictor.answer_budget()
    summary = ExtractSummary(out, len(records), done_before=len(records) - len(todo))
    columns = task.output_columns(include_text)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = RowWriter(out, columns)
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
    return summary


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
