"""What a training job does, written down before it starts: the task, the labelled notes, the
model, the folders for the data step and the run (or curve), and the settings the person
chose. Checked here, so a mistake is one line before any child process starts; kept in the
output folder (``studio-job.json``), so an interrupted job can be resumed as it was."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mlxmed.artifacts.model_dir import ModelDir
from mlxmed.artifacts.run import Run
from mlxmed.atomic import write_text
from mlxmed.data import parse_sizes
from mlxmed.errors import MlxmedError
from mlxmed.tasks import load_task
from mlxmed.training import TrainSettings
from mlxmed.training.settings import catalogue_defaults
from mlxmed.workspace import JOB_FILE

KINDS = ("train", "curve")
SPEC_FILE = JOB_FILE
# the settings a page may set, and what each must be
EDITABLE = {"epochs": float, "iters": int, "min_steps": int, "learning_rate": float, "rank": int,
            "layers": int, "batch_size": int, "alpha": float}


@dataclass
class JobSpec:
    """One training run or learning curve on notes labelled in a workspace."""

    command: str  # train or curve
    task: str
    model: str
    data_dir: str
    out_dir: str
    labels: str | None = None  # None: the data folder exists already (a resumed job)
    settings: dict[str, Any] = field(default_factory=dict)
    sizes: list[int] = field(default_factory=list)
    resume: bool = False

    def train_settings(self) -> TrainSettings:
        return TrainSettings(**self.settings)

    def data_sizes(self) -> list[int]:
        """The learning-curve subsets the data step must write (none for a single run)."""
        return [n for n in self.sizes if n > 0] if self.command == "curve" else []

    def save(self, path: str | Path) -> None:
        write_text(path, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> JobSpec:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise MlxmedError(f"{path}: not a job description written by mlxmed studio "
                              f"({exc})") from exc


def check_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """The settings a person typed, each a positive number of the right kind (blank: the
    model's default)."""
    if not isinstance(raw, dict):
        raise MlxmedError("settings must be a mapping of names to numbers")
    settings: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in EDITABLE:
            raise MlxmedError(f"setting {name!r} cannot be set here; use one of: "
                              f"{', '.join(EDITABLE)}")
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        kind = EDITABLE[name]
        try:
            number = kind(str(value).strip().replace(",", ".")) if kind is float \
                else int(str(value).strip())
        except ValueError as exc:
            raise MlxmedError(f"setting {name}: {value!r} is not a "
                              f"{'whole ' if kind is int else ''}number") from exc
        if not math.isfinite(number) or number <= 0:
            raise MlxmedError(f"setting {name}: {value!r} must be a number greater than 0")
        settings[name] = number
    if "epochs" in settings and "iters" in settings:
        raise MlxmedError("give either epochs or iterations (steps), not both")
    return settings


def default_settings(model: ModelDir) -> dict[str, Any]:
    """The catalogue's recommended LoRA settings for the model (what a page shows first)."""
    defaults = catalogue_defaults(model)
    return {name: defaults[name] for name in ("epochs", "min_steps", "learning_rate", "rank",
                                              "layers", "batch_size", "alpha")
            if name in defaults}


def plan_job(kind: str, task_file: Path, labels: Path, model: ModelDir, data_dir: Path,
             out_dir: Path, settings: dict[str, Any], sizes: str | list[int] | None = None
             ) -> JobSpec:
    """A checked job: the task loads, the labels file exists, the settings are numbers."""
    if kind not in KINDS:
        raise MlxmedError(f"job kind {kind!r}: use one of {', '.join(KINDS)}")
    load_task(task_file)
    if not labels.exists():
        raise MlxmedError(f"{labels}: no labelled notes; label some notes first")
    chosen: list[int] = []
    if kind in ("curve",):
        text = sizes if isinstance(sizes, str) else ",".join(map(str, sizes or []))
        chosen = parse_sizes(text, allow_zero=True)
        if not [n for n in chosen if n > 0]:
            raise MlxmedError("a learning curve needs at least one size above 0, e.g. 0,20,40")
    return JobSpec(kind, str(task_file), str(model.path), str(data_dir), str(out_dir),
                   str(labels), check_settings(settings), chosen)


def resume_spec(out_dir: Path) -> JobSpec:
    """The job that made ``out_dir`` (a run or a curve folder), to be continued."""
    saved = out_dir / SPEC_FILE
    if saved.is_file():
        spec = JobSpec.load(saved)
    elif Run.exists(out_dir):
        record = Run.open(out_dir).record
        spec = JobSpec("train", record.task.file, record.model.dir, record.data.dir,
                       str(out_dir))
    else:
        raise MlxmedError(f"{out_dir}: not a run or curve folder that can be resumed")
    if spec.command == "train" and Run.exists(out_dir) and Run.open(out_dir).finished:
        raise MlxmedError(f"{out_dir}: this run is finished; nothing to resume")
    if spec.command == "curve" and (out_dir / "curve.json").is_file():
        raise MlxmedError(f"{out_dir}: this learning curve is complete; nothing to resume")
    spec.resume = True
    return spec
