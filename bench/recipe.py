"""Training-recipe experiments: which settings make the model learn, measured on the test split.

Each contender trains in its own fresh process on the same chat file of a data folder written
by `mlxmed data` (a learning-curve subset), for a stated number of optimizer steps, and its
adapter is then scored on the folder's test split the way `extract` answers (label scoring):
macro-F1, accuracy and per-class F1. Baselines come from the same split: the majority label,
TF-IDF + logistic regression, and the zero-shot model.

    python bench/recipe.py TASK DATA --n 200 --out bench/recipe/smoking \\
        --run mlx_lm:iters=100 --run mlxmed:iters=100 --run mlxmed:iters=100,alpha=320

A run is ``KIND:key=value,...``. ``mlx_lm`` is plain `mlx_lm.lora` with mlx-lm's own LoRA
parameters (rank 8, scale 20, dropout 0) and ``--mask-prompt``; its keys are ``iters``,
``lr`` (default 2e-4), ``layers`` (16), ``rank``, ``scale``, ``batch`` (4). ``mlxmed`` is
`mlxmed train`; its keys are the command's options (``iters``, ``epochs``, ``lr``, ``rank``,
``alpha``, ``layers``, ``batch-size``, ``no-balance=flag``, ...), plus ``env.NAME=VALUE``
for environment switches and ``score=best|last|both`` (which adapters are scored; with
``last`` only, the table shows the final weights, as for ``mlx_lm``). Results are appended
to ``OUT/results.jsonl`` (a run already there is not repeated) and tabulated in
``OUT/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
MLX_LM_DEFAULTS = {"iters": 100, "lr": 2e-4, "layers": 16, "rank": 8, "scale": 20.0,
                   "batch": 4}


def parse_run(text: str) -> tuple[str, str, dict[str, str]]:
    """``KIND:k=v,...`` -> (name, kind, options)."""
    kind, _, rest = text.partition(":")
    options = dict(item.split("=", 1) for item in rest.split(",") if item)
    return text, kind, options


def run_logged(command: list[str], log: Path, env: dict[str, str] | None = None) -> float:
    """Run a command in a fresh process with its output in ``log``; wall seconds."""
    started = time.perf_counter()
    with log.open("w") as handle:
        result = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed; see {log}")
    return time.perf_counter() - started


def train_mlx_lm(model: Path, data: Path, train_file: Path, work: Path,
                 options: dict[str, str]) -> tuple[Path, float]:
    settings = {**MLX_LM_DEFAULTS, **{k: type(MLX_LM_DEFAULTS[k])(v)
                                      for k, v in options.items()}}
    folder = work / "data"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text(train_file.read_text())
    (folder / "valid.jsonl").write_text(
        "".join((data / "valid.jsonl").read_text().splitlines(keepends=True)[:8]))
    config = work / "config.yaml"
    config.write_text(json.dumps({"lora_parameters": {
        "rank": settings["rank"], "scale": settings["scale"], "dropout": 0.0}}))
    adapter = work / "adapter"
    iters = settings["iters"]
    args = ["--model", str(model), "--train", "--data", str(folder), "--iters", str(iters),
            "--batch-size", str(settings["batch"]), "--num-layers", str(settings["layers"]),
            "--learning-rate", str(settings["lr"]), "--mask-prompt", "--val-batches", "1",
            "--steps-per-eval", str(iters + 1), "--steps-per-report", "10",
            "--save-every", str(iters + 1), "--max-seq-length", "2048",
            "--adapter-path", str(adapter), "-c", str(config)]
    wall = run_logged([sys.executable, str(HERE / "mlx_lm_lora.py"), *args], work / "log.txt")
    return adapter, wall


def train_mlxmed(task: Path, model: Path, data: Path, train_file: Path, work: Path,
                 options: dict[str, str]) -> tuple[Path, float]:
    args, env = [], {}
    for key, value in options.items():
        if key == "score":
            continue
        if key.startswith("env."):
            env[key[4:]] = value
        elif value == "flag":
            args.append(f"--{key}")
        else:
            args += [f"--{key}", value]
    command = [sys.executable, "-m", "mlxmed", "train", str(task), "--model", str(model),
               "--data", str(data), "--train-file", str(train_file), "--out",
               str(work / "run"), *args]
    wall = run_logged(command, work / "log.txt", env)
    return work / "run", wall


def score(task: Path, model: Path, data: Path, adapter: Path | None) -> dict:
    """Test-split metrics of the model (+ adapter), in a fresh process."""
    command = [sys.executable, __file__, "_score", str(task), str(model), str(data),
               str(adapter or "")]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _score_main(task_path: str, model: str, data: str, adapter: str) -> None:
    from mlxmed.artifacts import read_chats
    from mlxmed.inference.mlx_predictor import evaluate_chats
    from mlxmed.tasks import load_task

    task = load_task(task_path)
    test = read_chats(Path(data) / "test.jsonl")
    metrics = evaluate_chats(task, model, test, adapter_dir=adapter or None)
    answers = Counter(p["text"] for p in metrics["predictions"])
    print(json.dumps(summary(metrics, answers)))


def summary(metrics: dict, answers: Counter | None = None) -> dict:
    """The headline (macro-F1 or field-F1), accuracy or exact match, and F1 per class/field."""
    parts = metrics.get("per_class") or metrics["per_field"]
    out = {"metric": metrics["headline_name"], "headline": metrics["headline"],
           "accuracy": metrics.get("accuracy", metrics.get("exact_match")),
           "per_class_f1": {k: round(v["f1"], 3) for k, v in parts.items()}}
    if answers:
        out["answers"] = dict(answers.most_common(8))
    return out


def baselines(task_path: Path, data: Path, n: int) -> dict:
    """Majority label and TF-IDF + logistic regression (or, for extraction, all-null and most
    frequent values), trained on the same notes: mlxmed's own baselines, as `curve` shows."""
    from mlxmed.artifacts import PreparedData
    from mlxmed.evaluate.baselines import baselines as classic
    from mlxmed.tasks import load_task

    return {name: summary(metrics) for name, metrics in
            classic(load_task(task_path), PreparedData.open(data), n).items()}


