"""Adapter checkpoints: the LoRA weights in mlx-lm's own format (so `mlx_lm.load(...,
adapter_path=...)` works too) and, for resuming, the optimizer state and the step."""

from __future__ import annotations

import json
from pathlib import Path

from mlxmed.atomic import atomic_path, write_text
from mlxmed.errors import MlxmedError
from mlxmed.training.settings import ResolvedSettings


def adapter_config(settings: ResolvedSettings) -> dict:
    """mlx-lm's adapter_config.json, so `mlx_lm.load(model, adapter_path=...)` works too."""
    return {"fine_tune_type": "lora", "num_layers": settings.layers,
            "lora_parameters": {"rank": settings.rank, "scale": settings.scale,
                                "dropout": settings.dropout}}


def _save_safetensors(path: Path, arrays: dict) -> None:
    import mlx.core as mx

    with atomic_path(path) as tmp:  # mlx writes by file name
        mx.save_safetensors(str(tmp), arrays)


def save_adapter(model, directory: Path, settings: ResolvedSettings, step: int,
                 optimizer=None) -> None:
    """Write the trainable (LoRA) weights, their config and, for resuming, the optimizer
    state; ``state.json`` (the step) is written last, so it marks a complete checkpoint."""
    from mlx.utils import tree_flatten

    directory.mkdir(parents=True, exist_ok=True)
    _save_safetensors(directory / "adapters.safetensors",
                      dict(tree_flatten(model.trainable_parameters())))
    write_text(directory / "adapter_config.json",
               json.dumps(adapter_config(settings), indent=2) + "\n")
    if optimizer is not None:
        _save_safetensors(directory / "optimizer.safetensors",
                          dict(tree_flatten(optimizer.state)))
    write_text(directory / "state.json", json.dumps({"step": step}) + "\n")


def load_checkpoint(model, optimizer, directory: Path) -> int:
    """Restore adapter weights and optimizer state saved by :func:`save_adapter`."""
    import mlx.core as mx
    from mlx.utils import tree_unflatten

    try:
        step = json.loads((directory / "state.json").read_text(encoding="utf-8"))["step"]
        model.load_weights(str(directory / "adapters.safetensors"), strict=False)
        state = mx.load(str(directory / "optimizer.safetensors"))
    except (OSError, ValueError, KeyError) as exc:
        raise MlxmedError(f"{directory}: no usable checkpoint to resume from ({exc}); start "
                          "a new run with another --out") from exc
    optimizer.state = tree_unflatten(list(state.items()))
    return int(step)
