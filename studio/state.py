"""What the server keeps between requests: the workspace, open labelling and review sessions
(one per labels file, so two tabs never write the same file from two copies), training jobs,
and the models loaded for pre-filling answers and for evidence."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from mlxmed.artifacts import ModelDir
from mlxmed.errors import MlxmedError
from mlxmed.inference.notes import NotePredictors
from mlxmed.jobs import Job
from mlxmed.labelling import LabelSession
from mlxmed.paths import models_dir
from mlxmed.review import ReviewTable
from mlxmed.tasks import Task, load_task
from mlxmed.workspace import Workspace


@dataclass
class Review:
    """A review in progress: the table, the task file, and the model chosen for evidence."""

    table: ReviewTable
    task_file: Path
    model: Path | None = None


@dataclass
class Studio:
    workspace: Workspace
    predictors: NotePredictors = field(default_factory=NotePredictors)
    labelling: dict[str, LabelSession] = field(default_factory=dict)
    label_keys: dict[str, tuple] = field(default_factory=dict)
    reviews: dict[str, Review] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def job_dir(self) -> Path:
        return self.workspace.root / ".studio" / "jobs"

    # ----- things the page names -----------------------------------------------------------
    def task(self, relative: str) -> tuple[Path, Task]:
        path = self.workspace.resolve(relative)
        return path, load_task(path)

    def gguf(self, relative: str | None) -> Path | None:
        if not relative:
            return None
        path = self.workspace.resolve(relative)
        if path.suffix.lower() != ".gguf":
            raise MlxmedError(f"{relative}: not a .gguf model file")
        return path

    def model_dir(self, reference: str) -> ModelDir:
        """A converted model in the workspace, or one in $MLXMED_HOME/models."""
        home = models_dir().resolve()
        candidate = Path(reference)
        if candidate.is_absolute() and home in candidate.resolve().parents:
            return ModelDir.open(candidate)
        return ModelDir.open(self.workspace.resolve(reference))

    def session(self, sessions: dict, session_id: str):
        found = sessions.get(session_id)
        if found is None:
            raise MlxmedError("this page's session has ended (the server was restarted); "
                              "open the file again")
        return found

    # ----- one labelling session per labels file -------------------------------------------
    def open_labelling(self, task_file: Path, task: Task, notes: Path,
                       model: Path | None) -> tuple[str, LabelSession]:
        labels = self.workspace.labels_file(task, notes)
        key = (str(task_file), task.spec_hash(), str(notes))
        with self.lock:
            for session_id, session in list(self.labelling.items()):
                if session.store.path != labels:
                    continue
                if self.label_keys[session_id] == key:
                    session.predictor = self.predictors.get(task, model) if model else None
                    return session_id, session
                session.close()
                del self.labelling[session_id]
            predictor = self.predictors.get(task, model) if model else None
            session = LabelSession(task, notes, labels, predictor)
            session_id = secrets.token_hex(8)
            self.labelling[session_id], self.label_keys[session_id] = session, key
            return session_id, session

    def open_review(self, review: Review) -> str:
        with self.lock:
            for session_id, other in list(self.reviews.items()):
                if other.table.corrections.path == review.table.corrections.path:
                    del self.reviews[session_id]
            session_id = secrets.token_hex(8)
            self.reviews[session_id] = review
            return session_id
