"""`mlxmed export`: a trained run -> a GGUF file llama.cpp runs, proved equal to the MLX model.

Steps: fuse the best adapter into the base (dequantizing a QLoRA base first) -> write an F16
GGUF with our own writer -> quantize it with llama.cpp's quantizer -> verify: the validation
notes are answered by MLX (base + adapter) and by the GGUF file and the answers compared; for
F16 the largest logit difference on a fixed prompt is reported too. ``adapter_only`` writes a
GGUF LoRA adapter for an unmodified base GGUF instead."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlxmed.atomic import atomic_path
from mlxmed.errors import MlxmedError
from mlxmed.gguf_export import (
    EXPORT_ARCHS,
    fuse_adapter,
    gguf_tensor_names,
    permute_rows,
    write_gguf,
)
from mlxmed.llama_runtime import quantize_gguf
from mlxmed.tasks import load_task

QUANTS = ("F16", "Q8_0", "Q5_K_M", "Q4_K_M")
UNSURE = 0.5  # a label probability under this: the trained model's answer is close to a guess


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
    notes: list[str] = field(default_factory=list)


def _run_record(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MlxmedError(f"{run_dir}: not a training run (no readable run.json); give the "
                          "--out folder of `mlxmed train`") from exc


def provenance(record: dict) -> dict[str, str]:
    """What an exported file says about where it came from."""
    task_file = Path(record["task"]["file"])
    spec = task_file.read_text(encoding="utf-8") if task_file.is_file() else ""
    return {"run_id": record.get("run_id", ""), "task_name": record["task"]["name"],
            "task_spec_hash": record["task"]["spec_hash"], "task_spec": spec,
            "train_data_sha256": record["data"]["train_sha256"],
            "base_model": record["model"]["dir"],
            "best_step": str(record.get("best_step"))}


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


def export_run(run_dir: str | Path, quant: str = "Q8_0", out: str | Path | None = None,
               adapter_only: bool = False, verify: bool = True, min_agreement: float = 0.9,
               verify_limit: int = 50,
               on_event: Callable[[dict], None] | None = None) -> ExportResult:
    """Export the best adapter of ``run_dir``; see the module docstring."""
    on_event = on_event or (lambda event: None)
    run_dir = Path(run_dir)
    record = _run_record(run_dir)
    if quant not in QUANTS:
        raise MlxmedError(f"--quant {quant}: choose one of {', '.join(QUANTS)}")
    model_dir = Path(record["model"]["dir"])
    adapter = run_dir / "adapters" / "best"
    if not (adapter / "adapters.safetensors").is_file():
        raise MlxmedError(f"{adapter}: no trained adapter; train first (or resume the run)")
    check_adapter(adapter)
    default_name = f"{record['run_id']}-{'lora' if adapter_only else quant.lower()}.gguf"
    target = Path(out) if out else run_dir / default_name
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = provenance(record)

    if adapter_only:
        on_event({"type": "stage", "stage": "writing the LoRA adapter"})
        with atomic_path(target) as tmp:
            write_lora_gguf(model_dir, adapter, tmp, meta)
        return ExportResult(target, "lora", target.stat().st_size)

    on_event({"type": "stage", "stage": "fusing the adapter into the base model"})
    model, config = fuse_adapter(model_dir, adapter)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp_dir:
        f16 = Path(tmp_dir) / "model-f16.gguf"
        on_event({"type": "stage", "stage": "writing the F16 GGUF"})
        write_gguf(model, config, model_dir, f16, "F16", meta)
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
            verify_export(result, record, model, model_dir, adapter, min_agreement,
                          verify_limit, on_event)
        except BaseException:
            target.unlink(missing_ok=True)  # never leave a file that failed verification
            raise
    return result


def verify_export(result: ExportResult, record: dict, fused_model, model_dir: Path,
                  adapter: Path, min_agreement: float, limit: int,
                  on_event: Callable[[dict], None]) -> None:
    """Compare the exported file's answers with MLX's on the validation notes; raise below
    ``min_agreement``. For F16 also record the largest logit difference on one prompt."""
    import mlx.core as mx

    from mlxmed.llama_runtime import open_gguf
    from mlxmed.llama_scoring import LlamaPredictor
    from mlxmed.prompting import ChatTokenizer
    from mlxmed.scoring import Predictor
    from mlxmed.train import read_chats

    task = load_task(record["task"]["file"])
    chats = read_chats(Path(record["data"]["dir"]) / "valid.jsonl")[:limit]
    chat = ChatTokenizer(model_dir)
    if result.quant == "F16":
        ids = chat.prompt_ids(chats[0])
        ours = np.array(fused_model(mx.array([ids]))[0].astype(mx.float32))
        llm = open_gguf(result.path, n_ctx=len(ids) + 16, logits_all=True, f32_kv_cache=True)
        llm.eval(ids)
        theirs = np.asarray(llm.scores[: len(ids)], dtype=np.float32)
        result.max_logit_diff = float(np.abs(ours - theirs).max())
        del llm
    n_ctx = max(len(chat.prompt_ids(m)) for m in chats) + 300
    mlx_side = Predictor(task, fused_model, chat)
    gguf_side = LlamaPredictor(task, result.path, chat, n_ctx=n_ctx)
    same, disagreed = 0, []
    for index, messages in enumerate(chats):
        prompt = [m for m in messages if m["role"] != "assistant"]
        ours = mlx_side.predict(prompt)
        if ours.value == gguf_side.predict(prompt).value:
            same += 1
        elif ours.confidence is not None:
            disagreed.append(ours.confidence)
        on_event({"type": "verify_progress", "done": index + 1, "total": len(chats)})
    result.compared = len(chats)
    result.agreement = same / len(chats)
    if disagreed and len(disagreed) == len(chats) - same:
        result.disagreement_confidence = max(disagreed)
    if result.agreement < min_agreement:
        coin_flips = (result.disagreement_confidence is not None
                      and result.disagreement_confidence < UNSURE)
        hint = ("try a larger --quant (Q8_0 or F16)" if not coin_flips
                else f"every disagreement is on a note where the trained model itself is "
                f"unsure (its label probability at most {result.disagreement_confidence:.2f}): "
                "train on more notes, or try a larger --quant (Q8_0 or F16)")
        raise MlxmedError(
            f"{result.path}: the exported model agrees with the trained model on only "
            f"{result.agreement:.0%} of {len(chats)} validation notes (minimum "
            f"{min_agreement:.0%}); {hint}")


def write_lora_gguf(model_dir: Path, adapter: Path, path: Path, meta: dict[str, str]) -> None:
    """A GGUF LoRA adapter for llama.cpp (``lora_path``) from an mlx-lm adapter."""
    import gguf
    import mlx.core as mx
    from mlx_lm.utils import load_config

    config = load_config(model_dir)
    model_type = config.get("model_type")
    if model_type not in EXPORT_ARCHS:
        raise MlxmedError(f"architecture '{model_type}' cannot be exported to GGUF yet "
                          f"(supported: {', '.join(EXPORT_ARCHS)})")
    arch, permuted = EXPORT_ARCHS[model_type]
    settings = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    lora = settings["lora_parameters"]
    weights = mx.load(str(adapter / "adapters.safetensors"))
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    names = gguf_tensor_names(arch, config["num_hidden_layers"])
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(lora["scale"] * lora["rank"]))
    for key, value in meta.items():
        writer.add_string(f"mlxmed.{key}", str(value))
    for name in sorted(weights):
        if not name.endswith(".lora_a"):
            continue
        module = name[: -len(".lora_a")]
        if module not in names:
            raise MlxmedError(f"adapter tensor {name} has no GGUF name; not exportable")
        a = np.array(weights[name].astype(mx.float32)).T            # (rank, in)
        b = np.array(weights[f"{module}.lora_b"].astype(mx.float32)).T  # (out, rank)
        if permuted and module.endswith(("q_proj", "k_proj")):
            b = permute_rows(b, heads if module.endswith("q_proj") else kv_heads)
        writer.add_tensor(f"{names[module]}.weight.lora_a", a)
        writer.add_tensor(f"{names[module]}.weight.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def base_gguf(model_dir: Path, out: Path) -> Path:
    """The base model as an F16 GGUF (for use with an adapter-only export)."""
    model, config = fuse_adapter(model_dir, None)
    write_gguf(model, config, model_dir, out, "F16", {"base_model": str(model_dir)})
    return out


__all__ = ["QUANTS", "ExportResult", "base_gguf", "export_run", "write_lora_gguf"]
