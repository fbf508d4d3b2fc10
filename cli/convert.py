"""`mlxmed convert`: get a base model ready for training."""

from __future__ import annotations

import os

import click
from mlxmed.cli.common import console, esc
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from mlxmed.models import hub as modelhub


@click.command()
@click.argument("model")
@click.option("--out", type=click.Path(file_okay=False), help="Output directory "
              "(default: the models directory, see `mlxmed models`).")
@click.option("-q", "--quantize", type=click.Choice(["4", "8"]), default=None,
              help="Store the weights with 4 or 8 bits (for QLoRA on machines with little RAM).")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default=None,
              help="Precision of unquantized weights (default: float32 on CPU, float16 on a Mac "
                   "GPU).")
@click.option("--revision", default=None, help="Hub revision (branch, tag or commit) to download.")
@click.option("--force", is_flag=True, help="Replace a model folder mlxmed converted before.")
@click.option("--offline", is_flag=True, help="Take a hub model from the local download cache "
              "only; never use the network (same as MLXMED_OFFLINE=1).")
def convert(model: str, out: str | None, quantize: str | None, dtype: str | None,
            revision: str | None, force: bool, offline: bool) -> None:
    """Convert MODEL into a directory mlxmed can fine-tune.

    \b
    MODEL is one of:
      a catalogue name     smollm2-135m-bundled  (ships with mlxmed: no download)
                           qwen2.5-1.5b          (see `mlxmed models`)
      a hub repo id        hf:Qwen/Qwen2.5-0.5B-Instruct   (downloaded, resumable)
      a local directory    ./my-model   (a Hugging Face model with .safetensors weights)
      a GGUF file          ./model.Q8_0.gguf   (llama/qwen2/qwen3; Q4_0, Q4_1, Q8_0, F16, F32)

    Only a hub download (a catalogue name or hf:OWNER/NAME) uses the network; a path that
    does not exist is an error, never a download. Everything else works offline.
    Example:  mlxmed convert smollm2-135m-bundled
    """
    if offline:
        os.environ["MLXMED_OFFLINE"] = "1"
    bits = int(quantize) if quantize else None
    source = modelhub.resolve_source(model)
    if source.origin == "hub":
        console.print(f"Downloading [bold]{esc(source.location)}[/] from the Hugging Face hub "
                      "(the only network access mlxmed makes)...", highlight=False)
    with Progress(TextColumn("[bold]converting[/] {task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total} tensors"), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(esc(source.name), total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        out_dir = modelhub.convert(model, out=out, quantize=bits, dtype=dtype, force=force,
                                   revision=revision, progress=progress)
    console.print(f"[green]Ready:[/] {esc(out_dir)}", highlight=False)
    console.print(f"Next: mlxmed data TASK NOTES --model {esc(out_dir)} --out DATA_DIR",
                  highlight=False)
