"""Training settings: what the user set, filled in from the model's catalogue entry and the
task into the settings a run actually uses (stored in its record), and the learning-rate
schedule."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from mlxmed.artifacts.model_dir import ModelDir
from mlxmed.tasks import Task

# used when a model has no catalogue entry (a folder converted from elsewhere)
FALLBACK_LORA = {"rank": 8, "alpha": 160, "learning_rate": 2e-4, "layers": 16, "epochs": 3,
                 "batch_size": 4, "min_steps": 200, "dropout": 0.0}
EVALS_PER_RUN = 8  # validation-metric evaluations in a run, unless evals_per_epoch is set


@dataclass
class TrainSettings:
    """Hyper-parameters; None means the model's catalogue default."""

    epochs: float | None = None
    iters: int | None = None
    rank: int | None = None
    alpha: float | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    max_seq_length: int | None = None
    layers: int | None = None
    min_steps: int | None = None
    dropout: float | None = None  # on the LoRA input while training (mlx-lm's dropout)
    patience: int = 4
    seed: int = 0
    evals_per_epoch: int | None = None
    val_limit: int | None = None  # None: the task kind's default (Task.validation_notes)
    grad_checkpoint: bool = False
    balance: bool = True
    report_every: int = 10  # optimizer steps per progress report (and metrics.jsonl line)

    @classmethod
    def from_resolved(cls, resolved: dict[str, Any]) -> TrainSettings:
        """The settings a run was started with (from its record), to resume it alike."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in resolved.items() if k in names})


@dataclass
class ResolvedSettings:
    """Every setting of a run, nothing left to a default."""

    epochs: float
    iters: int
    rank: int
    alpha: float
    learning_rate: float
    batch_size: int
    max_seq_length: int
    layers: int
    min_steps: int
    patience: int
    seed: int
    evals_per_epoch: int | None
    val_limit: int
    grad_checkpoint: bool
    balance: bool
    steps_per_epoch: int
    steps_per_eval: int
    report_every: int = 10
    dropout: float = 0.0  # last, so records written before it existed still load

    @property
    def scale(self) -> float:
        """The factor of the LoRA update (mlx-lm's ``scale``): alpha / rank."""
        return self.alpha / self.rank

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def catalogue_defaults(model_dir: ModelDir) -> dict[str, Any]:
    """LoRA defaults recommended for the converted model's catalogue entry, if it has one."""
    defaults = dict(FALLBACK_LORA)
    entry = model_dir.catalogue_entry()
    if entry:
        defaults.update({k: v for k, v in entry.lora.items() if k in defaults})
    return defaults


def resolve_settings(settings: TrainSettings, model_dir: ModelDir, task: Task,
                     n_train: int) -> ResolvedSettings:
    """Fill unset hyper-parameters from the catalogue and the task; derive iterations.

    Without ``iters`` or ``epochs`` the run takes the catalogue's epochs, but at least its
    ``min_steps`` optimizer steps: at small N a few epochs are only a few dozen steps, too few
    to learn in. Early stopping waits until ``min_steps`` have run; the best checkpoint on
    validation guards against what the extra epochs could overfit. A budget the user sets
    (``iters`` or ``epochs``) has no minimum unless ``min_steps`` is set too, which then
    raises it."""
    defaults = catalogue_defaults(model_dir)
    values = asdict(settings)
    for key in ("rank", "alpha", "learning_rate", "layers", "batch_size", "dropout"):
        if values[key] is None:
            values[key] = defaults[key]
    values["batch_size"] = max(1, min(values["batch_size"], n_train))
    values["max_seq_length"] = values["max_seq_length"] or task.max_seq_length
    values["val_limit"] = values["val_limit"] or task.validation_notes
    steps_per_epoch = max(1, n_train // values["batch_size"])
    default_budget = values["iters"] is None and values["epochs"] is None
    if values["min_steps"] is None:  # a budget the user chose is theirs to stop early in
        values["min_steps"] = defaults["min_steps"] if default_budget else 0
    if values["iters"] is None:
        epochs = values["epochs"] if values["epochs"] is not None else defaults["epochs"]
        values["iters"] = max(1, math.ceil(epochs * steps_per_epoch))
    values["iters"] = max(values["iters"], values["min_steps"])  # never fewer steps
    values["epochs"] = values["iters"] / steps_per_epoch
    values["steps_per_epoch"] = steps_per_epoch
    if values["evals_per_epoch"]:
        values["steps_per_eval"] = max(1, steps_per_epoch // values["evals_per_epoch"])
    else:
        values["steps_per_eval"] = max(1, math.ceil(values["iters"] / EVALS_PER_RUN))
    return ResolvedSettings(**values)


def learning_rate_schedule(peak: float, iters: int):
    """Linear warm-up over the first tenth of the steps, then cosine decay to a tenth of
    ``peak``: the usual fine-tuning schedule, which keeps the first noisy updates small and
    lets the last ones settle instead of bouncing at the peak rate."""
    import mlx.optimizers as optim

    warmup = max(1, iters // 10)
    if iters <= warmup:
        return optim.linear_schedule(peak / warmup, peak, max(1, iters))
    return optim.join_schedules(
        [optim.linear_schedule(peak / warmup, peak, warmup),
         optim.cosine_decay(peak, iters - warmup, end=peak / 10)], [warmup])
