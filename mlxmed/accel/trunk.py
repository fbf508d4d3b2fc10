"""The frozen trunk: layers below the LoRA adapters, run once per note instead of every step.

LoRA adapters sit on the last K layers, so the first L - K layers ("the trunk") never change
during training: their output for a note is the same at every epoch and at every evaluation.
:class:`FrozenTrunk` computes it once, keeps it in memory (up to a budget), and the training
loss and the validation scoring then run only the top K layers. The result is the same as
running the whole model (tested); the saving grows with the number of epochs and evaluations.

Only plain decoder stacks (embedding, identical layers with one causal mask, final norm) are
split this way; other architectures run the whole model as before.
"""

from __future__ import annotations

import numpy as np

from mlxmed.errors import MlxmedError
from mlxmed.models.architectures import ARCHITECTURES, architecture

MAX_BUDGET_BYTES = 3 * 1024**3  # per model and split


def default_budget() -> int:
    """Memory for kept trunk outputs: a fifth of what is free (at most 3 GiB), so the cache
    never crowds out the training it speeds up."""
    from mlxmed.accel.memory import available_memory_bytes

    return min(MAX_BUDGET_BYTES, available_memory_bytes() // 5)


def supports_split(model) -> bool:
    """Whether ``model`` is a plain decoder stack the trunk can be split from."""
    inner = getattr(model, "model", None)
    arch = architecture(getattr(model, "model_type", None))
    return (arch is not None and arch.trunk
            and all(hasattr(inner, name) for name in ("embed_tokens", "layers", "norm"))
            and getattr(inner, "swa_idx", None) is None)


def run_layers(layers, hidden, caches):
    """``hidden`` through ``layers`` (causal attention after what ``caches`` already hold)."""
    from mlx_lm.models.base import create_attention_mask

    mask = create_attention_mask(hidden, caches[0])
    for layer, cache in zip(layers, caches, strict=True):
        hidden = layer(hidden, mask, cache)
    return hidden


def new_caches(count: int) -> list:
    from mlx_lm.models.cache import KVCache

    return [KVCache() for _ in range(count)]


def filled_caches(stored: list[tuple], rows: int = 1) -> list:
    """Fresh KV caches holding ``stored`` (keys, values) pairs, repeated for ``rows`` rows."""
    import mlx.core as mx

    caches = new_caches(len(stored))
    for cache, (keys, values) in zip(caches, stored, strict=True):
        if rows > 1:
            keys, values = mx.repeat(keys, rows, axis=0), mx.repeat(values, rows, axis=0)
        cache.keys, cache.values, cache.offset = keys, values, keys.shape[2]
    return caches


def kept(caches: list) -> list[tuple]:
    """The (keys, values) a list of caches holds, trimmed to what is filled."""
    return [(c.keys[:, :, : c.offset], c.values[:, :, : c.offset]) for c in caches]


class TrunkStore:
    """Trunk outputs kept in memory, up to a byte budget (beyond it they are recomputed).

    A store belongs to whoever creates it (a training run, a learning curve whose runs share
    notes) and is freed with it: :meth:`clear` drops every kept array at once."""

    def __init__(self, budget_bytes: int | None = None) -> None:
        self.budget_bytes = default_budget() if budget_bytes is None else budget_bytes
        self.stored_bytes = 0
        self.items: dict[tuple, object] = {}

    def get(self, key: tuple, compute):
        """The stored value for ``key``, or ``compute()`` (evaluated, and kept if it fits)."""
        import mlx.core as mx

        if key in self.items:
            return self.items[key]
        value = compute()
        mx.eval(value)
        size = sum(a.nbytes for a in _arrays(value))
        if self.stored_bytes + size <= self.budget_bytes:
            self.items[key] = value
            self.stored_bytes += size
        return value

    def clear(self) -> None:
        """Free every kept trunk output."""
        self.items.clear()
        self.stored_bytes = 0


def top_caches(model, split: int, prefix_hidden, rows: int = 1) -> list:
    """KV caches of the top layers holding the shared prompt start (trunk states
    ``prefix_hidden``), repeated for ``rows`` rows; differentiable, as training needs."""
    layers = model.model.layers[split:]
    caches = new_caches(len(layers))
    run_layers(layers, prefix_hidden, caches)
    return filled_caches(kept(caches), rows) if rows > 1 else caches


def top_pass(model, split: int, hidden, caches):
    """Final hidden states (after the model's norm) of trunk states through the top layers."""
    return model.model.norm(run_layers(model.model.layers[split:], hidden, caches))


class FrozenTrunk:
    """Hidden states after the frozen layers, computed once per token sequence and kept."""

    def __init__(self, model, top_layers: int, store: TrunkStore | None = None):
        if not supports_split(model):
            raise MlxmedError(f"{getattr(model, 'model_type', '?')}: the frozen trunk needs one "
                              f"of {', '.join(a for a, e in ARCHITECTURES.items() if e.trunk)}")
        self.model = model
        self.split = max(0, len(model.model.layers) - top_layers)
        self.store = store or TrunkStore()

    def _bottom_pass(self, ids, caches):
        import mlx.core as mx

        hidden = self.model.model.embed_tokens(mx.array(ids if isinstance(ids, np.ndarray)
                                                        else [ids]))
        if not self.split:
            return hidden
        return run_layers(self.model.model.layers[: self.split], hidden, caches)

    def prefix(self, ids: list[int]) -> tuple:
        """(hidden (1, P, H), the bottom layers' keys/values) for the shared prompt start."""
        def compute():
            caches = new_caches(self.split)
            return self._bottom_pass(ids, caches), kept(caches)
        return self.store.get(("prefix", *ids), compute)

    def _after_prefix(self, prefix_ids: list[int]) -> list:
        return filled_caches(self.prefix(prefix_ids)[1]) if self.split else []

    def note(self, ids: list[int], shared: int):
        """Hidden states (1, len(ids) - shared, H) of ``ids[shared:]`` after the trunk."""
        return self.store.get(("note", shared, *ids), lambda: self._bottom_pass(
            ids[shared:], self._after_prefix(ids[:shared])))

    def scoring_inputs(self, prompt: list[int], shared: int, label_batch: np.ndarray) -> tuple:
        """Trunk states for label scoring: of ``prompt[shared:-1]`` (None if empty) and of the
        rows of ``label_batch`` (see :func:`mlxmed.scoring.branch_batch`) after the prompt."""
        def compute():
            caches = self._after_prefix(prompt[:shared])
            note = (self._bottom_pass(prompt[shared:-1], caches)
                    if len(prompt) - 1 > shared else None)
            rows = filled_caches(kept(caches), len(label_batch)) if self.split else []
            return note, self._bottom_pass(label_batch, rows)
        return self.store.get(("labels", shared, *prompt, -1, *label_batch.flatten().tolist()),
                              compute)


def _arrays(value) -> list:
    if isinstance(value, (tuple, list)):
        return [a for item in value for a in _arrays(item)]
    return [] if value is None else [value]
