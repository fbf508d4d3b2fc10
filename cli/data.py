"""`mlxmed data`: check labelled notes and split them into training files."""

from __future__ import annotations

from pathlib import Path

import click
from mlxmed.cli.common import console, esc
from rich.table import Table

from mlxmed.artifacts import ModelDir
from mlxmed.artifacts.prepared import SPLITS
from mlxmed.data import DEFAULT_SIZES, Prepared, parse_sizes, run_data
from mlxmed.demo import BUNDLED_MODEL
from mlxmed.models.hub import resolve_model_dir
from mlxmed.paths import models_dir
from mlxmed.tasks import load_task


@click.command("data")
@click.argument("task", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the training files to (must be empty unless --force).")
@click.option("--valid", default=0.15, show_default=True, help="Fraction of notes for validation.")
@click.option("--test", default=0.15, show_default=True, help="Fraction of notes for the test.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed for the splits and subsets.")
@click.option("--sizes", default=",".join(map(str, DEFAULT_SIZES)), show_default=True,
              help="Learning-curve subset sizes (comma-separated) drawn from the train split.")
@click.option("--model", "model", default=None,
              help="Converted model (folder or name) whose tokenizer and chat template count "
                   "the tokens (default: the bundled model, if converted).")
@click.option("--max-seq-length", type=click.IntRange(min=32), default=None,
              help="Token limit per note (default: max_seq_length of the task file).")
@click.option("--labels-csv", type=click.Path(dir_okay=False, path_type=Path),
              help="Labels for a folder of .txt notes (default: labels.csv in or next to it).")
@click.option("--encoding", default=None,
              help="Encoding of the input if it is not UTF-8, e.g. cp1252 or latin-1.")
@click.option("--sheet", default=None,
              help="The sheet of an Excel (.xlsx) input (default: the first sheet).")
@click.option("--ocr", is_flag=True,
              help="Read scanned PDFs (no text layer) with tesseract OCR. Slow; the notes it "
                   "read are listed.")
@click.option("--force", is_flag=True, help="Replace a non-empty --out folder.")
def data(task: Path, input_path: Path, out: Path, valid: float, test: float, seed: int,
         sizes: str, model: str | None, max_seq_length: int | None,
         labels_csv: Path | None, encoding: str | None, sheet: str | None, ocr: bool,
         force: bool) -> None:
    """Check TASK's labelled notes in INPUT and split them for training.

    INPUT is a CSV/TSV file (comma, semicolon or tab), a JSONL file, an Excel sheet (.xlsx),
    or a folder of notes (.txt, .pdf, .docx, .rtf, .html; id = file name) with a labels CSV.
    Every problem is listed with its row; nothing is written until all notes are valid.
    """
    model_dir = resolve_model_dir(model) if model else default_token_model()
    prepared = run_data(load_task(task), input_path, out, valid=valid, test=test, seed=seed,
                        sizes=parse_sizes(sizes), model_dir=model_dir,
                        max_seq_length=max_seq_length, labels_csv=labels_csv,
                        encoding=encoding, sheet=sheet, ocr=ocr, force=force)
    show_summary(prepared, out)


def default_token_model() -> ModelDir | None:
    """The bundled model's tokenizer, when it has been converted (else lengths are estimated)."""
    bundled = models_dir() / BUNDLED_MODEL
    return ModelDir(bundled) if ModelDir.is_converted(bundled) else None


def input_line(source: dict) -> str:
    """``Notes read: 12 (pdf 5, docx 4, txt 3) from notes/`` (formats of a folder, the sheet
    of a workbook)."""
    formats = source.get("formats") or {}
    parts = ", ".join(f"{name} {count}" for name, count in sorted(formats.items(),
                                                                  key=lambda kv: (-kv[1], kv[0])))
    sheet = f" sheet '{source['sheet']}'" if source.get("sheet") else ""
    return (f"Notes read: {source['notes']}" + (f" ({parts})" if parts else "")
            + f" from {source['path']}{sheet}")


def show_summary(prepared: Prepared, out: Path) -> None:
    """Print the counts, token lengths and long-note handling as rich tables."""
    summary = prepared.summary
    console.print(input_line(summary["input"]), highlight=False)
    counts = summary["counts"]
    heading = prepared.task.stratum_heading
    table = Table(title=f"Notes per split ({summary['stratified_by']})")
    table.add_column(heading)
    for split in (*SPLITS, "total"):
        table.add_column(split, justify="right")
    for key in counts["total"]:
        table.add_row(esc(key), *(str(counts[s][key]) for s in (*SPLITS, "total")))
    table.add_row("[bold]all[/]", *(f"[bold]{sum(counts[s].values())}[/]"
                                    for s in (*SPLITS, "total")))
    console.print(table)

    tokens = summary["tokens"]
    lengths = Table(title=f"Tokens per chat ({tokens['method']})")
    lengths.add_column("split")
    for name in ("p50", "p90", "p95", "p99", "max"):
        lengths.add_column(name, justify="right")
    for split in SPLITS:
        row = tokens["percentiles"][split]
        lengths.add_row(split, *(str(row.get(k, "-")) for k in ("p50", "p90", "p95", "p99",
                                                                 "max")))
    console.print(lengths)
    if tokens["method"] == "tokenizer":
        console.print(f"Token counts {esc(tokens['note'])}.", highlight=False)
    parts = sorted(tokens["prompt_parts"].items(), key=lambda item: -item[1])
    console.print(f"The prompt before the note (the same for every note): {tokens['prompt']} "
                  f"tokens; the longest parts: "
                  f"{esc(', '.join(f'{name} {count}' for name, count in parts[:3]))}",
                  highlight=False)

    long_notes = summary["long_notes"]
    console.print(f"Notes over max_seq_length {long_notes['max_seq_length']}: "
                  f"{long_notes['total']} (policy: {long_notes['policy']})", highlight=False)
    subsets = summary["subsets"]
    if subsets["written"]:
        console.print(f"Learning-curve subsets: {', '.join(map(str, subsets['written']))}",
                      highlight=False)
    for note in summary["notes"]:
        console.print(f"[yellow]note:[/] {esc(note)}", highlight=False)
    console.print(f"[green]Wrote[/] {len(summary['files'])} files to {esc(out)}", highlight=False)
