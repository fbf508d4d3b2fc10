"""`mlxmed train`: LoRA/QLoRA fine-tuning with the task metric and early stopping."""

from __future__ import annotations

from pathlib import Path

import click
from mlxmed.cli.common import POSITIVE, VAL_LIMIT_DEFAULTS, console, esc, start_on_hosts
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from mlxmed.artifacts import PreparedData, Run
from mlxmed.errors import MlxmedError
from mlxmed.models.hub import resolve_model_dir
from mlxmed.tasks import load_task
from mlxmed.training import TrainSettings, train
from mlxmed.training.distributed import secondary


class TrainDisplay:
    """Progress bar with step, loss, tokens/s, best metric and ETA; plain lines without a TTY."""

    def __init__(self) -> None:
        self.live = console.is_terminal
        self.progress = Progress(
            TextColumn("[bold]step[/] {task.completed}/{task.total}"), BarColumn(),
            TextColumn("loss {task.fields[loss]}  {task.fields[speed]} tok/s  "
                       "best {task.fields[best]}  {task.fields[note]}"),
            TimeRemainingColumn(), console=console, disable=not self.live)
        self.task = None
        self.fields = {"loss": "-", "speed": "-", "best": "-", "note": ""}

    def __enter__(self) -> TrainDisplay:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, event: dict) -> None:
        kind = event["type"]
        if kind == "start":
            settings = event["resolved"]
            if event.get("resumed_from"):
                console.print(f"Resuming from step {event['resumed_from']}", highlight=False)
            console.print(
                f"Training on {event['train_notes']} notes: {settings['iters']} steps "
                f"({settings['epochs']:.3g} epochs), LoRA rank {settings['rank']} on "
                f"{settings['layers']} layers, lr {settings['learning_rate']:g}, batch "
                f"{settings['batch_size']}", highlight=False)
            self.task = self.progress.add_task("train", total=settings["iters"],
                                               completed=event.get("resumed_from", 0),
                                               **self.fields)
        elif kind == "step":
            self._update(completed=event["step"], note="")
        elif kind == "train":
            speed = event["tokens_per_second"]
            self.fields.update(loss=f"{event['loss']:.3f}",
                               speed=f"{speed:.0f}" if speed else "-")
            self._update()
            self._line(f"step {event['step']}: train loss {event['loss']:.3f}, "
                       f"{self.fields['speed']} tok/s")
        elif kind == "validating":
            self._update(note="validating...")
        elif kind == "metric_progress":
            self._update(note=f"scoring validation {event['done']}/{event['total']}")
        elif kind == "eval":
            if event["best"] is not None:
                self.fields["best"] = f"{event['best']:.3f}"
            label = "zero-shot" if event.get("zero_shot") else f"step {event['step']}"
            message = (f"{label}: val loss {event['val_loss']:.3f}, {event['metric']} "
                       f"{event['value']:.3f}")
            console.print(message, highlight=False) if self.live else self._line(message)
            self._update(note="")

    def _update(self, **fields) -> None:
        self.fields.update({k: v for k, v in fields.items() if k in self.fields})
        if self.task is not None:
            self.progress.update(self.task, completed=fields.get("completed"), **{
                k: v for k, v in self.fields.items()})

    def _line(self, text: str) -> None:
        if not self.live:
            console.print(text, highlight=False)


@click.command("train")
@click.argument("task", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--model", "model", required=True,
              help="Converted model (name or folder, see `mlxmed models`).")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False,
              exists=True, path_type=Path), help="Folder written by `mlxmed data`.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Run folder (default: runs/<task>-<model>).")
@click.option("--train-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Train on this chat file instead (e.g. subsets/train_100.jsonl).")
@click.option("--epochs", type=POSITIVE, help="Passes over the training notes (default: the "
              "model's catalogue setting, usually 3).")
@click.option("--iters", type=click.IntRange(min=1), help="Training steps (instead of --epochs).")
@click.option("--rank", type=click.IntRange(min=1), help="LoRA rank.")
@click.option("--alpha", type=POSITIVE, help="LoRA alpha (the update is scaled by alpha/rank).")
@click.option("--lr", "learning_rate", type=POSITIVE, help="Learning rate.")
@click.option("--dropout", type=click.FloatRange(min=0.0, max=0.9),
              help="Dropout on the LoRA adapters' input while training (default: the model's "
              "catalogue setting, usually 0).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Notes per step.")
@click.option("--max-seq-length", type=click.IntRange(min=32),
              help="Token limit per note (default: the task's).")
