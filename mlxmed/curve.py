"""The study's experiment on your data: test-set score against the number of training notes.

N = 0 is the zero-shot baseline (the same prompt, no adapter); every other N trains on the
nested learning-curve subset ``subsets/train_N.jsonl`` written by `mlxmed data` and is scored
on the same test split. Each finished point is stored on its own, so an interrupted curve
resumes where it stopped (an interrupted training run continues from its last checkpoint).

Under MLX's launcher every process runs the curve: they train each point together, and rank 0
decides what is left to do, scores the test split and writes the curve.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mlxmed.accel.trunk import TrunkStore
from mlxmed.artifacts import ModelDir, PreparedData, Run
from mlxmed.artifacts.ownership import JOB_FILE, folder_files, refuse_input_as_output
from mlxmed.atomic import atomic_file, write_text
from mlxmed.errors import MlxmedError
from mlxmed.evaluate.baselines import TITLES as BASELINE_TITLES
from mlxmed.evaluate.baselines import baselines
from mlxmed.inference.mlx_predictor import evaluate_chats
from mlxmed.tasks import Task, task_file
from mlxmed.training import TrainSettings, resolve_settings, train
from mlxmed.training.distributed import Processes, broadcast_json, processes

Event = Callable[[dict], None]


def point_path(out_dir: Path, size: int, seed: int) -> Path:
    return out_dir / "points" / f"n{size}-seed{seed}.json"


def run_point(task: Task, model_dir: ModelDir, data: PreparedData, out_dir: Path, size: int,
              seed: int, settings: TrainSettings, on_event: Event,
              store: TrunkStore | None = None, procs: Processes | None = None) -> dict:
    """Train (unless N = 0) and score one point of the curve on the test split. A point whose
    run was interrupted continues that run."""
    procs = procs or Processes(None, 0, 1)
    test_chats = data.chats("test")
    adapter = None
    point: dict = {"n": size, "seed": seed}
    if size > 0:
        data.subset(size)  # a clear error when the subset is missing
        run_dir = out_dir / "runs" / f"n{size}-seed{seed}"
        # rank 0's folder decides (train reads the run to resume on rank 0 only)
        existing = procs.primary and Run.exists(run_dir)
        if not broadcast_json(existing and Run.open(run_dir).finished, procs):
            train(task, model_dir, data, run_dir, replace(settings, seed=seed),
                  train_file=data.subset_path(size), on_event=on_event, resume=existing,
                  trunk_store=store)
    if not procs.primary:
        return point  # rank 0 scores the test split and writes the point
    if size > 0:
        run = Run.open(run_dir)
        adapter = run.best_adapter
        point.update(run_dir=str(run_dir), best_step=run.record.best_step,
                     status=run.record.status)
    on_event({"type": "testing", "n": size, "seed": seed, "notes": len(test_chats)})
    layers = resolve_settings(settings, model_dir, task, 1).layers
    metrics = evaluate_chats(task, model_dir.path, test_chats, adapter,
                             lambda done, total: on_event({"type": "test_progress",
                                                           "done": done, "total": total}),
                             top_layers=layers, trunk_store=store)
    point.update(metric=metrics["headline_name"], value=metrics["headline"],
                 invalid=metrics["invalid"], test_notes=len(test_chats),
                 metrics={k: v for k, v in metrics.items() if k != "predictions"})
    write_text(point_path(out_dir, size, seed), json.dumps(point, indent=2) + "\n")
    return point


CURVE_FILES = ("curve.json", "curve.csv", "curve.png", JOB_FILE)


def check_curve_folder(out_dir: Path) -> None:
    """A curve goes into a new or empty folder, or one that holds only an earlier curve (its
    points and runs), which it then resumes."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise MlxmedError(f"--out {out_dir}: exists and is not a folder; choose another --out")
    extra = [name for name in folder_files(out_dir)
             if name not in CURVE_FILES and not name.startswith(("points/", "runs/"))]
    if extra:
        raise MlxmedError(f"--out {out_dir}: holds files that are not part of a learning curve "
                          f"({', '.join(extra[:3])}); mlxmed never writes over other files: "
                          "choose another --out")


