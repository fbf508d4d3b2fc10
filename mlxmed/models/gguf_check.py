"""GGUF files checked in Python before llama.cpp sees them: a truncated, foreign or mismatched
file is a one-line error, never a crash in the native library.

* a model file must parse, hold every tensor inside the file, and be a model (not an adapter);
* a LoRA adapter must be a LoRA adapter for the base model's architecture, with one A/B pair
  per adapted base tensor and shapes that fit that tensor.
"""

from __future__ import annotations

from pathlib import Path

import gguf

from mlxmed.errors import MlxmedError
from mlxmed.models.gguf_import import _check_tensor_extents, _metadata, _open_reader


def _read(path: Path, what: str) -> gguf.GGUFReader:
    if not path.is_file():
        raise MlxmedError(f"{path}: no such {what} file; check the path")
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise MlxmedError(f"{path}: not a GGUF file; give a .gguf {what} (see `mlxmed "
                              "export`)")
    reader = _open_reader(path)
    _check_tensor_extents(path, reader)
    return reader


def check_model_gguf(path: str | Path) -> dict:
    """The metadata of a GGUF model file fit to load; a one-line error otherwise."""
    path = Path(path)
    meta = _metadata(_read(path, "model"), skip=("tokenizer.ggml.merges",))
    if meta.get("general.type") == "adapter":
        raise MlxmedError(f"{path}: this is a LoRA adapter, not a model; give it as --adapter "
                          "and the base model's GGUF as --model")
    if not meta.get("general.architecture"):
        raise MlxmedError(f"{path}: the GGUF file names no architecture; it is incomplete, "
                          "export or download it again")
    return meta


def check_lora_gguf(adapter: str | Path, base: str | Path) -> None:
    """Refuse an adapter file that is not a LoRA adapter for the base model file ``base``."""
    adapter, base = Path(adapter), Path(base)
    reader = _read(adapter, "LoRA adapter")
    meta = _metadata(reader, skip=("tokenizer.ggml.merges",))
    if meta.get("general.type") != "adapter" or meta.get("adapter.type") != "lora":
        raise MlxmedError(f"{adapter}: not a LoRA adapter GGUF (general.type "
                          f"{meta.get('general.type')!r}); make one with `mlxmed export RUN "
                          "--adapter-only`")
    base_reader = _read(base, "model")
    base_arch = _metadata(base_reader, skip=("tokenizer.ggml.merges",)).get(
        "general.architecture")
    if meta.get("general.architecture") != base_arch:
        raise MlxmedError(f"{adapter}: an adapter for architecture "
                          f"{meta.get('general.architecture')!r}, but the model {base.name} is "
                          f"{base_arch!r}; use the adapter exported for this base model")
    shapes = {t.name: [int(d) for d in t.shape] for t in base_reader.tensors}
    pairs: dict[str, dict[str, list[int]]] = {}
    for tensor in reader.tensors:
        name, _, part = tensor.name.rpartition(".lora_")
        if part not in ("a", "b"):
            raise MlxmedError(f"{adapter}: tensor '{tensor.name}' is not a LoRA A/B matrix; "
                              "the file is not a LoRA adapter mlxmed can use")
        pairs.setdefault(name, {})[part] = [int(d) for d in tensor.shape]
    if not pairs:
        raise MlxmedError(f"{adapter}: the adapter holds no LoRA tensors")
    for name, parts in pairs.items():
        if name not in shapes:
            raise MlxmedError(f"{adapter}: adapts '{name}', which the model {base.name} does "
                              "not have; use the adapter exported for this base model")
        if set(parts) != {"a", "b"}:
            raise MlxmedError(f"{adapter}: '{name}' has only one of its two LoRA matrices; the "
                              "file is damaged, export it again")
        # GGUF lists the fastest-varying dimension first: a weight (out, in) is [in, out],
        # A (rank, in) is [in, rank] and B (out, rank) is [rank, out]
        (a_in, rank), (b_rank, b_out), (w_in, w_out) = (parts["a"], parts["b"],
                                                         shapes[name][:2])
        if a_in != w_in or b_out != w_out or rank != b_rank:
            raise MlxmedError(f"{adapter}: the LoRA matrices of '{name}' do not fit the "
                              f"model's tensor (A {parts['a']}, B {parts['b']}, weight "
                              f"{shapes[name]}); use the adapter exported for this base model")
