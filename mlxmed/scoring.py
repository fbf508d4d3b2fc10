"""Answers from an MLX model (base or base + adapter), the way `extract` will give them:
classification scores every label in one pass over the note; extraction decodes greedily and
parses the answer with the task's parser."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxmed import cpu_kernels
from mlxmed.prompting import ChatTokenizer, Messages
from mlxmed.tasks import TaskSpec


@dataclass
class Prediction:
    """One note's answer: the parsed value (None if invalid), its text and a confidence."""

    value: Any
    text: str
    confidence: float | None
    error: str | None = None
    probabilities: dict[str, float] | None = None  # classification: every label's share


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


def common_prefix(a: list[int], b: list[int]) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


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


Branches = list[tuple[tuple[int, ...], list[int]]]


def branch_batch(prompt: list[int], label_ids: list[list[int]]) -> tuple[np.ndarray, Branches]:
    """The branch points in prefix order (see :func:`branch_points`), and one row per point:
    the prompt's last token, then the answer prefix that leads to the point (rows padded at
    the end, which the causal mask keeps out of the point's position)."""
    branches = sorted(branch_points(label_ids).items())
    batch = np.zeros((len(branches), 1 + max(len(p) for p, _ in branches)), dtype=np.int32)
    for row, (prefix, _) in enumerate(branches):
        batch[row, 0] = prompt[-1]
        batch[row, 1: 1 + len(prefix)] = prefix
    return batch, branches


def branch_logprobs(model, hidden, label_ids: list[list[int]],
                    branches: Branches) -> list[np.ndarray]:
    """:func:`fill_branch_logprobs` from the final hidden states of :func:`branch_batch`'s
    rows: only each row's branch position is projected to the vocabulary."""
    import mlx.core as mx

    last = mx.array([len(prefix) for prefix, _ in branches])
    logits = project(model, hidden[mx.arange(len(branches)), last])
    rows = np.array((logits - mx.logsumexp(logits, axis=-1, keepdims=True)).astype(mx.float32))
    return fill_branch_logprobs(label_ids, branches, rows)


def fill_branch_logprobs(label_ids: list[list[int]], branches: Branches,
                         rows) -> list[np.ndarray]:
    """Per label, its token log-probabilities at the branch points (0 elsewhere), from one
    row of vocabulary log-probabilities per branch point, in ``branches`` order."""
    out = [np.zeros(len(ids)) for ids in label_ids]
    for (prefix, members), row in zip(branches, rows, strict=True):
        for index in members:
            out[index][len(prefix)] = row[label_ids[index][len(prefix)]]
    return out


def trunk_score_labels(trunk, prompt: list[int], label_ids: list[list[int]], shared: int,
                       top_prefix: dict) -> list[np.ndarray]:
    """:func:`score_labels` running only the top layers, on trunk states of the frozen layers.

    ``top_prefix`` keeps the top layers' keys/values of the shared prompt start while the
    weights stay the same (one evaluation)."""
    from mlxmed.trunk import filled_caches, kept, top_caches, top_pass

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


def label_prediction(labels: list[str], label_ids: list[list[int]],
                     token_logprobs: list[np.ndarray]) -> Prediction:
    """The label a grammar-constrained greedy decoder writes, with every label's probability
    under that decoder.

    ``token_logprobs[i][j]`` is the model's log-probability of token ``j`` of label ``i``'s
    answer ids. Restricted to the label set, the model chooses between the tokens that can
    follow at each point where labels part ways; elsewhere the next token is forced. A label's
    probability is the product of its choices, so the probabilities sum to 1, and only the
    branch points need the model's logits (the rest may hold any value).
    """
    choices = branch_choices(label_ids, token_logprobs)
    probabilities = np.exp(choices - choices.max())
    probabilities /= probabilities.sum()
    best = _greedy_label(label_ids, token_logprobs, choices)
    return Prediction(labels[best], labels[best], float(probabilities[best]),
                      probabilities=dict(zip(labels, map(float, probabilities), strict=True)))


def branch_points(label_ids: list[list[int]]) -> dict[tuple[int, ...], list[int]]:
    """Answer prefixes after which labels part ways, with the labels that go through each."""
    through: dict[tuple[int, ...], list[int]] = {}
    for index, ids in enumerate(label_ids):
        for depth in range(len(ids)):
            through.setdefault(tuple(ids[:depth]), []).append(index)
    return {prefix: members for prefix, members in through.items()
            if len({label_ids[i][len(prefix)] for i in members}) > 1}


def branch_choices(label_ids: list[list[int]], token_logprobs: list[np.ndarray]) -> np.ndarray:
    """Each label's log-probability under constrained decoding: at every branch point on its
    path, its token's log-probability renormalised over the tokens the labels allow there."""
    totals = np.zeros(len(label_ids))
    for prefix, members in branch_points(label_ids).items():
        depth = len(prefix)
        allowed = {label_ids[i][depth]: token_logprobs[i][depth] for i in members}
        norm = np.logaddexp.reduce(np.array(list(allowed.values()), dtype=np.float64))
        for i in members:
            totals[i] += token_logprobs[i][depth] - norm
    return totals


