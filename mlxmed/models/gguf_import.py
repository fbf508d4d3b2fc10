"""Import a llama.cpp GGUF file as an mlx-lm model directory.

GGUF tensor names are mapped back to Hugging Face names with gguf-py's ``TensorNameMap``;
llama.cpp's Q/K row permutation is undone for the llama architecture; Q4_0/Q4_1/Q8_0 tensors
(which MLX reads natively as affine-quantized triplets) are dequantized to a float dtype, or
kept as they are for QLoRA; the tokenizer is rebuilt from the GGUF vocabulary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from mlxmed.errors import MlxmedError
from mlxmed.models.architectures import ARCHITECTURES, Architecture, gguf_importable
from mlxmed.models.gguf_tokenizer import GGUFVocab, build_tokenizer, tokenizer_config

# GGUF tensor type -> (bits, group size) for the quantized types MLX reads natively
QUANTIZED_TYPES = {"Q4_0": (4, 32), "Q4_1": (4, 32), "Q8_0": (8, 32)}
FLOAT_TYPES = {"F32", "F16", "BF16"}

HF_TENSORS_GLOBAL = ["model.embed_tokens", "model.norm", "lm_head"]
HF_TENSORS_BLOCK = [
    "input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj",
    "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
]
# per-head RMS norms of queries and keys (Qwen3)
HF_TENSORS_QK_NORM = ["self_attn.q_norm", "self_attn.k_norm"]


def block_tensor_names(arch: Architecture) -> list[str]:
    """The Hugging Face module names inside one transformer block of ``arch``."""
    return HF_TENSORS_BLOCK + (HF_TENSORS_QK_NORM if arch.qk_norm else [])


def registered(gguf_name: str) -> Architecture:
    """The registry entry that imports GGUF architecture ``gguf_name`` (checked on reading)."""
    entry = gguf_importable(gguf_name)
    if entry is None:
        raise MlxmedError(f"architecture '{gguf_name}' is not supported for GGUF import")
    return entry


@dataclass
class GGUFModelInfo:
    """What a GGUF file holds, read without loading its tensors."""

    path: Path
    arch: str
    metadata: dict
    tensor_types: dict[str, str]
    vocab: GGUFVocab


def read_gguf(path: str | Path) -> GGUFModelInfo:
    """Read and check a GGUF file's header; raise a one-line MlxmedError if it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise MlxmedError(f"{path}: no such file; give the path of a .gguf model file")
    reader = _open_reader(path)
    metadata = _metadata(reader)
    tensor_types = {t.name: t.tensor_type.name for t in reader.tensors}
    _check_tensor_extents(path, reader)
    arch = str(metadata.get("general.architecture", "?"))
    if gguf_importable(arch) is None:
        supported = ", ".join(a.gguf_name for a in ARCHITECTURES.values() if a.gguf_import)
        raise MlxmedError(f"{path}: architecture '{arch}' is not supported for GGUF import "
                          f"(supported: {supported}); convert the model from its Hugging Face "
                          "repository instead")
    return GGUFModelInfo(path, arch, metadata, tensor_types, _vocab(path, metadata))


def _open_reader(path: str | Path) -> gguf.GGUFReader:
    try:
        return gguf.GGUFReader(str(path))
    except Exception as exc:  # truncated/corrupt files fail in many ways inside the reader
        raise MlxmedError(f"{path}: not a readable GGUF file ({type(exc).__name__}: {exc}); "
                          "the file is probably truncated or corrupt, download it again") from exc


def _metadata(reader: gguf.GGUFReader, skip: tuple[str, ...] = ()) -> dict:
    return {name: _field_value(field) for name, field in reader.fields.items()
            if not name.startswith("GGUF.") and name not in skip}


def read_gguf_metadata(path: str | Path) -> dict:
    """The key/value metadata of any GGUF file (model or adapter), without its tensors and
    without the (large) BPE merge list."""
    return _metadata(_open_reader(path), skip=("tokenizer.ggml.merges",))


def _field_value(field: gguf.ReaderField):
    try:
        return field.contents()
    except Exception:  # noqa: BLE001 - unusual field types are simply not needed here
        return None


def _check_tensor_extents(path: Path, reader: gguf.GGUFReader) -> None:
    size = path.stat().st_size
    for tensor in reader.tensors:
        end = int(tensor.data_offset) + int(tensor.n_bytes)
        if end > size:
            raise MlxmedError(f"{path}: tensor '{tensor.name}' runs past the end of the file; "
                              "the file is truncated, download it again")


