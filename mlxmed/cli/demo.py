"""`mlxmed demo`: the whole pipeline on the bundled model and demo data."""

from __future__ import annotations

import click
from rich.table import Table

from mlxmed import demo as demo_lib
from mlxmed.cli.common import console


@click.command()
@click.option("--question", default=demo_lib.CLINICAL_QUESTION, show_default=True,
              help="A question for the base model.")
def demo(question: str) -> None:
    """Run mlxmed end to end on the bundled SmolLM2-135M model (no download, no network).

    Today the demo converts the bundled model, asks it a clinical question, prepares the
    smoking-status demo data and shows the base model's (zero-shot) answers on a few test
    notes; training, export, extraction and evaluation join as they land.
    """
    console.rule("[bold]1. convert the bundled model")
    with console.status("converting (about a minute the first time)..."):
        model_dir = demo_lib.ensure_bundled_model()
    console.print(f"model ready: {model_dir}", highlight=False)

    console.rule("[bold]2. ask the base model a clinical question")
    console.print(f"[bold]Q:[/] {question}", highlight=False)
    with console.status("generating..."):
        answer = demo_lib.ask(model_dir, question)
    console.print(f"[bold]A:[/] {answer}", highlight=False)

    console.rule("[bold]3. prepare the smoking-status demo data")
    data_dir = demo_lib.prepare_smoking_data(model_dir)
    console.print(f"train/valid/test chats and learning-curve subsets in {data_dir}",
                  highlight=False)

    console.rule("[bold]4. zero-shot answers of the base model")
    with console.status("scoring the five labels on three test notes..."):
        examples = demo_lib.zero_shot_examples(model_dir, data_dir)
    table = Table(show_lines=True)
    table.add_column("note (end)", max_width=60)
    table.add_column("gold")
    table.add_column("zero-shot answer")
    table.add_column("confidence", justify="right")
    for example in examples:
        table.add_row("…" + example["note"][-160:], example["gold"], example["answer"],
                      f"{example['confidence']:.2f}")
    console.print(table)
    console.print("Next: `mlxmed train` teaches the model the task from the training notes.",
                  highlight=False)
