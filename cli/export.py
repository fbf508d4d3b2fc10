"""`mlxmed export`: a trained run -> a GGUF file for llama.cpp, verified against MLX."""

from __future__ import annotations

from pathlib import Path

import click
from mlxmed.cli.common import console, esc

from mlxmed.artifacts import Run
from mlxmed.export import QUANTS, export_run


@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--quant", type=click.Choice(QUANTS), default="Q8_0", show_default=True,
              help="Quantization of the exported file (llama.cpp's own quantizer).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Output .gguf file (default: inside RUN_DIR).")
@click.option("--adapter-only", is_flag=True,
              help="Write only the LoRA adapter as GGUF (use with the base model's GGUF).")
@click.option("--no-verify", is_flag=True, help="Skip the comparison with the MLX model.")
@click.option("--min-agreement", type=click.FloatRange(0, 1), default=0.9, show_default=True,
              help="Fail if fewer validation answers than this agree with the MLX model.")
@click.option("--verify-notes", type=click.IntRange(min=1), default=50, show_default=True,
              help="Validation notes compared during verification.")
@click.option("--ollama", is_flag=True, help="Also write an Ollama Modelfile next to the GGUF "
              "(chat template, system prompt, stop tokens, temperature 0).")
def export_command(run_dir: Path, quant: str, out: Path | None, adapter_only: bool,
                   no_verify: bool, min_agreement: float, verify_notes: int,
                   ollama: bool) -> None:
    """Fuse the run's best adapter into its base model and write a GGUF file for llama.cpp.

    The file carries the tokenizer, the chat template, the special tokens and where it came
    from (task, run, training data hash). Unless --no-verify, the validation notes are
    answered by the MLX model and by the exported file and the answers compared.

    Example: mlxmed export runs/smoking-lora --quant Q8_0
    """
    with console.status("exporting...") as status:
        def on_event(event: dict) -> None:
            if event["type"] == "stage":
                status.update(esc(event["stage"]) + "...")
            elif event["type"] == "verify_progress":
                status.update(f"verifying: {event['done']}/{event['total']} validation notes")

        result = export_run(Run.open(run_dir), quant, out, adapter_only, not no_verify,
                            min_agreement, verify_notes, ollama=ollama, on_event=on_event)
    console.print(f"[green]Wrote[/] {esc(result.path)} ({result.size_bytes / 1e6:.1f} MB, "
                  f"{result.quant})", highlight=False)
    if result.agreement is not None:
        console.print(f"Agreement with the MLX model: {result.agreement:.0%} of "
                      f"{result.compared} validation notes", highlight=False)
    if result.field_agreement and len(result.field_agreement) > 1:
        console.print("Per field: " + ", ".join(f"{esc(name)} {share:.0%}" for name, share
                                                in result.field_agreement.items()),
                      highlight=False)
    if result.disagreement_confidence is not None:
        console.print("Where they differ, the trained model's own label probability was at "
                      f"most {result.disagreement_confidence:.2f}", highlight=False)
    if result.max_logit_diff is not None:
        console.print(f"Largest logit difference (F16, one prompt): "
                      f"{result.max_logit_diff:.4f}", highlight=False)
    if adapter_only:
        console.print("Use it with llama.cpp: llama-cli -m BASE.gguf --lora "
                      f"{esc(result.path)}", highlight=False)
    else:
        console.print(f"Use it with llama.cpp: llama-cli -m {esc(result.path)} -cnv",
                      highlight=False)
    if result.modelfile is not None:
        console.print(f"[green]Wrote[/] {esc(result.modelfile)}", highlight=False)
        console.print(f"Use it with Ollama: cd {esc(result.modelfile.parent)} && ollama create "
                      f"{esc(result.ollama_name)} -f Modelfile", highlight=False)
