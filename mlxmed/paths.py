"""Where mlxmed keeps its files: converted models and caches live under MLXMED_HOME."""

from __future__ import annotations

import os
from pathlib import Path


def mlxmed_home() -> Path:
    """The mlxmed home directory (``$MLXMED_HOME``, default ``~/.cache/mlxmed``)."""
    env = os.environ.get("MLXMED_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mlxmed"


def models_dir() -> Path:
    """Directory holding converted MLX models, one sub-directory per model."""
    return mlxmed_home() / "models"


def hub_cache_dir() -> Path:
    """Directory for raw downloads from the Hugging Face hub (kept so downloads resume)."""
    return mlxmed_home() / "hub"
