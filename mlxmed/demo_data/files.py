"""Writing one generated example folder: the notes, the task file and the README, each
atomically."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from mlxmed.atomic import atomic_file


def write_example(out_dir: Path, notes_name: str, records: list[dict], task_yaml: str,
                  readme: str) -> Path:
    """Write ``notes_name`` (CSV with the records' keys as columns, or JSON lines for a
    ``.jsonl`` name), ``task.yaml`` and ``README.md`` into ``out_dir``; return the notes'
    path."""
    out_dir = Path(out_dir)
    path = out_dir / notes_name
    with atomic_file(path) as handle:
        if path.suffix == ".jsonl":
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(records)
    with atomic_file(out_dir / "task.yaml") as handle:
        handle.write(task_yaml)
    with atomic_file(out_dir / "README.md") as handle:
        handle.write(readme)
    return path
