"""`mlxmed extract`: run a GGUF model over many notes, offline, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from mlxmed.cli.common import console, esc
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mlxmed.extract import run_extract
from mlxmed.tasks import load_task

if TYPE_CHECKING:
    from mlxmed.extract.ray_engine import RayEngine

LOCAL_RAY = "local"  # `--ray` without an address: a private Ray on this computer


def ray_address(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--ray``'s value: ``local``, ``auto`` or a cluster address (HOST:PORT, ray://HOST:PORT).
    Anything else is most likely TASK taken as the address (``--ray`` given before it)."""
    if value is None or value in (LOCAL_RAY, "auto") or ":" in value:
        return value
    raise click.BadParameter(f"'{value}' is not a Ray address (auto, HOST:PORT or "
                             "ray://HOST:PORT); for a Ray on this computer put --ray after "
                             "TASK and INPUT, or write --ray=local", ctx, param)


@click.command("extract")
@click.argument("task", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path))
@click.option("--model", "model", required=True, type=click.Path(dir_okay=False, exists=True,
              path_type=Path), help="GGUF model file (from `mlxmed export`).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output file: .csv, .jsonl or .xlsx (an Excel workbook, built when the "
                   "run ends).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run: skip notes "
              "already in --out.")
@click.option("--threads", type=click.IntRange(1, 256),
              help="CPU threads (default: physical cores; with --ray: per worker, default 1).")
@click.option("--ray", "ray", is_flag=False, flag_value=LOCAL_RAY, default=None,
              metavar="[ADDRESS]", callback=ray_address,
              help="Answer the notes on Ray workers (pip install 'mlxmed[cluster]'): alone, a "
                   "private Ray on this computer; with ADDRESS (auto, HOST:6379, "
                   "ray://HOST:10001) an existing cluster, which then reads the note text.")
@click.option("--workers", type=click.IntRange(1, 100_000),
              help="With --ray: model copies answering at once (default: CPUs / --threads).")
@click.option("--ctx", "n_ctx", type=click.IntRange(64, 1 << 20),
              help="Context size in tokens (default: the task's max_seq_length + 256).")
@click.option("--adapter", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A LoRA adapter GGUF (`mlxmed export --adapter-only`) for a base model.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N notes.")
@click.option("--include-text", is_flag=True, help="Copy each note's text into the output "
              "(off by default, so shared results carry no note text).")
@click.option("--encoding", default=None, help="Encoding of the input if it is not UTF-8.")
@click.option("--sheet", default=None,
              help="The sheet of an Excel (.xlsx) input (default: the first sheet).")
@click.option("--ocr", is_flag=True, help="Read scanned PDFs (no text layer) with tesseract "
              "OCR. Slow; the notes it read are listed.")
def extract_command(task: Path, input_path: Path, model: Path, out: Path, resume: bool,
                    threads: int | None, n_ctx: int | None, adapter: Path | None,
                    limit: int | None, include_text: bool, encoding: str | None,
                    sheet: str | None, ocr: bool, ray: str | None,
                    workers: int | None) -> None:
    """Answer TASK for every note in INPUT with a GGUF model and write one row per note.

    INPUT is a CSV/TSV/JSONL file, an Excel sheet (.xlsx), or a folder of notes (.txt, .pdf,
    .docx, .rtf, .html; id = file name). Each row has the id, the label (or the extracted
    fields), a confidence (for classification: the probability of the chosen label among all
    labels), a status (ok/error), the reason of an error, and the time in ms. Rows are written
    as they are done (for .xlsx into OUT.rows.jsonl, turned into the workbook at the end);
    after an interruption, run the same command with --resume.

    With --ray, workers of a Ray cluster answer the notes, each with its own copy of the
    model (the model file must be at the same path on every node); the rows are the same and
    are written here as they come, in the order they are done.

    Example: mlxmed extract task.yaml notes.csv --model run/model-q8_0.gguf --out out.csv
    """
    engine = ray_engine(ray, workers)
    progress = Progress(TextColumn("[bold]extracting[/]"), BarColumn(),
                        TextColumn("{task.completed}/{task.total} notes"),
                        TextColumn("{task.fields[rate]} notes/s  errors {task.fields[errors]}"),
                        TimeRemainingColumn(), console=console)
    state: dict = {}

    def on_event(event: dict) -> None:
        if event["type"] == "start":
            if event["done_before"]:
                console.print(f"Resuming: {event['done_before']} of {event['total']} notes "
                              "are already done", highlight=False)
            state["task"] = progress.add_task("extract", total=event["todo"], rate="-",
                                              errors=0)
        elif event["type"] == "row":
            elapsed = progress.tasks[0].elapsed or 0
            rate = f"{event['done'] / elapsed:.2f}" if elapsed else "-"
            progress.update(state["task"], completed=event["done"], rate=rate,
                            errors=event["errors"])

    with progress:
        summary = run_extract(load_task(task), model, input_path, out, resume, threads, n_ctx,
                              adapter, limit, include_text, encoding, sheet=sheet, ocr=ocr,
                              on_event=on_event, engine=engine)
    table = Table(title="Extraction summary", show_header=False)
    table.add_row("notes in input", str(summary.total))
    table.add_row("written now", str(summary.written))
    table.add_row("already done before", str(summary.done_before))
    table.add_row("errors (status=error)", str(summary.errors))
    table.add_row("long notes shortened", str(summary.shortened))
    if summary.formats:
        table.add_row("notes per file format", ", ".join(
            f"{name} {count}" for name, count in sorted(summary.formats.items())))
    if summary.low_confidence is not None:
        table.add_row("confidence < 0.6 (filled)", str(summary.low_confidence))
    if summary.written:
        table.add_row("notes per second", f"{summary.written / summary.seconds:.2f}")
    for label, count in sorted(summary.labels.items()):
        table.add_row(f"label {esc(label)}", str(count))
    console.print(table)
    for item in summary.left_out:
        console.print(f"[yellow]left out:[/] {esc(item.file)}: {esc(item.reason)}",
                      highlight=False)
    if summary.ocr:
        console.print(f"[yellow]read by OCR (check them, OCR makes mistakes):[/] "
                      f"{esc(', '.join(summary.ocr))}", highlight=False)
    console.print(f"Results: {esc(summary.out)}", highlight=False)


def ray_engine(address: str | None, workers: int | None) -> RayEngine | None:
    """The Ray engine `--ray` asks for (Ray imported only then), or None: this process."""
    if address is None:
        if workers is not None:
            raise click.UsageError("--workers needs --ray (without it the notes are answered "
                                   "in this process; use --threads)")
        return None
    from mlxmed.extract.ray_engine import RayEngine, import_ray

    import_ray()  # missing Ray: say how to install it before reading any note
    return RayEngine(None if address == LOCAL_RAY else address, workers)
