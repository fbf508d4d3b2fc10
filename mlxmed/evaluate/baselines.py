"""Classic baselines on the same split: what a fine-tuned model has to beat to be worth it.

Classification: the majority label of the training notes for every test note, and TF-IDF
(word 1-2-grams) + logistic regression with balanced class weights, trained on the same notes
the model was trained on (the whole note text, untruncated). Extraction: every field null,
and every field its most frequent training value. Scored with the task's own metrics.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from mlxmed.artifacts import PreparedData
from mlxmed.errors import MlxmedError
from mlxmed.tasks import Task

TFIDF_C = 10.0  # weak regularisation: a few hundred notes, many n-grams
# how each baseline is called in tables and plots
TITLES = {"majority": "majority label", "tfidf_logreg": "TF-IDF + logistic regression",
          "all_null": "every field null", "most_frequent": "most frequent values"}


def baselines(task: Task, data: PreparedData, size: int | None = None) -> dict[str, dict]:
    """{baseline name: the task's metrics on the test split}, trained on the ``size``-note
    learning-curve subset (or the whole train split)."""
    records = data.records("train")
    if size:
        wanted = set(data.subset_ids(size))
        records = [r for r in records if r["id"] in wanted]
        if len(records) != len(wanted):
            raise MlxmedError(f"{data.path}: the subset of {size} notes names ids that are not "
                              "in records/train.jsonl; run `mlxmed data` again")
    test = data.records("test")
    gold = [r["gold"] for r in test]
    if task.kind == "extraction":
        return _extraction_baselines(task, records, gold)
    majority = Counter(r["gold"] for r in records).most_common(1)[0][0]
    return {"majority": task.metrics(gold, [majority] * len(gold)),
            "tfidf_logreg": task.metrics(gold, tfidf_predictions(records, test))}


def tfidf_predictions(train: list[dict[str, Any]], test: list[dict[str, Any]]) -> list[str]:
    """Labels for ``test`` from TF-IDF + logistic regression fitted on ``train``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    labels = [r["gold"] for r in train]
    if len(set(labels)) < 2:  # nothing to tell apart
        return [labels[0]] * len(test)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    try:
        features = vectorizer.fit_transform([r["text"] for r in train])
    except ValueError:  # no word of two characters in any note: only the prior is left
        return [Counter(labels).most_common(1)[0][0]] * len(test)
    classifier = LogisticRegression(max_iter=2000, class_weight="balanced", C=TFIDF_C)
    classifier.fit(features, labels)
    return [str(label) for label in
            classifier.predict(vectorizer.transform([r["text"] for r in test]))]


def _extraction_baselines(task: Task, train: list[dict], gold: list[dict]) -> dict[str, dict]:
    def most_frequent(name: str):
        return json.loads(Counter(json.dumps(r["gold"][name]) for r in train)
                          .most_common(1)[0][0])

    frequent = {name: most_frequent(name) for name in task.field_names}
    nulls = {name: [] if isinstance(value, list) else None for name, value in frequent.items()}
    return {"all_null": task.metrics(gold, [nulls] * len(gold)),
            "most_frequent": task.metrics(gold, [frequent] * len(gold))}
