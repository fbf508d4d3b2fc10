"""Does a per-label offset fitted on the validation split help a trained classifier on test?

Scores the validation and test chats of a data folder with a trained adapter once, keeping
every label's probability (label scoring, as ``extract`` answers), then compares decision
rules on the test split:

- ``argmax``: the label the model finds most likely (what mlxmed answers today);
- ``prior``: each label's log-probability shifted so the average predicted distribution on
  validation matches the training labels' frequencies (needs no validation labels);
- ``fitted``: per-label log offsets chosen on the validation split to maximise its macro-F1
  (coordinate ascent on a grid; the smallest offsets among ties).

    python bench/calibrate.py TASK DATA --model MODEL_DIR --adapter RUN/adapters/best \
        --out calibration.json

The probabilities are written to ``--out``; a second call with the same ``--out`` reuses them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

GRID = np.arange(-4.0, 4.01, 0.25)


def label_probabilities(task, model_dir: Path, adapter: Path | None, chats) -> np.ndarray:
    """Every label's probability for each chat, in the task's label order."""
    from mlxmed.inference.mlx_predictor import evaluate_chats

    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True)

    predictions = evaluate_chats(task, model_dir, chats, adapter_dir=adapter,
                                 progress=progress)["predictions"]
    print(file=sys.stderr)
    return np.array([[p["probabilities"][name] for name in task.label_names]
                     for p in predictions])


def scores(task, gold: list[str], logp: np.ndarray) -> dict:
    """mlxmed's classification metrics of the most likely label under ``logp``."""
    return task.metrics(gold, [task.label_names[i] for i in logp.argmax(axis=1)])


def macro_f1(task, gold: list[str], logp: np.ndarray) -> float:
    return scores(task, gold, logp)["macro_f1"]


def fit_offsets(task, gold: list[str], logp: np.ndarray, rounds: int = 4) -> np.ndarray:
    """Log offsets (the first label's fixed at 0) maximising macro-F1 on ``gold``."""
    offsets = np.zeros(len(task.label_names))
    best = macro_f1(task, gold, logp)
    for _ in range(rounds):
        changed = False
        for k in range(1, len(offsets)):
            for value in sorted(GRID, key=abs):
                trial = offsets.copy()
                trial[k] = value
                score = macro_f1(task, gold, logp + trial)
                if score > best + 1e-9:
                    best, offsets, changed = score, trial, True
        if not changed:
            break
    return offsets


def prior_offsets(train_counts: Counter, labels: list[str], probabilities: np.ndarray
                  ) -> np.ndarray:
    """Offsets moving the mean predicted distribution to the training label frequencies."""
    target = np.array([train_counts[name] + 1 for name in labels], dtype=float)
    target /= target.sum()
    return np.log(target) - np.log(probabilities.mean(axis=0) + 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("data")
    parser.add_argument("--model", required=True)
    parser.add_argument("--adapter")
    parser.add_argument("--train-file", help="the training chats (default: DATA/train.jsonl)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from mlxmed.artifacts import read_chats
    from mlxmed.tasks import load_task

    task = load_task(args.task)
    labels = list(task.label_names)
    data = Path(args.data)
    out = Path(args.out)
    split_chats = {name: read_chats(data / f"{name}.jsonl") for name in ("valid", "test")}
    gold = {name: [task.parse_answer(c[-1]["content"]).value for c in chats]
            for name, chats in split_chats.items()}
    if out.exists():
        saved = json.loads(out.read_text())
        probs = {name: np.array(saved["probabilities"][name]) for name in split_chats}
    else:
        probs = {name: label_probabilities(task, Path(args.model),
                                           Path(args.adapter) if args.adapter else None, chats)
                 for name, chats in split_chats.items()}
        out.write_text(json.dumps({"labels": labels, "adapter": args.adapter,
                                   "probabilities": {k: v.tolist() for k, v in probs.items()}}))
    train_chats = read_chats(Path(args.train_file) if args.train_file else data / "train.jsonl")
    train_counts = Counter(task.parse_answer(c[-1]["content"]).value for c in train_chats)
    logp = {name: np.log(p + 1e-12) for name, p in probs.items()}
    rules = {"argmax": np.zeros(len(labels)),
             "prior": prior_offsets(train_counts, labels, probs["valid"]),
             "fitted": fit_offsets(task, gold["valid"], logp["valid"])}
    for rule, offsets in rules.items():
        test = scores(task, gold["test"], logp["test"] + offsets)
        predicted = [labels[i] for i in (logp["test"] + offsets).argmax(axis=1)]
        print(json.dumps({
            "rule": rule,
            "offsets": dict(zip(labels, np.round(offsets, 2).tolist(), strict=True)),
            "valid_macro_f1": round(macro_f1(task, gold["valid"], logp["valid"] + offsets), 3),
            "test_macro_f1": round(test["macro_f1"], 3),
            "test_per_class_f1": {k: round(v["f1"], 3) for k, v in test["per_class"].items()},
            "test_answers": dict(Counter(predicted).most_common())}))


if __name__ == "__main__":
    main()
