"""`mlxmed export`: a trained run -> a GGUF file llama.cpp runs, proved equal to the MLX model.

Steps: fuse the best adapter into the base (dequantizing a QLoRA base first) -> write an F16
GGUF with our own writer -> quantize it with llama.cpp's quantizer -> verify (see
:mod:`mlxmed.export.verify`). ``adapter_only`` writes a GGUF LoRA adapter for an unmodified
base GGUF instead. The file carries the task spec as trained.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlxmed.artifacts.model_dir import ModelDir
from mlxmed.artifacts.ownership import (
    check_file_replaceable,
    is_mlxmed_gguf,
    refuse_input_as_output,
)
from mlxmed.artifacts.run import Run
from mlxmed.atomic import atomic_path
from mlxmed.errors import MlxmedError
from mlxmed.export.gguf_writer import fuse_adapter, write_gguf
from mlxmed.export.lora import write_lora_gguf
from mlxmed.export.ollama import chat_pieces, ollama_name, write_modelfile
from mlxmed.inference.llama_runtime import quantize_gguf
from mlxmed.models.chat_template import load_chat_template

QUANTS = ("F16", "Q8_0", "Q5_K_M", "Q4_K_M")


@dataclass
class ExportResult:
    path: Path
    quant: str
    size_bytes: int
    agreement: float | None = None
    compared: int = 0
    max_logit_diff: float | None = None
    # classification: the trained model's highest label probability on a note where the two
    # disagree (low means the disagreements are coin flips of an unsure model)
    disagreement_confidence: float | None = None
    # per answer column (each field of an extraction), the share of validation notes where
    # both give the same value
    field_agreement: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)
    modelfile: Path | None = None  # the Ollama Modelfile written next to the GGUF
    ollama_name: str | None = None


def provenance(run: Run) -> dict[str, str]:
    """What an exported file says about where it came from (the task spec as trained); the
    base model by its folder's name, so a shared file carries no path of this machine."""
    record = run.record
    return {"run_id": run.run_id, "task_name": record.task.name,
            "task_spec_hash": record.task.spec_hash,
            "task_spec": json.dumps(run.task().to_dict(), ensure_ascii=False),
            "train_data_sha256": record.data.train_sha256,
            "base_model": Path(record.model.dir).name,
            "best_step": str(record.best_step)}


def check_adapter(adapter: Path) -> None:
    """Refuse an adapter folder whose files are unreadable (a copy cut short, a bad disk)."""
    import mlx.core as mx

    for name, read in (("adapter_config.json", lambda p: json.loads(p.read_text("utf-8"))),
                       ("adapters.safetensors", lambda p: mx.load(str(p)))):
        try:
            read(adapter / name)
        except (OSError, ValueError, RuntimeError) as exc:
            reason = str(exc).strip()
            raise MlxmedError(f"{adapter / name}: damaged ({reason}); train the run again "
                              "into a new --out") from exc


def check_task_unchanged(run: Run) -> None:
    """Refuse a run whose task file changed since training: the model learnt the old prompt,
    and `extract` with the new file would ask it something else."""
    if run.task_file_changed():
        raise MlxmedError(f"{run.record.task.file} changed since run {run.path} was trained "
                          "(its prompt, labels or fields differ); restore the file as it was, "
                          "or train again with the new one")


def check_target(target: Path, run: Run, model_dir: ModelDir) -> None:
    """The exported file may only replace a GGUF file mlxmed wrote, never an input."""
    if target.suffix.lower() != ".gguf":
        raise MlxmedError(f"--out {target}: give a file name ending in .gguf")
    refuse_input_as_output(target, [run.path / "run.json", run.best_adapter, model_dir.path,
                                    run.record.data.dir, run.record.task.file])
    check_file_replaceable(target, is_mlxmed_gguf, "a GGUF file")


def export_run(run: Run, quant: str = "Q8_0", out: str | Path | None = None,
               adapter_only: bool = False, verify: bool = True, min_agreement: float = 0.9,
               verify_limit: int = 50, ollama: bool = False,
               on_event: Callable[[dict], None] | None = None) -> ExportResult:
    """Export the best adapter of ``run``; see the module docstring. ``ollama`` also writes
    an Ollama ``Modelfile`` next to the GGUF (:mod:`mlxmed.export.ollama`)."""
    from mlxmed.export.verify import verify_export

    on_event = on_event or (lambda event: None)
    if quant not in QUANTS:
        raise MlxmedError(f"--quant {quant}: choose one of {', '.join(QUANTS)}")
    if ollama and adapter_only:
        raise MlxmedError("--ollama writes a Modelfile for a whole model; leave out "
                          "--adapter-only")
    check_task_unchanged(run)
    task = run.task()
    model_dir = run.model_dir()
    if ollama:  # refuse an untranslatable template before the slow part
        chat_pieces(*load_chat_template(model_dir.path))
    adapter = run.best_adapter
    if not (adapter / "adapters.safetensors").is_file():
        raise MlxmedError(f"{adapter}: no trained adapter; train first (or resume the run)")
    check_adapter(adapter)
    default_name = f"{run.run_id}-{'lora' if adapter_only else quant.lower()}.gguf"
    target = Path(out) if out else run.path / default_name
    check_target(target, run, model_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = provenance(run)

    if adapter_only:
        on_event({"type": "stage", "stage": "writing the LoRA adapter"})
        with atomic_path(target) as tmp:
            write_lora_gguf(model_dir.path, adapter, tmp, meta)
        return ExportResult(target, "lora", target.stat().st_size)

    on_event({"type": "stage", "stage": "fusing the adapter into the base model"})
    model, config = fuse_adapter(model_dir.path, adapter)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp_dir:
        f16 = Path(tmp_dir) / "model-f16.gguf"
        on_event({"type": "stage", "stage": "writing the F16 GGUF"})
        write_gguf(model, config, model_dir.path, f16, "F16", meta)
        if quant == "F16":
            produced = f16
        else:
            on_event({"type": "stage", "stage": f"quantizing to {quant} with llama.cpp"})
            produced = Path(tmp_dir) / f"model-{quant}.gguf"
            quantize_gguf(f16, produced, quant)
        os.replace(produced, target)
    result = ExportResult(target, quant, target.stat().st_size)
    if verify:
        on_event({"type": "stage", "stage": "verifying against the MLX model"})
        try:
            verify_export(result, run, task, model, verify_limit, min_agreement, on_event)
        except BaseException:
            target.unlink(missing_ok=True)  # never leave a file that failed verification
            raise
    if ollama:
        on_event({"type": "stage", "stage": "writing the Ollama Modelfile"})
        result.modelfile = write_modelfile(target, task, task.max_seq_length + 256)
        result.ollama_name = ollama_name(task)
    return result


def base_gguf(model_dir: ModelDir, out: Path) -> Path:
    """The base model as an F16 GGUF (for use with an adapter-only export)."""
    model, config = fuse_adapter(model_dir.path, None)
    write_gguf(model, config, model_dir.path, out, "F16", {"base_model": model_dir.path.name})
    return out
