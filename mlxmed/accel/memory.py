"""Estimate peak training memory before starting, and refuse with advice when it won't fit."""

from __future__ import annotations

import os
import sys

from mlxmed.errors import MlxmedError

HEADROOM = 0.85  # use at most this share of the memory that is available


def available_memory_bytes() -> int:
    """Memory the training can use: MemAvailable on Linux, the GPU working set on a Mac."""
    override = os.environ.get("MLXMED_MEMORY_LIMIT_GB")
    if override:
        return int(float(override) * 1e9)
    if sys.platform == "darwin":
        import mlx.core as mx

        if mx.metal.is_available():
            return int(mx.metal.device_info()["max_recommended_working_set_size"])
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def estimate_training_bytes(model, batch_size: int, seq_length: int, lora_layers: int,
                            grad_checkpoint: bool = False, shared: int = 0) -> int:
    """A rough peak: the weights, plus the activations kept for the backward pass of the
    layers that carry LoRA (per layer ~ 17 x hidden values per token and 2.5 x heads
    attention scores per query and key, after Korthikanti et al. 2022), plus the output
    projection of the answer positions. The ``shared`` prompt start of every row runs once
    per batch, so only its keys, not its queries, count per row."""
    from mlx.utils import tree_flatten

    weights = sum(v.nbytes for _, v in tree_flatten(model.parameters()))
    args = model.args
    hidden = args.hidden_size
    heads = args.num_attention_heads
    dtype_bytes = 4 if model.model.embed_tokens.weight.dtype.size >= 4 else 2
    own = max(1, seq_length - shared)  # each row's tokens after the shared start
    tokens = batch_size * own + shared
    scores = batch_size * own * seq_length + shared * shared
    per_layer = (tokens * 17 * hidden + 2.5 * heads * scores) * dtype_bytes
    if grad_checkpoint:
        per_layer = tokens * hidden * dtype_bytes * 2
    activations = per_layer * min(lora_layers, len(model.layers)) + per_layer  # + one live
    return int(1.2 * (weights + activations))


def check_memory(model, batch_size: int, seq_length: int, lora_layers: int,
                 grad_checkpoint: bool = False, shared: int = 0) -> int:
    """Raise a one-line MlxmedError with advice if training will not fit; return the estimate."""
    need = estimate_training_bytes(model, batch_size, seq_length, lora_layers, grad_checkpoint,
                                   shared)
    have = available_memory_bytes()
    if need > HEADROOM * have:
        advice = [f"a smaller --batch-size (now {batch_size})" if batch_size > 1 else None,
                  f"a shorter --max-seq-length (longest chat: {seq_length} tokens)",
                  f"fewer --layers (now {lora_layers})",
                  None if grad_checkpoint else "--grad-checkpoint",
                  "a 4-bit model for QLoRA (`mlxmed convert MODEL -q 4`)"]
        raise MlxmedError(
            f"training needs about {need / 1e9:.1f} GB but only {have / 1e9:.1f} GB is free; "
            f"try {', '.join(a for a in advice if a)}")
    return need
