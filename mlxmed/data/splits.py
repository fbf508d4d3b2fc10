"""Deterministic stratified splits and nested learning-curve subsets.

Both work on a list of stratum keys (one per record: the label for classification, a coarse key
for extraction) and return record indices, so they know nothing about files or tasks.

* :func:`stratified_split`: per stratum, a seeded shuffle; the valid/test sizes are shared out
  over the strata by largest remainder, and every stratum keeps at least one member in train.
* :func:`nested_subsets`: per stratum, one seeded shuffle of the train members; subset ``n``
  takes the first ``k_c`` members of stratum ``c``, where ``k`` comes from the Balinski-Young
  quota method. That method is house-monotone (``k`` never shrinks as ``n`` grows, so smaller
  subsets are contained in larger ones) and satisfies quota (``|k_c - n * p_c| < 1``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from fractions import Fraction

import numpy as np

from mlxmed.artifacts.prepared import SPLITS


def largest_remainder(weights: Sequence[int], total: int, caps: Sequence[int]) -> list[int]:
    """Share ``total`` units out in proportion to ``weights`` (Hamilton's method), never
    giving a stratum more than its cap; units no stratum has room for are dropped."""
    weight_sum = sum(weights)
    if weight_sum == 0 or total <= 0:
        return [0] * len(weights)
    quotas = [Fraction(total * w, weight_sum) for w in weights]
    shares = [min(int(q), cap) for q, cap in zip(quotas, caps, strict=True)]
    left = total - sum(shares)
    while left > 0:
        room = [i for i, cap in enumerate(caps) if shares[i] < cap]
        if not room:
            break
        best = max(room, key=lambda i: (quotas[i] - shares[i], -i))
        shares[best] += 1
        left -= 1
    return shares


def _strata(keys: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    """Indices per stratum, strata in first-seen order."""
    groups: dict[Hashable, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return groups


def split_sizes(total: int, valid: float, test: float) -> tuple[int, int]:
    """How many records go to valid and test (at least one each if its fraction is > 0)."""
    n_valid = max(1, round(total * valid)) if valid > 0 else 0
    n_test = max(1, round(total * test)) if test > 0 else 0
    return n_valid, n_test


def stratified_split(keys: Sequence[Hashable], valid: float, test: float,
                     seed: int) -> dict[str, list[int]]:
    """Indices for train/valid/test, stratified by ``keys``; each list in a seeded order."""
    groups = _strata(keys)
    rng = np.random.default_rng(seed)
    shuffled = {key: [members[i] for i in rng.permutation(len(members))]
                for key, members in groups.items()}
    sizes = [len(members) for members in groups.values()]
    n_valid, n_test = split_sizes(len(keys), valid, test)
    keep_one = [max(0, s - 1) for s in sizes]  # every stratum keeps a member in train
    test_k = largest_remainder(sizes, n_test, keep_one)
    valid_k = largest_remainder(sizes, n_valid,
                                [c - t for c, t in zip(keep_one, test_k, strict=True)])
    out: dict[str, list[int]] = {name: [] for name in SPLITS}
    for members, t, v in zip(shuffled.values(), test_k, valid_k, strict=True):
        out["test"] += members[:t]
        out["valid"] += members[t:t + v]
        out["train"] += members[t + v:]
    for name in SPLITS:  # interleave the strata in a seeded order
        out[name] = [out[name][i] for i in rng.permutation(len(out[name]))]
    return out


def quota_allocations(weights: Sequence[int], max_total: int) -> list[list[int]]:
    """Allocations for every house size 0..max_total by the Balinski-Young quota method.

    Row ``n`` gives each stratum ``k_c`` with ``sum(k) == n``, ``k`` componentwise
    non-decreasing in ``n`` and ``floor(n*p_c) <= k_c <= ceil(n*p_c)``, ``p_c = w_c/sum(w)``.
    """
    total_weight = sum(weights)
    shares = [0] * len(weights)
    rows = [list(shares)]
    for house in range(1, max_total + 1):
        # eligible: giving one more seat does not exceed the upper quota, k_c + 1 <= ceil(n p_c)
        eligible = [i for i, w in enumerate(weights) if shares[i] * total_weight < house * w]
        best = max(eligible, key=lambda i: (Fraction(weights[i], shares[i] + 1), -i))
        shares[best] += 1
        rows.append(list(shares))
    return rows


def nested_subsets(keys: Sequence[Hashable], sizes: Sequence[int],
                   seed: int) -> dict[int, list[int]]:
    """For each size n <= len(keys): indices of a stratified subset of n records.

    Smaller subsets are contained in larger ones; sizes above ``len(keys)`` are left out.
    """
    groups = _strata(keys)
    rng = np.random.default_rng(seed)
    orders = [[members[i] for i in rng.permutation(len(members))] for members in groups.values()]
    position = {index: rank for rank, index in enumerate(rng.permutation(len(keys)).tolist())}
    usable = sorted({n for n in sizes if 0 < n <= len(keys)})
    if not usable:
        return {}
    rows = quota_allocations([len(m) for m in groups.values()], usable[-1])
    subsets: dict[int, list[int]] = {}
    for n in usable:
        chosen = [i for order, k in zip(orders, rows[n], strict=True) for i in order[:k]]
        subsets[n] = sorted(chosen, key=position.__getitem__)
    return subsets
