"""A GGUF LoRA adapter (for llama.cpp's ``lora_path``) from an mlx-lm adapter: for a hospital
that already runs the base model's GGUF file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlxmed.errors import MlxmedError
from mlxmed.export.gguf_writer import gguf_tensor_names, permute_rows
from mlxmed.models.architectures import exportable


def write_lora_gguf(model_dir: Path, adapter: Path, path: Path, meta: dict[str, str]) -> None:
    """A GGUF LoRA adapter for llama.cpp (``lora_path``) from an mlx-lm adapter."""
    import gguf
    import mlx.core as mx
    from mlx_lm.utils import load_config

    config = load_config(model_dir)
    arch = exportable(config.get("model_type"))
    settings = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    lora = settings["lora_parameters"]
    weights = mx.load(str(adapter / "adapters.safetensors"))
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    names = gguf_tensor_names(arch, config["num_hidden_layers"])
    writer = gguf.GGUFWriter(str(path), arch.gguf_name)
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
        if arch.permuted_qk and module.endswith(("q_proj", "k_proj")):
            b = permute_rows(b, heads if module.endswith("q_proj") else kv_heads)
        writer.add_tensor(f"{names[module]}.weight.lora_a", a)
        writer.add_tensor(f"{names[module]}.weight.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
