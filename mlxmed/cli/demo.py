"""`mlxmed demo`: the whole pipeline on the bundled model and demo data."""

from __future__ import annotations

import click

from mlxmed import demo as demo_lib
from mlxmed.cli.common import console


@click.command()
@click.option("--question", default=demo_lib.CLINICAL_QUESTION, show_default=True,
              help="A question for the base model.")
def demo(question: str) -> None:
    """Run mlxmed end to end on the bundled SmolLM2-135M model (no download, no network).

    Today the demo converts the bundled model and asks it a clinical question; the later steps
    (data, train, export, extract, evaluate) join as they land.
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
