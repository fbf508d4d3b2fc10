"""``python -m mlxmed.demo_data [EXAMPLES_DIR]``: regenerate the demo datasets."""

from __future__ import annotations

import sys
from pathlib import Path

from mlxmed.demo_data import EXAMPLES_DIR, write_all


def main(argv: list[str] | None = None) -> int:
    """Write the datasets into ``argv[0]`` (default: the repository's ``examples/``)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else EXAMPLES_DIR
    for path in write_all(target):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
