"""Where in the prompt the frozen model gathers a note's answer: a linear probe per layout.

For each prompt layout, every note of a data folder's training subset and test split is run
through the frozen base model once; a logistic regression (balanced classes) is fitted on the
hidden state at the answer position (the last prompt token, where the label is produced) of
the training notes, at several layers, and scored on the test notes (macro-F1). A layout
whose answer position carries more of the label is one the LoRA adapter has less to learn
for. The mean of the note's token states is the reference: what the note carries at all.

    python bench/probe.py TASK DATA --model DIR --n 200 --layout before --layout sandwich

Layouts (the note text is the same in all of them):
  before    the task's instruction and labels, then the note (mlxmed's layout until 2026-12)
  sandwich  the same, then the question repeated after the note (instruction + answer hint)
  hint      the same as before, then only the answer hint after the note
  after     the note first, then the instruction and labels
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import mlxmed  # noqa: F401 - before MLX: loads the fast BLAS on Linux


def user_message(task, note: str, layout: str) -> str:
    """The user turn for ``note`` in ``layout``."""
    answer = task.answer_instructions()
    hint = answer[-1]
    before = task.user_prefix()
    if layout == "before":
        return before + note
    if layout == "sandwich":
        return before + note + "\n\n" + task.instruction.strip() + "\n" + hint
    if layout == "hint":
        return before + note + "\n\n" + hint
    if layout == "after":
        return "\n".join([task.phrase("note"), note, "", task.instruction.strip(), "",
                          *answer])
    raise SystemExit(f"unknown layout {layout}")


def features(model, chat, task, records, layout: str, layers: list[int]):
    """(answer-position states per layer, note-mean states per layer) for each record."""
    import mlx.core as mx
    from mlx_lm.models.base import create_attention_mask

    last, mean = [], []
    started = time.perf_counter()
    for count, record in enumerate(records):
        if count % 50 == 0:
            print(f"  {layout}: {count}/{len(records)} notes, "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        note = task.note_text(record["text"])
        messages = [{"role": "system", "content": task.system_prompt()},
                    {"role": "user", "content": user_message(task, note, layout)}]
        ids = chat.prompt_ids(messages)
        note_ids = chat.encode(note)
        start = find(ids, note_ids[5:25]) - 5
        hidden = model.model.embed_tokens(mx.array([ids]))
        mask = create_attention_mask(hidden, None)
        kept_last, kept_mean = [], []
        for index, layer in enumerate(model.model.layers):
            hidden = layer(hidden, mask, None)
            if index + 1 in layers:
                kept_last.append(hidden[0, -1])
                kept_mean.append(hidden[0, start: start + len(note_ids)].mean(axis=0))
        mx.eval(kept_last, kept_mean)
        last.append(np.stack([np.array(x) for x in kept_last]))
        mean.append(np.stack([np.array(x) for x in kept_mean]))
    return np.stack(last), np.stack(mean)


def find(ids: list[int], piece: list[int]) -> int:
    for start in range(len(ids) - len(piece) + 1):
        if ids[start: start + len(piece)] == piece:
            return start
    raise ValueError("note tokens not found in the prompt")


def probe_scores(train_x, train_y, test_x, test_y) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = sorted(set(train_y) | set(test_y))
    probe = make_pipeline(StandardScaler(), LogisticRegression(
        C=0.05, class_weight="balanced", max_iter=2000))
    probe.fit(train_x, train_y)
    return float(f1_score(test_y, probe.predict(test_x), labels=labels, average="macro",
                          zero_division=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task")
    parser.add_argument("data")
    parser.add_argument("--model", required=True)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--layout", action="append", required=True)
    parser.add_argument("--layers", default="6,10,14,18,22,26,30")
    parser.add_argument("--out", default=None, help="append a JSON line per layout here")
    args = parser.parse_args()

    import mlx.core as mx

    from mlxmed.accel import cpu_kernels
    from mlxmed.artifacts.model_dir import ModelDir
    from mlxmed.artifacts.prepared import PreparedData
    from mlxmed.tasks import load_task

    task = load_task(args.task)
    data = PreparedData.open(args.data)
    model_dir = ModelDir.open(args.model)
    model = model_dir.load()
    model.freeze()
    mx.set_default_device(mx.cpu)
    chat = model_dir.chat_tokenizer()
    ids = set(data.subset_ids(args.n))
    train = [r for r in data.records("train") if r["id"] in ids]
    test = data.records("test")
    layers = [int(x) for x in args.layers.split(",")]
    for layout in args.layout:
        started = time.perf_counter()
        with cpu_kernels.enabled(model):
            train_last, train_mean = features(model, chat, task, train, layout, layers)
            test_last, test_mean = features(model, chat, task, test, layout, layers)
        train_y = [str(r["gold"]) for r in train]
        test_y = [str(r["gold"]) for r in test]
        row = {"task": task.name, "layout": layout, "n": len(train), "test": len(test),
               "layers": layers, "answer_position": [], "note_mean": [],
               "seconds": 0.0}
        for i in range(len(layers)):
            row["answer_position"].append(round(probe_scores(
                train_last[:, i], train_y, test_last[:, i], test_y), 3))
            row["note_mean"].append(round(probe_scores(
                train_mean[:, i], train_y, test_mean[:, i], test_y), 3))
        row["seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps(row), flush=True)
        if args.out:
            with Path(args.out).open("a") as handle:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    sys.exit(main())
