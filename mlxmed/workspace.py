"""A workspace: one folder holding a study's task files, notes, labels, data folders, runs,
models, extraction outputs and reports, each found by what it is (not by its name) and shown
with its status. Paths from outside (a web page) are resolved here and must stay inside.

What mlxmed itself creates in a workspace goes to folders of its own:

    labels/<task>--<notes>.csv          answers given by hand (`mlxmed data` reads them)
    labels/<output>--reviewed.csv       corrections of an extraction output (gold labels)
    data/<task>-<time>/                 data folders prepared for training
    runs/<task>-<time>/                 training runs
    curves/<task>-<time>/               learning curves
    reports/<output>-reviewed/          evaluation reports against the corrections
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlxmed.artifacts.model_dir import ModelDir
from mlxmed.artifacts.ownership import JOB_FILE
from mlxmed.artifacts.prepared import SUMMARY, PreparedData
from mlxmed.artifacts.run import RECORD, Run
from mlxmed.errors import MlxmedError, error_line
from mlxmed.inputs.readers import sniff_delimiter
from mlxmed.tasks import Task, load_task

LABELS, DATA, RUNS, CURVES, REPORTS = "labels", "data", "runs", "curves", "reports"
TASK_SUFFIXES = (".yaml", ".yml")
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl")
OUTPUT_MARKERS = {"id", "status", "ms"}  # columns every `mlxmed extract` output has
SKIPPED_DIRS = {"__pycache__", "node_modules", "venv", "site-packages"}
MAX_DEPTH = 5
MAX_ENTRIES = 2000
COUNT_LIMIT_BYTES = 64 << 20  # larger tables are listed without counting their rows


@dataclass
class Entry:
    """Something found in the workspace: what it is, where, its status and a summary."""

    category: str  # task, notes, labels, data, run, model, gguf, output, report, curve
    path: str  # relative to the workspace (absolute for models outside it)
    name: str
    status: str = "ok"
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.category, "path": self.path, "name": self.name, "status": self.status,
                "summary": self.summary, "details": self.details}


class Workspace:
    """The folder ``root`` and everything in it."""

    def __init__(self, root: str | Path) -> None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise MlxmedError(f"{root}: workspace folder not found; give an existing folder")
        self.root = root.resolve()

    # ----- paths ---------------------------------------------------------------------------
    def resolve(self, relative: str, must_exist: bool = True) -> Path:
        """A path given relative to the workspace; never one outside it (``..`` and absolute
        paths are refused; a symbolic link the user put inside the workspace is followed)."""
        if not isinstance(relative, str) or not relative.strip():
            raise MlxmedError("no file chosen; pick one from the workspace")
        path = Path(os.path.normpath(self.root / relative))
        if Path(relative).is_absolute() or (path != self.root
                                            and self.root not in path.parents):
            raise MlxmedError(f"{relative}: outside the workspace {self.root}")
        if must_exist and not path.exists():
            raise MlxmedError(f"{relative}: not found in the workspace {self.root}")
        return path

    def relative(self, path: str | Path) -> str:
        path = Path(os.path.normpath(Path(path).absolute()))
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def labels_file(self, task: Task, notes: Path) -> Path:
        """Where the answers for ``task`` on the notes ``notes`` are kept (JSONL notes get a
        JSONL labels file, everything else CSV)."""
        suffix = ".jsonl" if notes.suffix.lower() == ".jsonl" else ".csv"
        return self.root / LABELS / f"{task.name}--{_stem(notes)}{suffix}"

    def corrections_file(self, output: Path) -> Path:
        return self.root / LABELS / f"{_stem(output)}--reviewed.csv"

    def report_dir(self, output: Path) -> Path:
        return self.root / REPORTS / f"{_stem(output)}-reviewed"

    def new_folder(self, kind: str, task: Task) -> Path:
        """A fresh folder name under ``data/``, ``runs/`` or ``curves/``."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = self.root / kind / f"{task.name}-{stamp}"
        path, number = base, 1
        while path.exists():
            number += 1
            path = base.with_name(f"{base.name}-{number}")
        return path

    # ----- what is in it -------------------------------------------------------------------
    def scan(self) -> list[Entry]:
        """Everything recognisable in the workspace, plus the converted models of
        ``$MLXMED_HOME``."""
        entries: list[Entry] = []
        for folder, dirs, files in _walk(self.root):
            kept_dirs = []
            for name in dirs:
                entry = self._folder_entry(folder / name)
                if entry is not None:
                    entries.append(entry)
                    if entry.category not in ("notes",):
                        continue  # its contents belong to it
                kept_dirs.append(name)
            dirs[:] = kept_dirs
            for name in sorted(files):
                entry = self._file_entry(folder / name)
                if entry is not None:
                    entries.append(entry)
            if len(entries) > MAX_ENTRIES:
                break
        entries += home_models(exclude={e.path for e in entries if e.category == "model"})
        return entries

    def notes_files(self) -> list[Path]:
        """The tables and .txt folders of the workspace that may hold notes."""
        return [self.root / e.path for e in self.scan() if e.category in ("notes", "labels")
                and not Path(e.path).is_absolute()]

    def _folder_entry(self, path: Path) -> Entry | None:
        relative = self.relative(path)
        try:
            if (path / RECORD).is_file():
                return run_entry(path, relative)
            if (path / SUMMARY).is_file() and (path / "train.jsonl").is_file():
                return data_entry(path, relative)
            if ModelDir.is_converted(path):
                return model_entry(path, relative)
            if (path / "curve.json").is_file():
                return curve_entry(path, relative)
            if (path / JOB_FILE).is_file():
                return Entry("curve", relative, path.name, "interrupted", "learning curve not "
                             "finished; resume it", {"resumable": True, "rows": []})
            if (path / "report.html").is_file():
                return report_entry(path, relative)
            notes = sum(1 for _ in path.glob("*.txt"))
            if notes:
                return Entry("notes", relative, path.name, summary=f"folder of {notes} .txt "
                             "notes", details={"rows": notes, "format": "txt-folder"})
        except Exception as exc:  # an unreadable entry is shown with its problem
            return Entry("unreadable", relative, path.name, "error", error_line(exc))
        return None

    def _file_entry(self, path: Path) -> Entry | None:
        relative, suffix = self.relative(path), path.suffix.lower()
        try:
            if suffix in TASK_SUFFIXES:
                return task_entry(path, relative)
            if suffix == ".gguf":
                return gguf_entry(path, relative)
            if suffix in TABLE_SUFFIXES:
                in_labels = path.parent == self.root / LABELS
                return table_entry(path, relative, "labels" if in_labels else "notes")
        except Exception as exc:
            return Entry("unreadable", relative, path.name, "error", error_line(exc))
        return None


