"""The `mlxmed` command line: a thin Click layer over the library, one module per command."""

from __future__ import annotations

import os
import sys

import click
from mlxmed.cli.common import console, run_safely

import mlxmed

COMMANDS = {
    "models": "mlxmed.cli.models:models",
    "convert": "mlxmed.cli.convert:convert",
    "data": "mlxmed.cli.data:data",
    "train": "mlxmed.cli.train:train_command",
    "curve": "mlxmed.cli.curve:curve",
    "export": "mlxmed.cli.export:export_command",
    "extract": "mlxmed.cli.extract:extract_command",
    "evaluate": "mlxmed.cli.evaluate:evaluate_command",
    "demo": "mlxmed.cli.demo:demo",
    "studio": "mlxmed.cli.studio:studio",
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (keeps `--help` fast)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = __import__(module_name, fromlist=[attr])
        return getattr(module, attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(mlxmed.__version__, prog_name="mlxmed")
@click.option("--offline", is_flag=True, help="Never use the network, not even for `convert` of "
              "a hub model (same as MLXMED_OFFLINE=1): a hub model then comes from the local "
              "download cache only.")
def cli(offline: bool) -> None:
    """Fine-tune a small language model on your own labelled clinical notes, on this computer,
    and use it to pull structured data out of thousands of notes. No text leaves the machine.

    \b
    The steps, in order:
      mlxmed models      list the supported base models
      mlxmed convert     get a base model ready (the bundled one needs no download)
      mlxmed data        check your notes + labels and split them for training
      mlxmed train       fine-tune the model on them (LoRA / QLoRA)
      mlxmed curve       the study's learning curve: score vs number of training notes
      mlxmed export      write the fine-tuned model as a GGUF file for llama.cpp
      mlxmed extract     run it over thousands of notes (offline, resumable)
      mlxmed evaluate    score the results against gold answers, with an HTML report
      mlxmed demo        run the whole pipeline on the bundled model and demo data
      mlxmed studio      label, train and review in your browser (a local web app)

    Run `mlxmed COMMAND --help` for the details of each step.
    """
    if offline:
        os.environ["MLXMED_OFFLINE"] = "1"


def main() -> None:
    """Console-script entry point: one clear line on error, never a traceback."""
    sys.exit(run_safely(cli, debug=os.environ.get("MLXMED_DEBUG") == "1"))


__all__ = ["cli", "main", "console"]