def history(run_dir: Path) -> dict:
    record = json.loads((run_dir / "run.json").read_text())
    evals = [(e["step"], round(e["value"], 3)) for e in record["history"]
             if e["type"] == "eval"]
    losses = [round(e["loss"], 3) for e in record["history"] if e["type"] == "train"]
    return {"val_metric": evals, "train_loss": losses, "best_step": record["best_step"],
            "iters": record["hyperparameters"]["iters"], "status": record["status"],
            "train_seconds": record["train_seconds"]}


def write_table(out: Path, rows: list[dict]) -> None:
    labels = next((list(r["test"]["per_class_f1"]) for r in rows if "test" in r), [])
    metric = next((r["test"].get("metric", "macro_f1") for r in rows if "test" in r), "")
    head = ["run", "steps", f"test {metric}", "accuracy / exact", *labels, "minutes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        test = row["test"]
        lines.append("| " + " | ".join([
            f"`{row['name']}`", str(row.get("steps", "")),
            f"{test.get('headline', test.get('macro_f1')):.3f}",
            f"{test['accuracy']:.3f}", *(f"{test['per_class_f1'][label]:.2f}"
                                         for label in labels),
            f"{row['wall_seconds'] / 60:.1f}" if row.get("wall_seconds") else ""]) + " |")
    (out / "RESULTS.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    if sys.argv[1:2] == ["_score"]:
        _score_main(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--model", default=None, help="converted model dir (default: bundled)")
    parser.add_argument("--n", type=int, required=True, help="learning-curve subset size")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--run", action="append", default=[])
    args = parser.parse_args()
    import mlxmed  # noqa: F401  (OpenBLAS before mlx, offline)
    from mlxmed.models.hub import resolve_model_dir

    model = resolve_model_dir(args.model or "smollm2-135m-bundled").path
    train_file = args.data / "subsets" / f"train_{args.n}.jsonl"
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.jsonl"
    rows = [json.loads(line) for line in results_path.read_text().splitlines()] \
        if results_path.exists() else []
    done = {row["name"] for row in rows}
    todo = [("baselines", "baselines", {}), ("zero-shot", "zero", {})]
    todo += [parse_run(text) for text in args.run]
    for name, kind, options in todo:
        if name in done:
            continue
        print(f"== {name}", flush=True)
        work = args.out / "work" / name.replace(":", "_").replace(",", "_").replace("=", "-")
        work.mkdir(parents=True, exist_ok=True)
        if kind == "baselines":
            for key, value in baselines(args.task, args.data, args.n).items():
                new = {"name": key, "n": args.n, "test": value}
                rows.append(new)
                with results_path.open("a") as handle:
                    handle.write(json.dumps(new) + "\n")
            rows.append({"name": name, "n": args.n, "test": None})
            with results_path.open("a") as handle:
                handle.write(json.dumps(rows[-1]) + "\n")
            continue
        row: dict = {"name": name, "n": args.n}
        if kind == "zero":
            row["test"] = score(args.task, model, args.data, None)
        elif kind == "mlx_lm":
            adapter, row["wall_seconds"] = train_mlx_lm(model, args.data, train_file, work,
                                                        options)
            row["steps"] = int(options.get("iters", MLX_LM_DEFAULTS["iters"]))
            row["test"] = score(args.task, model, args.data, adapter)
        elif kind == "mlxmed":
            run_dir, row["wall_seconds"] = train_mlxmed(args.task, model, args.data,
                                                        train_file, work, options)
            row.update(history(run_dir))
            row["steps"] = row["iters"]
            which = options.get("score", "both")
            if which in ("best", "both"):
                row["test"] = score(args.task, model, args.data, run_dir / "adapters" / "best")
            if which in ("last", "both"):
                row["test_last"] = score(args.task, model, args.data,
                                         run_dir / "adapters" / "last")
            row.setdefault("test", row.get("test_last"))
        else:
            raise SystemExit(f"unknown run kind {kind!r}")
        print(json.dumps(row), flush=True)
        rows.append(row)
        with results_path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
    write_table(args.out, [r for r in rows if r.get("test")])


if __name__ == "__main__":
    main()
