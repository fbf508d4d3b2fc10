"""Where mlxmed keeps its files: converted models and caches live under MLXMED_HOME; the
catalogue and the demo data ship with the package (inside the wheel: ``mlxmed/_catalogue``
and ``mlxmed/_examples``; in a checkout: the top-level ``models/`` and ``examples/``)."""

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


_PACKAGE = Path(__file__).resolve().parent


def _shipped(inside: str, checkout: str) -> Path:
    """A data folder of the installed package, or the checkout's own (editable installs)."""
    installed = _PACKAGE / inside
    return installed if installed.is_dir() else _PACKAGE.parent / checkout


def catalogue_dir() -> Path:
    """The catalogue of supported models (``$MLXMED_CATALOGUE`` overrides it)."""
    env = os.environ.get("MLXMED_CATALOGUE")
    return Path(env) if env else _shipped("_catalogue", "models")


def examples_dir() -> Path:
    """The demo datasets (task files and notes)."""
    return _shipped("_examples", "examples")
