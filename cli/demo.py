"""`mlxmed demo`: the whole pipeline on the bundled model and demo data."""

from __future__ import annotations

import time

import click
from mlxmed.cli.common import console, esc
from mlxmed.cli.train import TrainDisplay
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mlxmed import demo as demo_lib


def _extract_progress(label: str):
    progress = Progress(TextColumn(f"[bold]{label}[/]"), BarColumn(),
                        TextColumn("{task.completed}/{task.total} notes"),
                        TimeRemainingColumn(), console=console, transient=True)
    state: dict = {}

    def on_event(event: dict) -> None:
        if event["type"] == "start":
            state["id"] = progress.add_task(label, total=event["todo"])
        elif event["type"] == "row":
            progress.update(state["id"], completed=event["done"])

    return progress, on_event


@click.command()
@click.option("--question", default=demo_lib.CLINICAL_QUESTION, show_default=True,
              help="A question for the base model.")
def demo(question: str) -> None:
    """Run mlxmed end to end on the bundled SmolLM2-135M model and the smoking demo notes:
    convert -> data -> a short LoRA training -> export to GGUF -> extract the test notes ->
    evaluate, next to the zero-shot base model. No download, no network.

    The training is `mlxmed train`'s default recipe on 100 notes (300 steps; about half an
    hour on a 2-core CPU, minutes on a Mac's GPU), with validation trimmed to 30 notes.
    """
    started = time.perf_counter()
    console.rule("[bold]1. convert the bundled model")
    with console.status("converting (about a minute the first time)..."):
        model_dir = demo_lib.ensure_bundled_model()
    console.print(f"model ready: {esc(model_dir)}", highlight=False)
    with console.status("asking it a clinical question..."):
        answer = demo_lib.ask(model_dir, question, max_tokens=48)
    console.print(f"[bold]Q:[/] {esc(question)}\n[bold]A:[/] {esc(answer)}", highlight=False)

    console.rule("[bold]2. prepare the smoking-status demo data")
    data = demo_lib.prepare_smoking_data(model_dir)
    console.print(f"train/valid/test chats and learning-curve subsets in {esc(data.path)}",
                  highlight=False)

    console.rule(f"[bold]3. fine-tune on {demo_lib.DEMO_TRAIN_SUBSET} notes "
                 "(LoRA, the model's default settings)")
    with TrainDisplay() as display:
        result = demo_lib.train_demo(model_dir, data, display)

    console.rule("[bold]4. export to GGUF (Q8_0) for llama.cpp")
    with console.status("fusing, writing and quantizing..."):
        tuned, base = demo_lib.export_models(result.run_dir, model_dir)
    console.print(f"fine-tuned: {esc(tuned)}\nbase (for the zero-shot comparison): "
                  f"{esc(base)}",
                  highlight=False)

    console.rule(f"[bold]5. extract {demo_lib.DEMO_TEST_NOTES} test notes and evaluate")
    test_notes = demo_lib.demo_test_notes(data)
    reports = {}
    for name, path in (("zero-shot", base), ("fine-tuned", tuned)):
        progress, on_event = _extract_progress(f"{name} extraction")
        with progress:
            reports[name] = demo_lib.extract_and_evaluate(path, test_notes, name, on_event)
    table = Table(title=f"Smoking status on {demo_lib.DEMO_TEST_NOTES} held-out test notes")
    for column in ("model", "macro-F1", "accuracy", "most frequent answer", "report"):
        table.add_column(column)
    for name, report in reports.items():
        metrics = report["metrics"]
        table.add_row(name, f"{metrics['macro_f1']:.3f}", f"{metrics['accuracy']:.3f}",
                      esc(most_frequent_answer(report["confusion_matrix"])),
                      esc(report["report_html"]))
    console.print(table)
    minutes = (time.perf_counter() - started) / 60
    console.print(f"Done in {minutes:.1f} minutes. Open the reports in a browser.",
                  highlight=False)


def most_frequent_answer(confusion: dict) -> str:
    """The label the model gave most often, with its count: shows at a glance when a model
    answers the same label for every note (a macro-F1 can look better than it is)."""
    given = [sum(row[column] for row in confusion["matrix"])
             for column in range(len(confusion["labels"]))]
    best = max(range(len(given)), key=given.__getitem__)
    return f"{confusion['labels'][best]} ({given[best]}/{sum(given)})"
