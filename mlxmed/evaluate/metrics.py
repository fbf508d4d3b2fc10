"""Task metrics: macro-F1 and friends for classification (scikit-learn), field-level
precision/recall/F1 for extraction. A missing or invalid prediction counts as wrong."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

MISSING = "<invalid>"


def classification_metrics(labels: Sequence[str], gold: Sequence[str],
                           predicted: Sequence[str | None]) -> dict[str, Any]:
    """Accuracy, micro/macro F1 over the task's labels, and per-class P/R/F1/support."""
    pred = [p if p is not None else MISSING for p in predicted]
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, pred, labels=list(labels), zero_division=0)
    return {
        "n": len(gold),
        "accuracy": float(accuracy_score(gold, pred)) if gold else 0.0,
        "micro_f1": float(f1_score(gold, pred, labels=list(labels), average="micro",
                                   zero_division=0)),
        "macro_f1": float(f1_score(gold, pred, labels=list(labels), average="macro",
                                   zero_division=0)),
        "invalid": sum(p is None for p in predicted),
        "per_class": {label: {"precision": float(p), "recall": float(r), "f1": float(f),
                              "support": int(s)}
                      for label, p, r, f, s in zip(labels, precision, recall, f1, support,
                                                   strict=True)},
    }


def _values(value: Any) -> list[Any]:
    """A field's stated values: none for null/empty, the items of a list, else the value."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _same(a: Any, b: Any, tolerance: float) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= tolerance
    if isinstance(a, str) and isinstance(b, str):
        return " ".join(a.casefold().split()) == " ".join(b.casefold().split())
    return a == b


def field_counts(gold: Any, predicted: Any, tolerance: float = 0.0) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of one field of one note."""
    gold_values, pred_values = _values(gold), _values(predicted)
    unmatched = list(gold_values)
    tp = 0
    for value in pred_values:
        for index, g in enumerate(unmatched):
            if _same(g, value, tolerance):
                del unmatched[index]
                tp += 1
                break
    return tp, len(pred_values) - tp, len(gold_values) - tp


def extraction_metrics(field_names: Sequence[str], gold: Sequence[dict],
                       predicted: Sequence[dict | None],
                       tolerances: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Per-field and overall (micro) precision/recall/F1 over stated values, and per-field
    accuracy over notes; an invalid answer states nothing.

    Null (or an empty list) means "the note does not state it" and is not a value: a null
    where the gold is null adds nothing to precision, recall or F1 (it is not a true
    positive), a value where the gold is null is a false positive, a null where the gold has
    a value a false negative. ``accuracy`` is the share of notes whose field is exactly right,
    nulls included, and ``stated`` how many gold notes state the field. A number counts as
    right within its field's ``tolerances`` entry (absolute; exact without one)."""
    tolerances = tolerances or {}
    per_field: dict[str, dict[str, float]] = {}
    total = [0, 0, 0]
    for name in field_names:
        tolerance = tolerances.get(name, 0.0)
        tp = fp = fn = 0
        for g, p in zip(gold, predicted, strict=True):
            a, b, c = field_counts(g.get(name), (p or {}).get(name), tolerance)
            tp, fp, fn = tp + a, fp + b, fn + c
        agree = sum(p is not None and field_counts(g.get(name), p.get(name), tolerance)[1:]
                    == (0, 0) for g, p in zip(gold, predicted, strict=True))
        stated = sum(bool(_values(g.get(name))) for g in gold)
        per_field[name] = {**_prf(tp, fp, fn), "accuracy": agree / max(1, len(gold)),
                           "stated": stated}
        total = [total[0] + tp, total[1] + fp, total[2] + fn]
    overall = _prf(*total)
    return {
        "n": len(gold),
        "field_precision": overall["precision"],
        "field_recall": overall["recall"],
        "field_f1": overall["f1"],
        "exact_match": sum(p is not None and all(
            field_counts(g.get(k), p.get(k), tolerances.get(k, 0.0))[1:] == (0, 0)
            for k in field_names)
            for g, p in zip(gold, predicted, strict=True)) / max(1, len(gold)),
        "invalid": sum(p is None for p in predicted),
        "per_field": per_field,
    }


def enum_confusion(field_values: Sequence[Any], gold: Sequence[Any],
                   predicted: Sequence[Any]) -> dict[str, Any]:
    """Confusion matrix of one enum field's values (a prediction of :data:`MISSING` stands
    for an invalid answer): rows gold, columns predicted, over the field's values plus
    ``null`` and ``<invalid>``."""
    from sklearn.metrics import confusion_matrix

    def name(value: Any) -> str:
        return "null" if value is None else value if isinstance(value, str) else str(value)

    labels = [name(v) for v in field_values]
    if "null" not in labels:
        labels.append("null")
    labels.append(MISSING)
    matrix = confusion_matrix([name(g) for g in gold],
                              [name(p) for p in predicted],
                              labels=labels)
    return {"labels": labels, "matrix": matrix.tolist()}


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}