def _stem(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


def _walk(root: Path):
    """``os.walk`` below ``root``, hidden and tool folders left out, at most MAX_DEPTH deep."""
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        depth = len(here.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS
                         and depth < MAX_DEPTH)
        yield here, dirs, [f for f in files if not f.startswith(".")]


# ----- one entry per kind ------------------------------------------------------------------
def task_entry(path: Path, relative: str) -> Entry:
    try:
        task = load_task(path)
    except MlxmedError as exc:
        return Entry("task", relative, path.name, "error", str(exc))
    form = task.answer_form()
    answers = ([c["value"] for c in form["choices"]] if form["type"] == "choice"
               else [f["name"] for f in form["fields"]])
    what = "labels" if form["type"] == "choice" else "fields"
    return Entry("task", relative, task.name, summary=f"{task.kind}: {len(answers)} {what}",
                 details={"kind": task.kind, "answers": answers, "task_name": task.name,
                          "answer_columns": task.answer_columns()})


def table_entry(path: Path, relative: str, kind: str) -> Entry:
    columns = table_columns(path)
    if set(columns) >= OUTPUT_MARKERS:
        return output_entry(path, relative, columns)
    rows = count_rows(path)
    shown = "?" if rows is None else str(rows)
    return Entry(kind, relative, path.name, summary=f"{shown} rows; columns: "
                 f"{', '.join(columns[:8])}", details={"rows": rows, "columns": columns})


def output_entry(path: Path, relative: str, columns: list[str]) -> Entry:
    from mlxmed.extract.outputs import iter_rows

    statuses: Counter[str] = Counter()
    if path.stat().st_size <= COUNT_LIMIT_BYTES:
        for row in iter_rows(path):
            statuses[str(row.get("status") or "")] += 1
    rows = sum(statuses.values())
    counts = ", ".join(f"{status} {count}" for status, count in statuses.most_common())
    answers = [c for c in columns if c not in ("id", "confidence", "status", "error", "ms",
                                               "text")]
    return Entry("output", relative, path.name,
                 "ok" if not statuses.get("error") else "has errors",
                 f"{rows} rows ({counts or 'empty'})",
                 {"rows": rows, "status_counts": dict(statuses), "columns": columns,
                  "answer_columns": answers})


def table_columns(path: Path) -> list[str]:
    """The header of a CSV/TSV file, or the keys of a JSONL file's first object."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        first = handle.readline()
    if path.suffix.lower() == ".jsonl":
        try:
            data = json.loads(first)
        except ValueError:
            return []
        return list(data) if isinstance(data, dict) else []
    delimiter = "\t" if path.suffix.lower() == ".tsv" else sniff_delimiter(first)
    return [c.strip() for c in next(csv.reader(io.StringIO(first), delimiter=delimiter), [])]


def count_rows(path: Path) -> int | None:
    """Records in a table (quoted line breaks counted right); None for very large files."""
    if path.stat().st_size > COUNT_LIMIT_BYTES:
        return None
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    if path.suffix.lower() == ".jsonl":
        return sum(1 for line in text.splitlines() if line.strip())
    delimiter = "\t" if path.suffix.lower() == ".tsv" else sniff_delimiter(text)
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error:
        return None
    return max(0, sum(1 for row in rows if any(cell.strip() for cell in row)) - 1)


def gguf_entry(path: Path, relative: str) -> Entry:
    details: dict[str, Any] = {"bytes": path.stat().st_size}
    details.update(gguf_provenance(path))
    task = details.get("task_name")
    size = f"{path.stat().st_size / 1e6:.1f} MB"
    return Entry("gguf", relative, path.name,
                 summary=f"{size}" + (f", trained for task {task}" if task else ""),
                 details=details)


def gguf_provenance(path: Path) -> dict[str, str]:
    """The ``mlxmed.*`` keys `mlxmed export` writes (task name, spec hash, run id)."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
    except Exception:  # not a GGUF file mlxmed can read: listed without provenance
        return {}
    found = {}
    for key in ("task_name", "task_spec_hash", "run_id"):
        reader_field = reader.fields.get(f"mlxmed.{key}")
        if reader_field is not None:
            found[key] = str(reader_field.contents())
    return found


def run_entry(path: Path, relative: str) -> Entry:
    run = Run.open(path)
    record = run.record
    best = f"{record.best_metric:.3f}" if record.best_metric is not None else "-"
    resumable = not run.finished
    return Entry("run", relative, path.name, record.status,
                 f"{record.task.name}: {record.status}, best validation metric {best} at step "
                 f"{record.best_step}",
                 {"task_name": record.task.name, "best_metric": record.best_metric,
                  "best_step": record.best_step, "last_step": record.last_step,
                  "zero_shot_metric": record.zero_shot_metric, "resumable": resumable,
                  "model": record.model.dir, "iters": record.hyperparameters.get("iters")})


def data_entry(path: Path, relative: str) -> Entry:
    summary = PreparedData(path).summary or {}
    notes = (summary.get("input") or {}).get("notes")
    task = (summary.get("task") or {}).get("name", "?")
    return Entry("data", relative, path.name, summary=f"{task}: {notes} notes prepared",
                 details={"task_name": task, "notes": notes})


def model_entry(path: Path, relative: str) -> Entry:
    marker = ModelDir(path).marker
    source = marker.catalogue_name or marker.source if marker else "?"
    return Entry("model", relative, path.name, summary=f"converted model ({source})",
                 details={"absolute": str(path)})


def curve_entry(path: Path, relative: str) -> Entry:
    curve = json.loads((path / "curve.json").read_text(encoding="utf-8"))
    rows = curve.get("rows", [])
    shown = ", ".join(f"N={r['n']}: {r['mean']:.3f}" for r in rows)
    return Entry("curve", relative, path.name, summary=shown or "no points",
                 details={"rows": rows})


def report_entry(path: Path, relative: str) -> Entry:
    summary, details = "evaluation report", {}
    report_json = path / "report.json"
    if report_json.is_file():
        report = json.loads(report_json.read_text(encoding="utf-8"))
        metrics = report.get("metrics", {})
        name = metrics.get("headline_name")
        if name is not None:
            summary = f"{report.get('task')}: {name} {metrics.get('headline', 0):.3f} on " \
                      f"{report.get('notes')} notes"
            details = {"task_name": report.get("task"), "headline": metrics.get("headline")}
    return Entry("report", relative, path.name, summary=summary, details=details)


def home_models(exclude: set[str]) -> list[Entry]:
    """The models converted into ``$MLXMED_HOME`` (listed by absolute path)."""
    from mlxmed.models.hub import converted_models
    from mlxmed.paths import models_dir

    entries = []
    for name in converted_models():
        path = models_dir() / name
        if str(path) not in exclude:
            entries.append(model_entry(path, str(path)))
    return entries
