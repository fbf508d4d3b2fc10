"""Write an mlx-lm model (base, or with a LoRA adapter fused in) as a llama.cpp GGUF file with
the gguf package: tensors renamed with gguf-py's TensorNameMap, llama's Q/K row permutation,
the full tokenizer (byte-level BPE or SentencePiece), special token ids, the chat template and
mlxmed's provenance metadata."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np

from mlxmed.errors import MlxmedError
from mlxmed.models.architectures import Architecture, exportable
from mlxmed.models.gguf_import import HF_TENSORS_GLOBAL, block_tensor_names
from mlxmed.models.gguf_tokenizer import LLAMA3_PATTERN, QWEN2_PATTERN


def fuse_adapter(model_dir: Path, adapter_dir: Path | None):
    """Load the model with the adapter and fold the LoRA update into the (dequantized) weights.

    Returns (model, config)."""
    from mlx.utils import tree_unflatten
    from mlx_lm import load
    from mlx_lm.utils import dequantize_model, load_config

    model, _ = load(str(model_dir), adapter_path=str(adapter_dir) if adapter_dir else None)
    fused = [(name, module.fuse(dequantize=True)) for name, module in model.named_modules()
             if hasattr(module, "fuse")]
    if fused:
        model.update_modules(tree_unflatten(fused))
    model = dequantize_model(model)
    return model, load_config(model_dir)


def permute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's Q/K row interleaving (as convert_hf_to_gguf.py applies it)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def gguf_tensor_names(arch: Architecture, n_blocks: int) -> dict[str, str]:
    """Hugging Face module name -> GGUF tensor base name."""
    name_map = gguf.TensorNameMap(arch.gguf_arch, n_blocks)
    names = HF_TENSORS_GLOBAL + [f"model.layers.{i}.{n}" for i in range(n_blocks)
                                 for n in block_tensor_names(arch)]
    return {hf: name_map.get_name(hf) for hf in names}


def detect_bpe_pre(tokenizer_json: dict) -> str:
    """llama.cpp's name for a byte-level BPE tokenizer's pre-tokenization."""
    text = json.dumps(tokenizer_json.get("pre_tokenizer"))
    if '"Digits"' in text and '"ByteLevel"' in text and '"Split"' not in text:
        return "smollm"
    if json.dumps(LLAMA3_PATTERN)[1:-1] in text:
        return "llama-bpe"
    if json.dumps(QWEN2_PATTERN)[1:-1] in text:
        return "qwen2"
    if '"ByteLevel"' in text and '"Split"' not in text:
        return "gpt-2"
    raise MlxmedError("this model's pre-tokenizer is not one GGUF export knows (smollm, "
                      "llama-bpe, qwen2, gpt-2); export is not possible for it yet")


def add_tokenizer(writer: gguf.GGUFWriter, model_dir: Path) -> None:
    """Vocabulary, merges/scores, token types, special ids and the chat template."""
    stored = model_dir / "gguf_vocab.json"  # written when the model came from a GGUF file
    config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    data = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    if stored.is_file():
        vocab = json.loads(stored.read_text(encoding="utf-8"))
    else:
        vocab = _vocab_from_tokenizer_json(data)
    writer.add_tokenizer_model(vocab["model"])
    writer.add_tokenizer_pre(vocab["pre"])
    writer.add_token_list(vocab["tokens"])
    writer.add_token_types(vocab["token_types"])
    if vocab.get("merges"):
        writer.add_token_merges(vocab["merges"])
    if vocab.get("scores"):
        writer.add_token_scores(vocab["scores"])
    tokens = vocab["tokens"]

    def token_id(value) -> int | None:
        text = value.get("content") if isinstance(value, dict) else value
        return tokens.index(text) if text in tokens else None

    for key, add in (("bos_token", writer.add_bos_token_id), ("eos_token",
                     writer.add_eos_token_id), ("pad_token", writer.add_pad_token_id),
                     ("unk_token", writer.add_unk_token_id)):
        found = token_id(config.get(key))
        if found is not None:
            add(found)
    writer.add_add_bos_token(bool(config.get("add_bos_token", vocab["model"] == "llama")))
    if vocab["model"] == "llama":
        writer.add_add_space_prefix(bool(vocab.get("add_space_prefix", True)))
    from mlxmed.models.chat_template import load_chat_template

    # the template training rendered with (the config's, a chat_template.jinja, or ChatML)
    writer.add_chat_template(load_chat_template(model_dir)[0])


def _vocab_from_tokenizer_json(data: dict) -> dict:
    model = data["model"]
    if model.get("type") != "BPE":
        raise MlxmedError(f"tokenizer type {model.get('type')} cannot be exported to GGUF yet")
    vocab = dict(model["vocab"])
    added = {t["content"]: t for t in data.get("added_tokens", [])}
    for content, token in added.items():
        vocab[content] = token["id"]
    size = max(vocab.values()) + 1
    tokens = [f"[PAD{i}]" for i in range(size)]
    for text, index in vocab.items():
        tokens[index] = text
    types = []
    for text in tokens:
        if text in added:
            types.append(gguf.TokenType.CONTROL if added[text].get("special")
                         else gguf.TokenType.USER_DEFINED)
        elif text.startswith("[PAD"):
            types.append(gguf.TokenType.UNUSED)
        else:
            types.append(gguf.TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    if model.get("byte_fallback"):
        raise MlxmedError("SentencePiece-style vocabularies can only be exported for models "
                          "converted from a GGUF file so far")
    return {"model": "gpt2", "pre": detect_bpe_pre(data), "tokens": tokens,
            "token_types": types, "merges": merges}


def write_gguf(model, config: dict, model_dir: Path, path: Path, dtype: str = "F16",
               metadata: dict[str, str] | None = None) -> None:
    """Write ``model`` (float weights, HF names) as a GGUF file of ``dtype`` F16 or F32."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    arch = exportable(config.get("model_type"))
    if config.get("rope_scaling"):
        raise MlxmedError("this model uses RoPE scaling, which GGUF export does not write yet")
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    hidden = config["hidden_size"]
    head_dim = config.get("head_dim") or hidden // heads
    n_blocks = config["num_hidden_layers"]
    arch_name = arch.gguf_name
    writer = gguf.GGUFWriter(str(path), arch_name)
    writer.add_name(metadata.get("name", model_dir.name) if metadata else model_dir.name)
    writer.add_context_length(int(config.get("max_position_embeddings", 4096)))
    writer.add_embedding_length(hidden)
    writer.add_block_count(n_blocks)
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    writer.add_rope_freq_base(float(config.get("rope_theta", 10000.0)))
    writer.add_rope_dimension_count(head_dim)
    if head_dim != hidden // heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "F16"
                         else gguf.LlamaFileType.ALL_F32)
    for key, value in (metadata or {}).items():
        writer.add_string(f"mlxmed.{key}", str(value))
    add_tokenizer(writer, model_dir)

    names = gguf_tensor_names(arch, n_blocks)
    weights = dict(tree_flatten(model.parameters()))
    writer.add_vocab_size(int(weights["model.embed_tokens.weight"].shape[0]))
    for full_name in sorted(weights):
        base, suffix = full_name.rsplit(".", 1)
        if base not in names:
            raise MlxmedError(f"tensor {full_name} has no GGUF name for {arch_name}; export of "
                              "this model variant is not supported")
        tensor = np.array(weights[full_name].astype(mx.float32))
        if arch.permuted_qk and base.endswith(("q_proj", "k_proj")) and suffix == "weight":
            tensor = permute_rows(tensor, heads if base.endswith("q_proj") else kv_heads)
        if dtype == "F16" and tensor.ndim == 2:
            tensor = tensor.astype(np.float16)
        writer.add_tensor(f"{names[base]}.{suffix}", tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
