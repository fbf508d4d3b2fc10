"""The training stage (`mlxmed train`): LoRA/QLoRA on mlx-lm's tuner with the task metric,
the best adapter kept, early stopping, resumable runs (a :class:`mlxmed.artifacts.Run`)."""

from mlxmed.training.loop import TrainResult, train
from mlxmed.training.settings import ResolvedSettings, TrainSettings, resolve_settings

__all__ = ["ResolvedSettings", "TrainResult", "TrainSettings", "resolve_settings", "train"]
