"""The study's experiment on your data: test-set score against the number of training notes.

N = 0 is the zero-shot baseline (the same prompt, no adapter); every other N trains on the
nested learning-curve subset ``subsets/train_N.jsonl`` written by `mlxmed data` and is scored
on the same test split. Each finished point is stored on its own, so an interrupted curve
resumes where it stopped.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mlxmed.atomic import atomic_file, write_text
from mlxmed.data import check_prepared_for
from mlxmed.errors import MlxmedError
from mlxmed.scoring import evaluate_chats
from mlxmed.tasks import load_task
from mlxmed.train import TrainSettings, read_chats, resolve_settings, train

Event = Callable[[dict], None]


def point_path(out_dir: Path, size: int, seed: int) -> Path:
    return out_dir / "points" / f"n{size}-seed{seed}.json"


def run_point(task_path: Path, model_dir: Path, data_dir: Path, out_dir: Path, size: int,
              seed: int, settings: TrainSettings, on_event: Event) -> dict:
    """Train (unless N = 0) and score one point of the curve on the test split."""
    task = load_task(task_path)
    test_chats = read_chats(data_dir / "test.jsonl")
    adapter = None
    point: dict = {"n": size, "seed": seed}
    if size > 0:
        subset = data_dir / "subsets" / f"train_{size}.jsonl"
        if not subset.is_file():
            raise MlxmedError(f"{subset}: no subset of {size} notes; run `mlxmed data` with "
                              f"--sizes including {size}")
        run_dir = out_dir / "runs" / f"n{size}-seed{seed}"
        if run_dir.exists():  # an interrupted earlier attempt: start this point again
            import shutil

            shutil.rmtree(run_dir)
        result = train(task_path, model_dir, data_dir, run_dir, replace(settings, seed=seed),
                       train_file=subset, on_event=on_event)
        adapter = run_dir / "adapters" / "best"
        point.update(run_dir=str(run_dir), best_step=result.best_step, status=result.status)
    on_event({"type": "testing", "n": size, "seed": seed, "notes": len(test_chats)})
    layers = resolve_settings(settings, model_dir, task, 1)["layers"]
    metrics = evaluate_chats(task, model_dir, test_chats, adapter, lambda done, total: on_event(
        {"type": "test_progress", "done": done, "total": total}), top_layers=layers)
    point.update(metric=metrics["headline_name"], value=metrics["headline"],
                 invalid=metrics["invalid"], test_notes=len(test_chats),
                 metrics={k: v for k, v in metrics.items() if k != "predictions"})
    write_text(point_path(out_dir, size, seed), json.dumps(point, indent=2) + "\n")
    return point


def summarise(points: list[dict]) -> list[dict]:
    """Mean and standard deviation of the metric per N."""
    rows = []
    for size in sorted({p["n"] for p in points}):
        values = [p["value"] for p in points if p["n"] == size]
        rows.append({"n": size, "mean": statistics.fmean(values),
                     "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                     "runs": len(values), "metric": points[0]["metric"]})
    return rows


def run_curve(task_path: str | Path, model_dir: str | Path, data_dir: str | Path,
              out_dir: str | Path, sizes: list[int], seeds: int = 1,
              settings: TrainSettings | None = None, on_event: Event | None = None) -> dict:
    """Compute (or resume) the learning curve; write curve.csv, curve.json and curve.png."""
    task_path, model_dir, data_dir, out_dir = map(Path, (task_path, model_dir, data_dir,
                                                         out_dir))
    check_prepared_for(load_task(task_path), data_dir)  # the zero-shot point trains nothing
    settings = settings or TrainSettings()
    on_event = on_event or (lambda event: None)
    points = []
    for size in sorted(set(sizes)):
        for seed in range(seeds if size > 0 else 1):
            done = point_path(out_dir, size, seed)
            if done.is_file():
                point = json.loads(done.read_text(encoding="utf-8"))
                on_event({"type": "point_reused", **point})
            else:
                on_event({"type": "point_start", "n": size, "seed": seed})
                point = run_point(task_path, model_dir, data_dir, out_dir, size, seed,
                                  settings, on_event)
                on_event({"type": "point_done", **point})
            points.append(point)
    rows = summarise(points)
    curve = {"task": str(task_path), "model": str(model_dir), "data": str(data_dir),
             "sizes": sorted(set(sizes)), "seeds": seeds, "rows": rows, "points": points}
    write_text(out_dir / "curve.json", json.dumps(curve, indent=2) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["n", "mean", "sd", "runs", "metric"])
    writer.writeheader()
    writer.writerows(rows)
    write_text(out_dir / "curve.csv", buffer.getvalue())
    plot_curve(rows, out_dir / "curve.png")
    return curve


def plot_curve(rows: list[dict], path: Path) -> None:
    """F1 against the number of training notes, with error bars; zero-shot as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trained = [r for r in rows if r["n"] > 0]
    zero = next((r for r in rows if r["n"] == 0), None)
    figure, axis = plt.subplots(figsize=(6, 4), dpi=120)
    if trained:
        axis.errorbar([r["n"] for r in trained], [r["mean"] for r in trained],
                      yerr=[r["sd"] for r in trained], marker="o", capsize=4,
                      label="fine-tuned (LoRA)")
    if zero:
        axis.axhline(zero["mean"], linestyle="--", color="grey", label="zero-shot")
    metric = rows[0]["metric"] if rows else "score"
    axis.set_xlabel("training notes (N)")
    axis.set_ylabel(f"test {metric}")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    with atomic_file(path, "wb") as handle:
        figure.savefig(handle, format="png")
    plt.close(figure)
