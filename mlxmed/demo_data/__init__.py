"""Seeded generators of the two synthetic demo datasets shipped in ``examples/``.

* :mod:`mlxmed.demo_data.smoking`: English discharge summaries, smoking status (classification).
* :mod:`mlxmed.demo_data.cardio_de`: German echo / cardiac MRI reports (extraction).

Both are pure functions of ``(n, seed)``; ``python -m mlxmed.demo_data`` rewrites the examples.
"""

from __future__ import annotations

from pathlib import Path

from mlxmed.demo_data import cardio_de, smoking
from mlxmed.paths import examples_dir

__all__ = ["EXAMPLES_DIR", "cardio_de", "smoking", "write_all"]

EXAMPLES_DIR = examples_dir()


def write_all(examples_dir: Path = EXAMPLES_DIR) -> list[Path]:
    """Regenerate both example datasets (default sizes and seeds) under ``examples_dir``."""
    examples_dir = Path(examples_dir)
    return [
        smoking.write(examples_dir / "smoking"),
        cardio_de.write(examples_dir / "cardio_de"),
    ]
