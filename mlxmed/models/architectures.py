"""The one list of model architectures mlxmed knows, and what it can do with each: import from
a GGUF file, export to GGUF, and split off a frozen trunk for faster training. Import, export,
the trunk and `mlxmed models` all read this registry."""

from __future__ import annotations

from dataclasses import dataclass

import gguf

from mlxmed.errors import MlxmedError


@dataclass(frozen=True)
class Architecture:
    """One mlx-lm ``model_type`` and mlxmed's support for it."""

    model_type: str                       # mlx-lm's name (config.json "model_type")
    hf_class: str                         # config.json "architectures"
    gguf_arch: gguf.MODEL_ARCH | None     # llama.cpp's architecture, None: no GGUF support
    permuted_qk: bool = False             # llama.cpp interleaves Q/K rows (llama family)
    qk_norm: bool = False                 # per-head query/key RMS norms (Qwen3)
    gguf_import: bool = False             # a .gguf file of it can be converted for mlx-lm
    gguf_export: bool = False             # a trained model can be written as GGUF
    trunk: bool = False                   # a plain decoder stack: the frozen trunk applies

    @property
    def gguf_name(self) -> str:
        return gguf.MODEL_ARCH_NAMES[self.gguf_arch] if self.gguf_arch is not None else ""


ARCHITECTURES: dict[str, Architecture] = {a.model_type: a for a in (
    Architecture("llama", "LlamaForCausalLM", gguf.MODEL_ARCH.LLAMA, permuted_qk=True,
                 gguf_import=True, gguf_export=True, trunk=True),
    # Mistral writes GGUF files as llama; they are imported as llama too
    Architecture("mistral", "MistralForCausalLM", gguf.MODEL_ARCH.LLAMA, permuted_qk=True,
                 gguf_export=True, trunk=True),
    Architecture("qwen2", "Qwen2ForCausalLM", gguf.MODEL_ARCH.QWEN2, gguf_import=True,
                 gguf_export=True, trunk=True),
    Architecture("qwen3", "Qwen3ForCausalLM", gguf.MODEL_ARCH.QWEN3, qk_norm=True,
                 gguf_import=True, gguf_export=True, trunk=True),
    # trains in mlx-lm (logit soft-capping, sliding-window layers); no GGUF writer yet
    Architecture("gemma2", "Gemma2ForCausalLM", gguf.MODEL_ARCH.GEMMA2),
)}


def architecture(model_type: str | None) -> Architecture | None:
    """The registry entry of an mlx-lm ``model_type`` (None if mlxmed does not know it)."""
    return ARCHITECTURES.get(model_type or "")


def exportable(model_type: str | None) -> Architecture:
    """The entry of a model that can be exported to GGUF; a one-line error otherwise."""
    arch = architecture(model_type)
    if arch is None or not arch.gguf_export:
        supported = ", ".join(a.model_type for a in ARCHITECTURES.values() if a.gguf_export)
        raise MlxmedError(f"architecture '{model_type}' cannot be exported to GGUF yet "
                          f"(supported: {supported})")
    return arch


def gguf_importable(gguf_name: str) -> Architecture | None:
    """The entry that imports GGUF files of llama.cpp architecture ``gguf_name``."""
    return next((a for a in ARCHITECTURES.values()
                 if a.gguf_import and a.gguf_name == gguf_name), None)
