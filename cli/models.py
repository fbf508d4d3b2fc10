"""`mlxmed models`: the catalogue of supported base models."""

from __future__ import annotations

import click
from mlxmed.cli.common import console, esc
from rich import box
from rich.table import Table

from mlxmed.models.architectures import architecture
from mlxmed.models.catalogue import load_catalogue
from mlxmed.models.hub import converted_models
from mlxmed.paths import models_dir


@click.command()
def models() -> None:
    """List the supported base models, the memory they need and whether they are converted.

    RAM figures are rough peaks for training with the default settings: LoRA on the
    full-precision model, or QLoRA on a 4-bit copy (`mlxmed convert NAME -q 4`).
    Models marked * are gated on the Hugging Face hub: accept their licence there first.
    GGUF says whether a model trained from it can be exported for `mlxmed extract` (a "no"
    model trains and is scored with MLX, but has no GGUF writer yet).
    """
    converted = converted_models()
    table = Table(title="Supported base models (RAM: rough peak when training)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column, justify in [("name", "left"), ("size", "right"), ("arch", "left"),
                            ("licence", "left"), ("LoRA", "right"), ("QLoRA", "right"),
                            ("GGUF", "left"), ("local", "left")]:
        table.add_column(column, justify=justify, no_wrap=column != "licence")
    entries = sorted(load_catalogue().values(), key=lambda e: (not e.bundled, e.name))
    for entry in entries:
        local = [name for name, marker in converted.items()
                 if name == entry.name or marker.catalogue_name == entry.name
                 or marker.source == entry.hf_repo]
        size = f"{entry.params_billion * 1000:.0f}M" if entry.params_billion < 1 \
            else f"{entry.params_billion:.1f}B"
        table.add_row(entry.name + ("*" if entry.gated else ""), size, entry.architecture,
                      entry.license, f"{entry.ram_lora_gb:g}G", f"{entry.ram_qlora_gb:g}G",
                      "yes" if exportable_to_gguf(entry.architecture) else "[yellow]no[/]",
                      "[green]yes[/] " + ", ".join(n for n in local if n != entry.name)
                      if local else "[dim]no[/]")
    console.print(table)
    console.print(f"Converted models live in {esc(models_dir())} (set MLXMED_HOME to move "
                  "them).\n"
                  "Convert one with: [bold]mlxmed convert NAME[/]   (smollm2-135m-bundled "
                  "needs no download)", highlight=False)


def exportable_to_gguf(model_type: str) -> bool:
    arch = architecture(model_type)
    return arch is not None and arch.gguf_export
