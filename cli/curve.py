"""`mlxmed curve`: the study's learning curve (test score against training notes)."""

from __future__ import annotations

from pathlib import Path

import click
from mlxmed.cli.common import POSITIVE, VAL_LIMIT_DEFAULTS, console, esc, start_on_hosts
from mlxmed.cli.train import TrainDisplay
from rich.table import Table

from mlxmed.artifacts import PreparedData
from mlxmed.curve import run_curve
from mlxmed.data import parse_sizes
from mlxmed.errors import MlxmedError
from mlxmed.evaluate.baselines import TITLES as BASELINE_TITLES
from mlxmed.models.hub import resolve_model_dir
from mlxmed.tasks import load_task
from mlxmed.training import TrainSettings
from mlxmed.training.distributed import secondary


class CurveDisplay(TrainDisplay):
    """The training display, plus a line per finished point and test-scoring progress."""

    def __call__(self, event: dict) -> None:
        kind = event["type"]
        if kind == "point_start":
            console.rule(f"N = {event['n']}" + (f", seed {event['seed']}" if event["n"] else
                                                 " (zero-shot)"))
        elif kind == "point_reused":
            console.print(f"N = {event['n']}, seed {event['seed']}: already done "
                          f"({event['metric']} {event['value']:.3f})", highlight=False)
        elif kind == "testing":
            console.print(f"scoring the {event['notes']} test notes...", highlight=False)
        elif kind == "point_done":
            console.print(f"[bold]N = {event['n']}: test {event['metric']} "
                          f"{event['value']:.3f}[/]", highlight=False)
        elif kind not in ("test_progress",):
            super().__call__(event)


@click.command("curve")
@click.argument("task", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--model", "model", required=True, help="Converted model (name or folder).")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False,
              exists=True, path_type=Path), help="Folder written by `mlxmed data`.")
@click.option("--sizes", default="0,25,50,100,200,300", show_default=True,
              help="Training-set sizes; 0 is the zero-shot baseline.")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Training runs per size (mean ± sd).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for curve.csv, curve.json, curve.png and the runs.")
@click.option("--epochs", type=POSITIVE, help="Epochs per run (default: the catalogue's).")
@click.option("--min-steps", type=click.IntRange(min=1),
              help="Steps each run takes at least (default: the catalogue's, unless --epochs).")
@click.option("--lr", "learning_rate", type=POSITIVE, help="Learning rate.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Notes per step.")
@click.option("--layers", type=click.IntRange(min=1),
              help="How many of the last layers get LoRA adapters.")
@click.option("--balance/--no-balance", default=True, show_default=True,
              help="Classification: draw training notes so each label's share follows the "
              "square root of its count (rare labels are seen much more often).")
@click.option("--val-limit", type=click.IntRange(min=1),
              help="Validation notes scored at each evaluation "
              f"({VAL_LIMIT_DEFAULTS}).")
@click.option("--hosts", "hostfile", type=click.Path(dir_okay=False, exists=True,
              path_type=Path), help="Train each point on several machines (or processes): an "
              "MLX hostfile (JSON); see the README, 'More than one machine'.")
def curve(task: Path, model: str, data_dir: Path, sizes: str, seeds: int, out: Path,
          hostfile: Path | None, **options) -> None:
    """Reproduce the study's learning curve on your data: train on N = 25, 50, 100, ... notes
    (nested subsets from `mlxmed data`) and score each model on the same test split, next to
    the zero-shot baseline (N = 0). A finished point is never recomputed: run it again to
    resume.

    Example: mlxmed curve task.yaml --model smollm2-135m-bundled --data d/ --sizes 0,50,200
    --out curve/
    """
    model_dir = resolve_model_dir(model)
    settings = TrainSettings(**{k: v for k, v in options.items() if v is not None})
    if hostfile is not None:
        written = out / "curve.json"
        before = written.stat().st_mtime_ns if written.is_file() else None
        start_on_hosts(hostfile, "process")
        if not written.is_file() or written.stat().st_mtime_ns == before:
            raise MlxmedError(f"the distributed curve did not finish (no {out / 'curve.json'}; "
                              "see the messages above); run the same command again to resume")
        return
    if secondary():  # another process of a distributed curve: rank 0 reports and writes
        run_curve(load_task(task), model_dir, PreparedData.open(data_dir), out,
                  parse_sizes(sizes, allow_zero=True), seeds, settings)
        return
    with CurveDisplay() as display:
        result = run_curve(load_task(task), model_dir, PreparedData.open(data_dir), out,
                           parse_sizes(sizes, allow_zero=True), seeds, settings, display)
    table = Table(title=f"Learning curve ({result['rows'][0]['metric']} on the test split)")
    names = list(dict.fromkeys(b["name"] for b in result["baselines"]))
    for column in ("N", "mean", "sd", "runs", *(BASELINE_TITLES.get(n, n) for n in names)):
        table.add_column(column, justify="right")
    for row in result["rows"]:
        table.add_row("0 (zero-shot)" if row["n"] == 0 else str(row["n"]), f"{row['mean']:.3f}",
                      f"{row['sd']:.3f}", str(row["runs"]),
                      *(f"{row['baselines'][n]:.3f}" if n in row["baselines"] else ""
                        for n in names))
    console.print(table)
    if names:
        console.print("Baselines trained on the same notes, scored on the same test split: "
                      "a fine-tuned model is worth it where it beats them.", highlight=False)
    console.print(f"Wrote {esc(out / 'curve.csv')}, {esc(out / 'curve.json')} and "
                  f"{esc(out / 'curve.png')}",
                  highlight=False)