def _vocab(path: Path, meta: dict) -> GGUFVocab:
    tokens = meta.get("tokenizer.ggml.tokens")
    if not tokens:
        raise MlxmedError(f"{path}: the file has no tokenizer vocabulary "
                          "(tokenizer.ggml.tokens); use a complete GGUF model file")
    types = meta.get("tokenizer.ggml.token_type") or [1] * len(tokens)

    def optional_int(key: str) -> int | None:
        value = meta.get(key)
        return int(value) if value is not None else None

    return GGUFVocab(
        model=str(meta.get("tokenizer.ggml.model", "gpt2")),
        tokens=list(tokens),
        token_types=[int(t) for t in types],
        pre=str(meta.get("tokenizer.ggml.pre", "default")),
        merges=list(meta.get("tokenizer.ggml.merges") or []),
        scores=[float(s) for s in meta.get("tokenizer.ggml.scores") or []],
        bos_id=optional_int("tokenizer.ggml.bos_token_id"),
        eos_id=optional_int("tokenizer.ggml.eos_token_id"),
        pad_id=optional_int("tokenizer.ggml.padding_token_id"),
        unk_id=optional_int("tokenizer.ggml.unknown_token_id"),
        add_bos=bool(meta.get("tokenizer.ggml.add_bos_token", False)),
        add_space_prefix=bool(meta.get("tokenizer.ggml.add_space_prefix", True)),
        chat_template=meta.get("tokenizer.chat_template"),
    )