def _greedy_label(label_ids: list[list[int]], token_logprobs: list[np.ndarray],
                  choices: np.ndarray) -> int:
    """Follow the most likely allowed token at every branch point."""
    candidates, depth = list(range(len(label_ids))), 0
    while len(candidates) > 1:
        going_on = [i for i in candidates if len(label_ids[i]) > depth]
        if len(going_on) < len(candidates):
            # a label ends where others go on (no end-of-answer token to compare): fall back
            # to the constrained probabilities
            return max(candidates, key=lambda i: choices[i])
        leader = max(going_on, key=lambda i: token_logprobs[i][depth])
        candidates = [i for i in going_on if label_ids[i][depth] == label_ids[leader][depth]]
        depth += 1
    return candidates[0]


class Predictor:
    """Predicts answers for a task with an MLX model (optionally with a LoRA adapter applied)."""

    def __init__(self, task: TaskSpec, model, chat: ChatTokenizer, max_tokens: int = 256,
                 trunk=None):
        """``trunk`` (a :class:`mlxmed.trunk.FrozenTrunk` of ``model``) makes classification
        reuse the frozen layers' outputs for notes it has seen."""
        self.task, self.model, self.chat, self.max_tokens = task, model, chat, max_tokens
        cpu_kernels.install(model)
        self.trunk = trunk
        self._top_prefix: dict = {}
        self._label_ids: list[list[int]] | None = None
        self.prefix = PrefixCache(model)
        # tokens before the note: what a prompt with an empty note shares with a real one
        self._empty_prompt = chat.prompt_ids(task.messages(""))

    def shared_length(self, prompt: list[int]) -> int:
        """Tokens of ``prompt`` that every note's prompt has (a little margin for merges)."""
        return max(0, common_prefix(self._empty_prompt, prompt) - 2)

    def predict(self, messages: Messages) -> Prediction:
        if self.task.kind == "classification":
            return self._classify(messages)
        return self._generate(messages)

    def _classify(self, messages: Messages) -> Prediction:
        labels = self.task.label_names
        if self._label_ids is None:
            self._label_ids = [self.chat.answer_ids(messages, label) for label in labels]
        prompt = self.chat.prompt_ids(messages)
        shared = self.shared_length(prompt)
        if self.trunk is not None:
            logprobs = trunk_score_labels(self.trunk, prompt, self._label_ids, shared,
                                          self._top_prefix)
        else:
            logprobs = score_labels(self.model, prompt, self._label_ids, self.prefix, shared)
        return label_prediction(labels, self._label_ids, logprobs)

    def _generate(self, messages: Messages) -> Prediction:
        import mlx.core as mx

        prompt = self.chat.prompt_ids(messages)
        end = self.chat.end_of_turn_id()
        cache = self.prefix.prefill(prompt, self.shared_length(prompt))
        logits = project(self.model, hidden_states(self.model, mx.array([prompt[-1:]]), cache))
        out: list[int] = []
        for _ in range(self.max_tokens):
            token = int(mx.argmax(logits[0, -1]).item())
            if token == end:
                break
            out.append(token)
            logits = project(self.model, hidden_states(self.model, mx.array([[token]]), cache))
        text = self.chat.tokenizer.decode(out)
        parsed = self.task.parse_answer(text)
        return Prediction(parsed.value if parsed.ok else None, text, None, parsed.error)


def predict_all(predictor: Predictor, chats: list[Messages],
                progress: Callable[[int, int], None] | None = None) -> list[Prediction]:
    """Predictions for many notes, reporting progress after each."""
    results = []
    for index, messages in enumerate(chats):
        results.append(predictor.predict(messages))
        if progress:
            progress(index + 1, len(chats))
    return results


def evaluate_chats(task: TaskSpec, model_dir, chats: list[Messages], adapter_dir=None,
                   progress: Callable[[int, int], None] | None = None,
                   top_layers: int | None = None) -> dict:
    """Answer held-out chats with the model (plus an adapter, if given) and score them against
    the gold answers the chats carry. Returns the task metrics plus the predictions.

    ``top_layers`` (at least the adapter's layer count) lets the frozen layers below them be
    shared with other evaluations of the same model in this process (a learning curve)."""
    from mlx_lm import load

    from mlxmed.metrics import task_metrics
    from mlxmed.trunk import FrozenTrunk, shared_store, supports_split

    model, _ = load(str(model_dir), adapter_path=str(adapter_dir) if adapter_dir else None)
    model.eval()
    trunk = None
    if top_layers and supports_split(model):
        split = max(0, len(model.model.layers) - top_layers)
        trunk = FrozenTrunk(model, top_layers, shared_store(model_dir, split))
    predictor = Predictor(task, model, ChatTokenizer(model_dir), trunk=trunk)
    gold = [task.parse_answer(messages[-1]["content"]).value for messages in chats]
    predictions = predict_all(predictor, [messages[:-1] for messages in chats], progress)
    metrics = task_metrics(task, gold, [p.value for p in predictions])
    metrics["predictions"] = [{"text": p.text, "confidence": p.confidence, "error": p.error}
                              for p in predictions]
    return metrics
