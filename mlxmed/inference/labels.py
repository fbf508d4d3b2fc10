"""The label maths of constrained decoding, with no model in it: where labels part ways
(branch points), each label's probability under grammar-constrained greedy decoding, and the
label that decoding writes. Both engines (MLX and llama.cpp) fill the same branch points."""

from __future__ import annotations

import numpy as np

from mlxmed.inference.predictor import Prediction


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading ids ``a`` and ``b`` share."""
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


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


def fill_branch_logprobs(label_ids: list[list[int]], branches: Branches,
                         rows) -> list[np.ndarray]:
    """Per label, its token log-probabilities at the branch points (0 elsewhere), from one
    row of vocabulary log-probabilities per branch point, in ``branches`` order."""
    out = [np.zeros(len(ids)) for ids in label_ids]
    for (prefix, members), row in zip(branches, rows, strict=True):
        for index in members:
            out[index][len(prefix)] = row[label_ids[index][len(prefix)]]
    return out


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