def summarise(points: list[dict]) -> list[dict]:
    """Mean and standard deviation of the metric per N."""
    rows = []
    for size in sorted({p["n"] for p in points}):
        values = [p["value"] for p in points if p["n"] == size]
        rows.append({"n": size, "mean": statistics.fmean(values),
                     "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                     "runs": len(values), "metric": points[0]["metric"]})
    return rows


def run_curve(task: Task, model_dir: ModelDir, data: PreparedData, out_dir: str | Path,
              sizes: list[int], seeds: int = 1, settings: TrainSettings | None = None,
              on_event: Event | None = None) -> dict:
    """Compute (or resume) the learning curve; write curve.csv, curve.json and curve.png.

    The runs share one store of frozen-trunk outputs (the subsets are nested and every point
    is scored on the same test split), freed when the curve is done."""
    out_dir = Path(out_dir)
    procs = processes()
    if procs.primary:
        refuse_input_as_output(out_dir, [data.path, task_file(task), model_dir.path])
        check_curve_folder(out_dir)
    data.check_for(task)  # the zero-shot point trains nothing
    settings = settings or TrainSettings()
    on_event = on_event or (lambda event: None)
    store = TrunkStore()
    try:
        points = _points(task, model_dir, data, out_dir, sizes, seeds, settings, on_event,
                         store, procs)
    finally:
        store.clear()
    if not procs.primary:
        return {}
    rows = summarise(points)
    classic = classic_baselines(task, data, sizes)
    for row in rows:
        row["baselines"] = {b["name"]: b["value"] for b in classic if b["n"] == row["n"]}
    curve = {"task": task.source, "model": str(model_dir.path), "data": str(data.path),
             "sizes": sorted(set(sizes)), "seeds": seeds, "rows": rows, "points": points,
             "baselines": classic}
    write_text(out_dir / "curve.json", json.dumps(curve, indent=2) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["n", "mean", "sd", "runs", "metric"],
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out_dir / "curve.csv", buffer.getvalue())
    plot_curve(rows, out_dir / "curve.png")
    return curve


def classic_baselines(task: Task, data: PreparedData, sizes: list[int]) -> list[dict]:
    """The classic baselines (:mod:`mlxmed.evaluate.baselines`) trained on each subset, scored
    on the test split like the curve's points."""
    found = []
    for size in sorted({s for s in sizes if s > 0}):
        for name, metrics in baselines(task, data, size).items():
            found.append({"n": size, "name": name, "value": metrics["headline"],
                          "metric": metrics["headline_name"],
                          "metrics": {k: v for k, v in metrics.items() if k != "predictions"}})
    return found


def _points(task: Task, model_dir: ModelDir, data: PreparedData, out_dir: Path,
            sizes: list[int], seeds: int, settings: TrainSettings, on_event: Event,
            store: TrunkStore, procs: Processes) -> list[dict]:
    points = []
    for size in sorted(set(sizes)):
        for seed in range(seeds if size > 0 else 1):
            done = point_path(out_dir, size, seed)
            if broadcast_json(done.is_file() if procs.primary else None, procs):
                point = json.loads(done.read_text(encoding="utf-8")) if procs.primary else {}
                on_event({"type": "point_reused", **point})
            else:
                on_event({"type": "point_start", "n": size, "seed": seed})
                point = run_point(task, model_dir, data, out_dir, size, seed, settings,
                                  on_event, store, procs)
                on_event({"type": "point_done", **point})
            points.append(point)
    return points


def plot_curve(rows: list[dict], path: Path) -> None:
    """F1 against the number of training notes, with error bars; zero-shot as a dashed line."""
    from matplotlib.figure import Figure

    trained = [r for r in rows if r["n"] > 0]
    zero = next((r for r in rows if r["n"] == 0), None)
    figure = Figure(figsize=(6, 4), dpi=120)
    axis = figure.subplots()
    if trained:
        axis.errorbar([r["n"] for r in trained], [r["mean"] for r in trained],
                      yerr=[r["sd"] for r in trained], marker="o", capsize=4,
                      label="fine-tuned (LoRA)")
    if zero:
        axis.axhline(zero["mean"], linestyle="--", color="grey", label="zero-shot")
    for name, title in BASELINE_TITLES.items():
        points = [(r["n"], r["baselines"][name]) for r in trained
                  if name in r.get("baselines", {})]
        if points:
            axis.plot(*zip(*points, strict=True), ":", marker="s", label=title)
    metric = rows[0]["metric"] if rows else "score"
    axis.set_xlabel("training notes (N)")
    axis.set_ylabel(f"test {metric}")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    with atomic_file(path, "wb") as handle:
        figure.savefig(handle, format="png")