def hf_config(info: GGUFModelInfo) -> dict:
    """The Hugging Face style ``config.json`` for an mlx-lm model of this GGUF."""
    meta, arch = info.metadata, info.arch

    def get(key: str, default=None):
        value = meta.get(f"{arch}.{key}", default)
        if value is None:
            raise MlxmedError(f"{info.path}: missing metadata '{arch}.{key}'; the GGUF file is "
                              "incomplete")
        return value

    if meta.get(f"{arch}.rope.scaling.type") not in (None, "none") or \
            "rope_freqs.weight" in info.tensor_types:
        raise MlxmedError(f"{info.path}: this GGUF uses RoPE scaling, which GGUF import does not "
                          "reconstruct; convert the model from its Hugging Face repository")
    heads = int(get("attention.head_count"))
    hidden = int(get("embedding_length"))
    config = {
        "model_type": registered(arch).model_type,
        "architectures": [registered(arch).hf_class],
        "hidden_size": hidden,
        "intermediate_size": int(get("feed_forward_length")),
        "num_hidden_layers": int(get("block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(get("attention.head_count_kv", heads)),
        "head_dim": int(get("attention.key_length", hidden // heads)),
        "rms_norm_eps": float(get("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(get("rope.freq_base", 10000.0)),
        "max_position_embeddings": int(get("context_length")),
        "vocab_size": len(info.vocab.tokens),
        "tie_word_embeddings": "output.weight" not in info.tensor_types,
        "bos_token_id": info.vocab.bos_id,
        "eos_token_id": info.vocab.eos_id,
    }
    if arch == "llama":
        config.update(attention_bias=False, mlp_bias=False)
    return config


def gguf_to_hf_names(arch: str, n_blocks: int) -> dict[str, str]:
    """GGUF base tensor name (no suffix) -> Hugging Face module name, via gguf-py's map."""
    entry = registered(arch)
    name_map = gguf.TensorNameMap(entry.gguf_arch, n_blocks)
    mapping: dict[str, str] = {}
    hf_names = HF_TENSORS_GLOBAL + [f"model.layers.{i}.{n}" for i in range(n_blocks)
                                    for n in block_tensor_names(entry)]
    for hf_name in hf_names:
        gguf_name = name_map.get_name(hf_name)
        if gguf_name is None:
            raise MlxmedError(f"internal: no GGUF name for '{hf_name}' in architecture {arch}")
        mapping[gguf_name] = hf_name
    return mapping


def unpermute_rows(w, n_head: int):
    """Undo llama.cpp's Q/K row interleaving (inverse of convert_hf_to_gguf's ``permute``)."""
    rows = w.shape[0]
    return (w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def convert_gguf(info: GGUFModelInfo, out_dir: Path, quantize_bits: int | None = None,
                 dtype: str = "float32", progress=None) -> None:
    """Write an mlx-lm model directory for ``info`` into ``out_dir`` (which must exist)."""
    import mlx.core as mx

    config = hf_config(info)
    for name, kind in info.tensor_types.items():
        if kind not in QUANTIZED_TYPES and kind not in FLOAT_TYPES:
            raise MlxmedError(
                f"{info.path}: tensor '{name}' is stored as {kind}; GGUF import reads "
                f"{', '.join(sorted(FLOAT_TYPES | set(QUANTIZED_TYPES)))} - use a Q8_0/Q4_0/F16 "
                "file or convert from the Hugging Face repository")
    try:
        raw = mx.load(str(info.path))
    except Exception as exc:
        raise MlxmedError(f"{info.path}: the tensors could not be read ({exc}); the file is "
                          "probably corrupt, download it again") from exc

    n_blocks = config["num_hidden_layers"]
    names = gguf_to_hf_names(info.arch, n_blocks)
    permuted = registered(info.arch).permuted_qk
    target = getattr(mx, dtype)
    weights: dict[str, mx.array] = {}
    per_layer_quant: dict[str, dict] = {}
    base_names = sorted({name.rsplit(".", 1)[0] for name in info.tensor_types})
    for index, base in enumerate(base_names):
        if progress:
            progress(index + 1, len(base_names))
        if base not in names:
            raise MlxmedError(f"{info.path}: unexpected tensor '{base}' for architecture "
                              f"{info.arch}; this variant is not supported")
        hf = names[base]
        n_head = None
        if permuted and hf.endswith("q_proj"):
            n_head = config["num_attention_heads"]
        elif permuted and hf.endswith("k_proj"):
            n_head = config["num_key_value_heads"]
        kind = info.tensor_types.get(f"{base}.weight")
        if kind in QUANTIZED_TYPES:
            bits, group = QUANTIZED_TYPES[kind]
            triplet = [raw[f"{base}.{part}"] for part in ("weight", "scales", "biases")]
            if n_head:
                triplet = [unpermute_rows(t, n_head) for t in triplet]
            if quantize_bits is not None:  # keep the file's own quantization: no added error
                weights[f"{hf}.weight"] = triplet[0]
                weights[f"{hf}.scales"] = triplet[1].astype(target)
                weights[f"{hf}.biases"] = triplet[2].astype(target)
                per_layer_quant[hf] = {"group_size": group, "bits": bits}
            else:
                weights[f"{hf}.weight"] = mx.dequantize(*triplet, group_size=group,
                                                        bits=bits).astype(target)
        else:
            w = raw[f"{base}.weight"]
            if n_head:
                w = unpermute_rows(w, n_head)
            weights[f"{hf}.weight"] = w.astype(target)
        if f"{base}.bias" in raw:
            weights[f"{hf}.bias"] = raw[f"{base}.bias"].astype(target)
        mx.eval(*[weights[k] for k in weights if k.startswith(hf + ".")])

    if quantize_bits is not None:
        _quantize_float_matrices(weights, per_layer_quant, quantize_bits)
        config["quantization"] = {"group_size": 64, "bits": quantize_bits, **per_layer_quant}
    del raw
    mx.save_safetensors(str(out_dir / "model.safetensors"), weights, metadata={"format": "mlx"})
    _write_json(out_dir / "config.json", config)
    _write_tokenizer(info, out_dir)


def _quantize_float_matrices(weights: dict, per_layer_quant: dict, bits: int) -> None:
    """Quantize the float linear/embedding matrices that the GGUF stored unquantized."""
    import mlx.core as mx

    for key in [k for k in weights if k.endswith(".weight")]:
        module = key[: -len(".weight")]
        w = weights[key]
        if module in per_layer_quant or w.ndim != 2 or "norm" in module:
            continue
        if w.shape[1] % 64:
            continue
        q, scales, biases = mx.quantize(w, group_size=64, bits=bits)
        weights[key], weights[f"{module}.scales"], weights[f"{module}.biases"] = q, scales, biases
        per_layer_quant[module] = {"group_size": 64, "bits": bits}


def _write_tokenizer(info: GGUFModelInfo, out_dir: Path) -> None:
    tokenizer = build_tokenizer(info.vocab)
    vocab = info.vocab  # kept verbatim so that GGUF export writes back exactly this vocabulary
    _write_json(out_dir / "gguf_vocab.json", {
        "model": vocab.model, "pre": vocab.pre, "tokens": vocab.tokens,
        "token_types": vocab.token_types, "merges": vocab.merges, "scores": vocab.scores,
        "add_space_prefix": vocab.add_space_prefix})
    tokenizer.save(str(out_dir / "tokenizer.json"))
    _write_json(out_dir / "tokenizer_config.json", tokenizer_config(info.vocab))
    generation = {"bos_token_id": info.vocab.bos_id, "eos_token_id": info.vocab.eos_id}
    _write_json(out_dir / "generation_config.json",
                {k: v for k, v in generation.items() if v is not None})


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n",
                    encoding="utf-8")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value))
