"""The training loss: cross-entropy on the answer tokens only, with the output layer applied
only where the answer is (the prompt is masked from the loss, so its logits would be waste)."""

from __future__ import annotations

from mlxmed.inference.mlx_predictor import hidden_states, project


def answer_logits(model, tokens, positions, prefix=None, trunk_states=None, split: int = 0):
    """(logits at the answer positions, the tokens they should predict): the model run over
    a batch of :func:`iterate_batches`, projecting only the answer positions.

    The first ``len(prefix)`` tokens, the same in every row, go through the model once and
    their keys/values are shared by the rows (the same result, less work). With
    ``trunk_states`` (see :func:`iterate_batches`), only layers ``split`` and up are run.
    """
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    from mlxmed.accel.trunk import top_caches, top_pass

    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    shared = 0 if prefix is None else prefix.shape[-2 if trunk_states is not None else 0]
    if trunk_states is not None:
        caches = top_caches(model, split, prefix, tokens.shape[0])
        hidden = top_pass(model, split, trunk_states, caches)
        positions = mx.maximum(positions - shared, 0)
    elif shared:
        cache = make_prompt_cache(model)
        hidden_states(model, inputs[:1, :shared], cache=cache)
        for layer in cache:
            layer.keys = mx.repeat(layer.keys[:, :, :shared], inputs.shape[0], axis=0)
            layer.values = mx.repeat(layer.values[:, :, :shared], inputs.shape[0], axis=0)
        hidden = hidden_states(model, inputs[:, shared:], cache=cache)
        positions = mx.maximum(positions - shared, 0)  # clipped ones are masked out anyway
    else:
        hidden = hidden_states(model, inputs)
    picked = mx.take_along_axis(hidden, positions[..., None], axis=1)
    return project(model, picked), mx.take_along_axis(targets[:, shared:], positions, axis=1)


def answer_loss(model, tokens, lengths, positions, mask, prefix=None, trunk_states=None,
                split: int = 0):
    """Cross-entropy on the answer tokens only (see :func:`answer_logits`); ``mask`` holds
    each answer token's weight (see :func:`iterate_batches`: they sum to 1 over a batch), so
    the loss is the batch's mean, also when processes share the batch."""
    import mlx.core as mx
    import mlx.nn as nn

    logits, wanted = answer_logits(model, tokens, positions, prefix, trunk_states, split)
    losses = nn.losses.cross_entropy(logits, wanted) * mask
    count = (mask > 0).sum()
    return losses.astype(mx.float32).sum(), count
