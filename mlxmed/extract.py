"""Offline batch extraction with llama.cpp: one output row per note, appended and flushed as it
goes, so a killed run loses at most the note in flight and `resume` never repeats a row.

Prompts are built by the same code as the training chats (task spec -> messages -> the model's
chat template, rendered in the sandbox); notes too long for the context follow the task's
long-note policy and are counted."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mlxmed.data import fit_chat, required_columns, validate_records
from mlxmed.errors import MlxmedError
from mlxmed.readers import read_notes
from mlxmed.tasks import TaskSpec, format_json, load_task

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


def output_columns(task: TaskSpec, include_text: bool) -> list[str]:
    answer = ["label"] if task.kind == "classification" else list(task.field_names)
    return ["id", *answer, "confidence", "status", "error", "ms",
            *(["text"] if include_text else [])]


class RowWriter:
    """Appends rows to a CSV or JSONL file, flushing and syncing each one."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path, self.columns = path, columns
        self.jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
        if path.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
            raise MlxmedError(f"{path}: the output must be a .csv or .jsonl file")
        new = not path.exists() or path.stat().st_size == 0
        if not new:
            self._check_columns(path, columns)
        self.handle = path.open("ab", buffering=0)  # unbuffered: a row is on disk or not
        if new and not self.jsonl:
            self._write_line(self._csv_line(columns))

    def _check_columns(self, path: Path, columns: list[str]) -> None:
        """A resumed file must have the same columns (e.g. the same --include-text)."""
        with path.open(encoding="utf-8", newline="") as handle:
            first = handle.readline()
        if self.jsonl:
            try:
                found = list(json.loads(first))
            except ValueError:
                found = []
        else:
            found = next(csv.reader([first]), [])
        if found != columns:
            raise MlxmedError(f"{path}: its columns ({', '.join(found)}) differ from this run's "
                              f"({', '.join(columns)}); resume with the same options "
                              "(--include-text) or write to another --out")

    def _csv_line(self, values: list) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(values)
        return buffer.getvalue()

    def _write_line(self, line: str) -> None:
        """Append one complete line; if the write fails (a full disk), cut the file back to
        where it was, so it never ends in half a row."""
        fd = self.handle.fileno()
        size = os.fstat(fd).st_size
        try:
            data = memoryview(line.encode("utf-8"))
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.truncate(self.path, size)
            raise

    def write(self, row: dict) -> None:
        if self.jsonl:
            self._write_line(json.dumps({c: row.get(c) for c in self.columns},
                                        ensure_ascii=False) + "\n")
        else:
            self._write_line(self._csv_line([_cell(row.get(c)) for c in self.columns]))

    def close(self) -> None:
        self.handle.close()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return format_json(value)
    return str(value)


def done_ids(path: Path) -> set[str]:
    """Ids already in an output file. A last line cut short by a kill is removed first."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):  # the row in flight when the run was killed
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)
        data = data[: data.rfind(b"\n") + 1]
    text = data.decode("utf-8")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        ids = set()
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    ids.add(str(json.loads(line)["id"]))
                except (ValueError, KeyError, TypeError) as exc:
                    raise MlxmedError(f"{path}: line {number} is not an extraction row; "
                                      "use another --out or remove the line") from exc
        return ids
    rows = list(csv.reader(io.StringIO(text)))
    if rows and rows[0][:1] != ["id"]:
        raise MlxmedError(f"{path}: not an mlxmed output file (no 'id' column); use another "
                          "--out")
    return {row[0] for row in rows[1:] if row}


def run_extract(task_path: str | Path, model: str | Path, input_path: str | Path,
                out: str | Path, resume: bool = False, threads: int | None = None,
                n_ctx: int | None = None, adapter: str | Path | None = None,
                limit: int | None = None, include_text: bool = False,
                encoding: str | None = None, labels_csv: str | Path | None = None,
                on_event: Event | None = None) -> ExtractSummary:
    """Extract the task's answer from every note of ``input_path`` into ``out``."""
    from mlxmed.llama_scoring import LlamaPredictor

    on_event = on_event or (lambda event: None)
    task = load_task(task_path)
    out = Path(out)
    if out.exists() and out.stat().st_size > 0 and not resume:
        raise MlxmedError(f"{out} already exists; pass --resume to continue it, or choose "
                          "another --out")
    read = read_notes(input_path, required_columns(task, with_gold=False),
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
    columns = output_columns(task, include_text)
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
            if task.kind == "classification" and row.get("label"):
                summary.labels[row["label"]] = summary.labels.get(row["label"], 0) + 1
            writer.write(row)
            summary.written += 1
            on_event({"type": "row", "done": index + 1, "todo": len(todo),
                      "errors": summary.errors})
    finally:
        writer.close()
        summary.seconds = time.perf_counter() - started
    return summary


def _extract_one(task: TaskSpec, predictor, record, budget: int, include_text: bool) -> dict:
    started = time.perf_counter()
    row: dict = {"id": record.id, "_shortened": False}
    try:
        messages, _, shortened = fit_chat(task, record.text, None, predictor.chat, budget,
                                          where=record.where)
        row["_shortened"] = shortened
        prediction = predictor.predict(messages)
        if prediction.value is None:
            row.update(status="error", error=prediction.error or "no valid answer")
        elif task.kind == "classification":
            row.update(label=prediction.value, status="ok")
        else:
            row.update({name: prediction.value.get(name) for name in task.field_names},
                       status="ok")
        row["confidence"] = (round(prediction.confidence, 4)
                             if prediction.confidence is not None else None)
    except MlxmedError as exc:
        row.update(status="error", error=str(exc))
    row["ms"] = round((time.perf_counter() - started) * 1000)
    if include_text:
        row["text"] = record.text
    return row


def iter_rows(path: Path) -> Iterator[dict]:
    """Rows of an extraction output (CSV or JSONL) as dicts."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)
    else:
        with path.open(encoding="utf-8", newline="") as handle:
            yield from csv.DictReader(handle)