@click.option("--layers", type=click.IntRange(min=1),
              help="How many of the last layers get LoRA adapters.")
@click.option("--min-steps", type=click.IntRange(min=1),
              help="Train at least this many steps and never stop early before (default: the "
              "model's catalogue setting, or none with --epochs/--iters).")
@click.option("--patience", type=click.IntRange(min=1), default=4, show_default=True,
              help="Stop after this many evaluations without a better metric.")
@click.option("--evals-per-epoch", type=click.IntRange(min=1),
              help="How often to compute the validation metric (default: 8 times a run).")
@click.option("--val-limit", type=click.IntRange(min=1),
              help="Validation notes scored for the metric at each evaluation "
              f"({VAL_LIMIT_DEFAULTS}).")
@click.option("--report-every", type=click.IntRange(min=1), default=10, show_default=True,
              help="Optimizer steps per progress report (loss, tokens/s; one line of "
              "RUN/metrics.jsonl each).")
@click.option("--grad-checkpoint", is_flag=True, help="Trade speed for memory.")
@click.option("--balance/--no-balance", default=True, show_default=True,
              help="Classification: draw training notes so each label's share follows the "
              "square root of its count (rare labels are seen much more often).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run in --out from its last checkpoint.")
@click.option("--hosts", "hostfile", type=click.Path(dir_okay=False, exists=True,
              path_type=Path), help="Train on several machines (or processes) at once: an MLX "
              "hostfile (JSON) for `mlx.launch`; see the README, 'More than one machine'.")
def train_command(task: Path, model: str, data_dir: Path, out: Path | None,
                  train_file: Path | None, resume: bool, hostfile: Path | None,
                  **options) -> None:
    """Fine-tune a converted model on the notes prepared by `mlxmed data`.

    LoRA on a float model, QLoRA on a 4-bit one (`mlxmed convert MODEL -q 4`). The prompt is
    masked from the loss. At each evaluation the validation notes are answered the way
    `extract` answers them and scored (macro-F1 for classification, field-level F1 for
    extraction); the adapter with the best score is kept in RUN/adapters/best.

    Example: mlxmed train examples/smoking/task.yaml --model smollm2-135m-bundled --data d/
    """
    model_dir = resolve_model_dir(model)
    run_dir = out or Path("runs") / f"{task.stem}-{model_dir.name}"
    if hostfile is not None:
        if not resume:
            Run.check_new(run_dir)  # the same refusal as each process's, before starting them
        elif Run.exists(run_dir) and Run.open(run_dir).finished:
            raise MlxmedError(f"{run_dir}: this run already finished; nothing to resume")
        start_on_hosts(hostfile, "training process")
        check_finished(run_dir)
        return
    settings = TrainSettings(**{k: v for k, v in options.items() if v is not None})
    if secondary():  # another process of a distributed run: rank 0 reports
        train(load_task(task), model_dir, PreparedData.open(data_dir), run_dir, settings,
              train_file=train_file, resume=resume)
        return
    with TrainDisplay() as display:
        try:
            result = train(load_task(task), model_dir, PreparedData.open(data_dir), run_dir,
                           settings, train_file=train_file,
                           on_event=display, resume=resume)
        except KeyboardInterrupt:
            display.progress.stop()
            console.print(f"[yellow]interrupted[/]: the last checkpoint is in {esc(run_dir)}; "
                          "continue with the same command plus --resume", highlight=False)
            raise SystemExit(130) from None
    zero = f"{result.zero_shot_metric:.3f}" if result.zero_shot_metric is not None else "-"
    best = f"{result.best_metric:.3f}" if result.best_metric is not None else "-"
    console.print(f"[green]{result.status}[/]: best validation metric {best} at step "
                  f"{result.best_step} (zero-shot {zero}); run saved in {esc(result.run_dir)}",
                  highlight=False)


def check_finished(run_dir: Path) -> None:
    """After a distributed run (MLX's launcher exits 0 whatever happened): fail unless rank 0's
    run here finished."""
    if not Run.exists(run_dir):
        raise MlxmedError(f"the distributed run wrote no run in {run_dir} (see the messages "
                          "above; rank 0 writes the run on the hostfile's first host)")
    status = Run.open(run_dir).record.status
    if status not in ("finished", "early_stopped"):
        raise MlxmedError(f"the distributed run in {run_dir} stopped ({status}); see the "
                          "messages above, then run the same command with --resume")
