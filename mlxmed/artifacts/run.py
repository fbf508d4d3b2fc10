"""A training run folder: the run record (``run.json``), its metrics log and its adapters. The
only code that knows their names; the record stores the task spec as it was trained.

    run.json                      RunRecord: task, model, data, settings, history, status
    metrics.jsonl                 one line per training/evaluation report
    adapters/best/, adapters/last/  LoRA weights (+ optimizer state in last/ for resuming)
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlxmed.artifacts.ownership import JOB_FILE
from mlxmed.atomic import write_text
from mlxmed.errors import MlxmedError

if TYPE_CHECKING:
    from mlxmed.artifacts.model_dir import ModelDir
    from mlxmed.artifacts.prepared import PreparedData
    from mlxmed.tasks import Task

RECORD = "run.json"
METRICS = "metrics.jsonl"
ADAPTERS = "adapters"
FINISHED = ("finished", "early_stopped")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class TaskRecord:
    """The task as trained: where its file was, and the spec itself."""

    file: str
    name: str
    kind: str
    spec_hash: str
    spec: dict[str, Any] | None = None  # Task.to_dict() at training time


@dataclass
class ModelRecord:
    dir: str
    marker: dict[str, Any] | None = None


@dataclass
class DataRecord:
    dir: str
    train_file: str
    train_sha256: str = ""
    valid_sha256: str = ""
    train_notes: int = 0
    valid_notes: int = 0
    metric_notes: int = 0


@dataclass
class RunRecord:
    """Everything `train` knows about a run; ``run.json`` is this, as JSON."""

    run_id: str
    task: TaskRecord
    model: ModelRecord
    data: DataRecord
    hyperparameters: dict[str, Any]
    status: str = "running"
    mlxmed_version: str = ""
    created_at: str = ""
    updated_at: str = ""
    libraries: dict[str, str] = field(default_factory=dict)
    platform: dict[str, str] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    trainable_parameters: int | None = None
    best_step: int | None = None
    best_metric: float | None = None
    zero_shot_metric: float | None = None
    last_step: int | None = None
    evals_without_gain: int = 0
    train_seconds: float = 0.0
    resumed_from_step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """A record from ``run.json`` data; KeyError/TypeError when it is not one."""
        parts = {"task": TaskRecord, "model": ModelRecord, "data": DataRecord}
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key, part in parts.items():
            raw = data[key]
            values[key] = part(**{k: v for k, v in raw.items()
                                  if k in part.__dataclass_fields__})
        return cls(**values)


class Run:
    """A run folder and its record."""

    def __init__(self, path: str | Path, record: RunRecord) -> None:
        self.path, self.record = Path(path), record
        self.writable = True

    @classmethod
    def detached(cls, path: str | Path, record: RunRecord) -> Run:
        """A run kept in memory only: what the other processes of a distributed run hold
        (rank 0 writes the folder)."""
        run = cls(path, record)
        run.writable = False
        return run

    # ----- opening and creating ------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> Run:
        """The run at ``path``; a one-line error when the folder is not a training run."""
        path = Path(path)
        try:
            data = json.loads((path / RECORD).read_text(encoding="utf-8"))
            record = RunRecord.from_dict(data)
        except (OSError, ValueError) as exc:
            raise MlxmedError(f"{path}: not a training run (no readable {RECORD}); give the "
                              "--out folder of `mlxmed train`") from exc
        except (KeyError, TypeError, AttributeError) as exc:
            raise MlxmedError(f"{path / RECORD}: not a run record written by `mlxmed train` "
                              f"({type(exc).__name__}: {exc}); train again into a new --out"
                              ) from exc
        return cls(path, record)

    @staticmethod
    def exists(path: str | Path) -> bool:
        return (Path(path) / RECORD).exists()

    @classmethod
    def check_new(cls, path: str | Path) -> None:
        """Refuse a folder for a new run that already holds a run or anything else."""
        path = Path(path)
        if cls.exists(path):
            raise MlxmedError(f"{path} already holds a run; choose another --out, or pass "
                              "--resume to continue it")
        others = [p for p in path.iterdir() if p.name != JOB_FILE] if path.is_dir() else []
        if path.exists() and (not path.is_dir() or others):
            raise MlxmedError(f"--out {path}: exists and is not an empty folder (nor a run); "
                              "mlxmed never writes over other files: choose another --out")

    @classmethod
    def create(cls, path: str | Path, record: RunRecord) -> Run:
        """A new run folder (refusing a folder that already holds a run or other files)."""
        path = Path(path)
        cls.check_new(path)
        run = cls(path, record)
        path.mkdir(parents=True, exist_ok=True)
        run.rewrite_metrics()
        return run

    def restart(self, record: RunRecord) -> Run:
        """This run started over with ``record``: for a run stopped before its first
        checkpoint, whose folder holds only what mlxmed wrote for it."""
        self.record = record
        self.rewrite_metrics()
        return self

    # ----- contents ------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        """The run's id, safe to use in a file name (never a path of its own)."""
        cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", self.record.run_id).strip(".-")
        return cleaned or "run"

    @property
    def finished(self) -> bool:
        return self.record.status in FINISHED

    def adapter_dir(self, which: str = "best") -> Path:
        """``adapters/best`` (the best validation metric) or ``adapters/last``."""
        return self.path / ADAPTERS / which

    @property
    def best_adapter(self) -> Path:
        return self.adapter_dir("best")

    @property
    def last_adapter(self) -> Path:
        return self.adapter_dir("last")

    def task(self) -> Task:
        """The task as it was trained (from the record; from its file for older runs)."""
        from mlxmed.tasks import load_task, task_from_dict

        spec = self.record.task.spec
        if spec is None:
            return load_task(self.record.task.file)
        return task_from_dict(spec, source=self.record.task.file)

    def task_file_changed(self) -> bool:
        """Whether the task file the run was trained from now says something else."""
        from mlxmed.tasks import load_task

        path = Path(self.record.task.file)
        if not path.is_file():
            return False
        try:
            return load_task(path).spec_hash() != self.record.task.spec_hash
        except MlxmedError:
            return True

    def model_dir(self) -> ModelDir:
        from mlxmed.artifacts.model_dir import ModelDir

        return ModelDir.open(self.record.model.dir)

    def data(self) -> PreparedData:
        from mlxmed.artifacts.prepared import PreparedData

        return PreparedData.open(self.record.data.dir)

    # ----- writing -------------------------------------------------------------------------
    def save(self) -> None:
        """Write ``run.json`` atomically."""
        self.record.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        if not self.writable:
            return
        write_text(self.path / RECORD, json.dumps(self.record.to_dict(), indent=2) + "\n")

    def log(self, entry: dict[str, Any]) -> None:
        """Add one report to the history, ``metrics.jsonl`` and ``run.json``."""
        self.record.history.append(entry)
        if not self.writable:
            return
        with (self.path / METRICS).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
        self.save()

    def rewrite_metrics(self) -> None:
        """``metrics.jsonl`` from the history (a resumed run drops the steps it redoes)."""
        if not self.writable:
            return
        write_text(self.path / METRICS, "".join(json.dumps(entry) + "\n"
                                                for entry in self.record.history))
        self.save()
