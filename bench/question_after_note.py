"""Copy a data folder with the task's question repeated after the note in every chat.

A bench-only layout experiment (issue 15): whether the question right before the answer helps
the model learn whole notes. The copy keeps the folder's splits, records and subsets; only the
user message of each chat gets the instruction and the answer hint again at its end, so
`mlxmed train` and `bench/recipe.py` read the new layout in training, validation and test.

    python bench/question_after_note.py TASK DATA OUT
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def main() -> None:
    from mlxmed.tasks import load_task

    task_path, source, target = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    task = load_task(task_path)
    suffix = "\n\n" + task.instruction.strip() + "\n" + task.answer_instructions()[-1]
    shutil.copytree(source, target)  # refuses an existing target
    for path in target.rglob("*.jsonl"):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line]
        if not all("messages" in row for row in rows):
            continue  # records, not chats
        for row in rows:
            for message in row["messages"]:
                if message["role"] == "user":
                    message["content"] += suffix
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


if __name__ == "__main__":
    main()
