"""Seeded generators of the three synthetic demo datasets shipped in ``examples/``.

* :mod:`mlxmed.demo_data.smoking`: English discharge summaries, smoking status (classification).
* :mod:`mlxmed.demo_data.cardio_de`: German echo / cardiac MRI reports (extraction).
* :mod:`mlxmed.demo_data.pneumonia`: English chest imaging reports, pneumonia assertion status
  (classification).

All are pure functions of ``(n, seed)``; ``python -m mlxmed.demo_data`` rewrites the examples.
"""

from __future__ import annotations

from pathlib import Path

from mlxmed.demo_data import cardio_de, pneumonia, smoking
from mlxmed.paths import examples_dir

__all__ = ["EXAMPLES_DIR", "cardio_de", "pneumonia", "smoking", "write_all"]

EXAMPLES_DIR = examples_dir()


def write_all(examples_dir: Path = EXAMPLES_DIR) -> list[Path]:
    """Regenerate the example datasets (default sizes and seeds) under ``examples_dir``."""
    examples_dir = Path(examples_dir)
    return [
        smoking.write(examples_dir / "smoking"),
        cardio_de.write(examples_dir / "cardio_de"),
        pneumonia.write(examples_dir / "pneumonia"),
    ]
