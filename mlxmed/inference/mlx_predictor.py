"""The MLX engine: answers from an MLX model (base, or base + adapter) the way `extract` will
give them, for training's validation metric, `curve` and `export`'s check. Label scoring runs
the note once and reads the labels' branch points; generation is greedy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlxmed.inference.labels import Branches, branch_batch, common_prefix, fill_branch_logprobs
from mlxmed.inference.predictor import Predictor, predict_all
from mlxmed.inference.vocab import model_token_bytes
from mlxmed.models.chat_tokenizer import ChatTokenizer, Messages

if TYPE_CHECKING:
    from mlxmed.tasks import Task


def hidden_states(model, inputs, cache=None):
    """The backbone's final hidden states (before the output projection)."""
    return model.model(inputs, cache=cache)


def project(model, hidden):
    """Output logits for hidden states, for tied and untied heads (and Gemma's soft-capping)."""
    import mlx.core as mx

    if hasattr(model, "lm_head"):
        logits = model.lm_head(hidden)
    else:
        logits = model.model.embed_tokens.as_linear(hidden)
    cap = getattr(getattr(model, "args", None), "final_logit_softcapping", None)
    if cap:
        logits = mx.tanh(logits / cap) * cap
    return logits


class PrefixCache:
    """Keys/values of the prompt part shared by every note (system + instruction), computed
    once and reused for each note while the model's weights stay the same."""

    def __init__(self, model) -> None:
        self.model = model
        self.ids: list[int] = []
        self.layers: list[tuple] = []

    def prefill(self, prompt: list[int], shared: int) -> list:
        """A fresh KV cache holding ``prompt[:-1]``, reusing the stored shared part."""
        import mlx.core as mx
        from mlx_lm.models.cache import make_prompt_cache

        cache = make_prompt_cache(self.model)
        shared = min(shared, len(prompt) - 1)
        if shared > 0 and prompt[:shared] != self.ids:
            hidden_states(self.model, mx.array([prompt[:shared]]), cache=cache)
            self.ids = prompt[:shared]
            self.layers = [(c.keys[:, :, :shared], c.values[:, :, :shared]) for c in cache]
            mx.eval(self.layers)
            cache = make_prompt_cache(self.model)
        start = 0
        if shared > 0:
            for layer, (keys, values) in zip(cache, self.layers, strict=True):
                layer.keys, layer.values, layer.offset = keys[:, :, :], values[:, :, :], shared
            start = shared
        if len(prompt) - 1 > start:
            hidden_states(self.model, mx.array([prompt[start:-1]]), cache=cache)
        return cache


def score_labels(model, prompt: list[int], label_ids: list[list[int]],
                 prefix: PrefixCache | None = None, shared: int = 0) -> list[np.ndarray]:
    """Each label's token log-probabilities at its branch points (see :func:`branch_points`;
    the other positions hold 0, which :func:`label_prediction` never reads) after the prompt
    ids. The prompt is run through the model once (its first ``shared`` tokens from
    ``prefix``); the answer prefixes of the branch points then share its KV cache. Labels
    that part ways at their first token need no more than the prompt's last position.
    """
    import mlx.core as mx

    cache = (prefix or PrefixCache(model)).prefill(prompt, shared)
    batch, branches = branch_batch(prompt, label_ids)
    rows = len(branches)
    for layer_cache in cache:
        keys, values = layer_cache.keys, layer_cache.values
        if keys is not None:
            layer_cache.keys = mx.repeat(keys[:, :, : layer_cache.offset], rows, axis=0)
            layer_cache.values = mx.repeat(values[:, :, : layer_cache.offset], rows, axis=0)
    hidden = hidden_states(model, mx.array(batch), cache=cache)
    return branch_logprobs(model, hidden, label_ids, branches)


def branch_logprobs(model, hidden, label_ids: list[list[int]],
                    branches: Branches) -> list[np.ndarray]:
    """:func:`fill_branch_logprobs` from the final hidden states of :func:`branch_batch`'s
    rows: only each row's branch position is projected to the vocabulary."""
    import mlx.core as mx

    last = mx.array([len(prefix) for prefix, _ in branches])
    logits = project(model, hidden[mx.arange(len(branches)), last])
    rows = np.array((logits - mx.logsumexp(logits, axis=-1, keepdims=True)).astype(mx.float32))
    return fill_branch_logprobs(label_ids, branches, rows)


def trunk_score_labels(trunk, prompt: list[int], label_ids: list[list[int]], shared: int,
                       top_prefix: dict) -> list[np.ndarray]:
    """:func:`score_labels` running only the top layers, on trunk states of the frozen layers.

    ``top_prefix`` keeps the top layers' keys/values of the shared prompt start while the
    weights stay the same (one evaluation)."""
    from mlxmed.accel.trunk import filled_caches, kept, top_caches, top_pass

    model, split = trunk.model, trunk.split
    batch, branches = branch_batch(prompt, label_ids)
    note, branch_states = trunk.scoring_inputs(prompt, shared, batch)
    key = tuple(prompt[:shared])
    if key not in top_prefix:
        top_prefix.clear()
        top_prefix[key] = kept(top_caches(model, split, trunk.prefix(prompt[:shared])[0]))
    caches = filled_caches(top_prefix[key])
    if note is not None:
        top_pass(model, split, note, caches)
    rows = filled_caches(kept(caches), len(branches))
    hidden = top_pass(model, split, branch_states, rows)
    return branch_logprobs(model, hidden, label_ids, branches)


class MlxPredictor(Predictor):
    """Answers a task's notes with an MLX model (optionally with a LoRA adapter applied)."""

    def __init__(self, task: Task, model, chat: ChatTokenizer, max_tokens: int = 256,
                 trunk=None):
        """``trunk`` (a :class:`mlxmed.accel.trunk.FrozenTrunk` of ``model``) makes label
        scoring reuse the frozen layers' outputs for notes it has seen."""
        super().__init__(task)
        self.model, self.chat, self.max_tokens, self.trunk = model, chat, max_tokens, trunk
        self._top_prefix: dict = {}
        self.prefix = PrefixCache(model)
        # tokens before the note: what a prompt with an empty note shares with a real one
        self._empty_prompt = chat.prompt_ids(task.messages(""))

    def shared_length(self, prompt: list[int]) -> int:
        """Tokens of ``prompt`` that every note's prompt has (a little margin for merges)."""
        return max(0, common_prefix(self._empty_prompt, prompt) - 2)

    def label_logprobs(self, messages: Messages,
                       label_ids: list[list[int]]) -> list[np.ndarray]:
        prompt = self.chat.prompt_ids(messages)
        shared = self.shared_length(prompt)
        if self.trunk is not None:
            return trunk_score_labels(self.trunk, prompt, label_ids, shared, self._top_prefix)
        return score_labels(self.model, prompt, label_ids, self.prefix, shared)

    def token_pieces(self) -> list[bytes | None]:
        return model_token_bytes(self.chat.model_dir)

    def engine(self) -> MlxEngine:
        return MlxEngine(self)


class MlxEngine:
    """The MLX model as a decoding engine: the prompt prefilled (its shared start from the
    predictor's prefix cache), then tokens fed in batches with logits at every position."""

    def __init__(self, predictor: MlxPredictor) -> None:
        self.predictor, self.cache = predictor, None

    def start(self, prompt: list[int]) -> np.ndarray:
        predictor = self.predictor
        self.cache = predictor.prefix.prefill(prompt, predictor.shared_length(prompt))
        return self.feed(prompt[-1:])[-1]

    def feed(self, tokens: list[int]) -> np.ndarray:
        import mlx.core as mx

        model = self.predictor.model
        logits = project(model, hidden_states(model, mx.array([tokens]), self.cache))[0]
        return np.array(logits.astype(mx.float32))

    def rewind(self, count: int) -> None:
        for layer in self.cache:
            layer.trim(count)


def evaluate_chats(task: Task, model_dir: str | Path, chats: list[Messages], adapter_dir=None,
                   progress: Callable[[int, int], None] | None = None,
                   top_layers: int | None = None, trunk_store=None) -> dict:
    """Answer held-out chats with the model (plus an adapter, if given) and score them against
    the gold answers the chats carry. Returns the task metrics plus the predictions.

    With ``top_layers`` (at least the adapter's layer count) and a ``trunk_store``
    (:class:`mlxmed.accel.trunk.TrunkStore`), the frozen layers' outputs below the top
    layers are kept in the store and shared with other evaluations that use it (a curve)."""
    from mlx_lm import load

    from mlxmed.accel import cpu_kernels
    from mlxmed.accel.trunk import FrozenTrunk, supports_split

    model, _ = load(str(model_dir), adapter_path=str(adapter_dir) if adapter_dir else None)
    model.eval()
    trunk = None
    if top_layers and trunk_store is not None and supports_split(model):
        trunk = FrozenTrunk(model, top_layers, trunk_store)
    gold = [task.parse_answer(messages[-1]["content"]).value for messages in chats]
    with cpu_kernels.enabled(model):
        predictor = MlxPredictor(task, model, ChatTokenizer(model_dir), trunk=trunk)
        predictions = predict_all(predictor, [messages[:-1] for messages in chats], progress)
    metrics = task.metrics(gold, [p.value for p in predictions])
    metrics["predictions"] = [{"text": p.text, "confidence": p.confidence, "error": p.error,
                               "probabilities": p.probabilities} for p in predictions]
    return metrics
