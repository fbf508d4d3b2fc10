"""MLX-side answers: label scoring with a shared prefix cache equals scoring from scratch."""

from __future__ import annotations

import numpy as np
import pytest

from mlxmed.inference.labels import label_prediction
from mlxmed.inference.mlx_predictor import MlxPredictor, score_labels
from mlxmed.models import hub as modelhub
from mlxmed.models.chat_tokenizer import ChatTokenizer
from mlxmed.tasks import load_task

NOTES = ["Pt reports chest pain since this morning.", "Walks daily, no complaints.",
         "Denies any pain. Blood pressure normal."]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_models):
    root = tmp_path_factory.mktemp("scoring")
    model_dir = modelhub.convert(str(tiny_models("llama", "F32")), out=root / "m",
                                 dtype="float32").path
    from mlx_lm import load

    model, _ = load(str(model_dir))
    return model, ChatTokenizer(model_dir), load_task("examples/smoking/task.yaml")


def test_prefix_cache_gives_the_same_label_scores(tiny):
    model, chat, task = tiny
    predictor = MlxPredictor(task, model, chat)
    labels = [chat.answer_ids(task.messages(NOTES[0]), name) for name in task.label_names]
    for note in NOTES:
        messages = task.messages(note)
        prompt = chat.prompt_ids(messages)
        shared = predictor.shared_length(prompt)
        assert shared > 100  # the instruction and label definitions
        cached = score_labels(model, prompt, labels, predictor.prefix, shared)
        fresh = score_labels(model, prompt, labels)
        for a, b in zip(cached, fresh, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-3)
    assert len(predictor.prefix.ids) == shared  # computed once, reused for every note


def test_confidences_are_probabilities_over_the_labels(tiny):
    model, chat, task = tiny
    predictor = MlxPredictor(task, model, chat)
    prediction = predictor.predict(task.messages(NOTES[1]))
    assert prediction.value in task.label_names
    assert 1 / len(task.label_names) <= prediction.confidence <= 1


def test_prefix_cache_gives_the_same_greedy_answer(tiny, monkeypatch):
    model, chat, _ = tiny
    task = load_task("examples/cardio_de/task.yaml")
    predictor = MlxPredictor(task, model, chat, max_tokens=6)
    messages = task.messages("LV-EF 55 %, Sinusrhythmus.")
    with_cache = predictor.predict(messages).text
    monkeypatch.setattr(predictor, "shared_length", lambda prompt: 0)
    assert predictor.predict(messages).text == with_cache


def _logprobs(label_ids, table):
    """Token log-probabilities from a {answer prefix: {token: probability}} table."""
    return [np.log([table[tuple(ids[:depth])].get(token, 0.5) for depth, token in
                    enumerate(ids)]) for ids in label_ids]


def test_label_probabilities_are_those_of_constrained_decoding():
    # A = [1, 9], B = [2, 9], C = [2, 3, 9]: A and the B/C branch part ways at the first
    # token, B and C at the second; the end token 9 is forced, its value is irrelevant
    label_ids = [[1, 9], [2, 9], [2, 3, 9]]
    table = {(): {1: 0.1, 2: 0.3}, (1,): {9: 0.01}, (2,): {9: 0.2, 3: 0.6}, (2, 3): {9: 0.7}}
    prediction = label_prediction(["A", "B", "C"], label_ids, _logprobs(label_ids, table))
    probabilities = prediction.probabilities
    assert probabilities["A"] == pytest.approx(0.1 / 0.4)
    assert probabilities["B"] == pytest.approx(0.3 / 0.4 * 0.2 / 0.8)
    assert probabilities["C"] == pytest.approx(0.3 / 0.4 * 0.6 / 0.8)
    assert sum(probabilities.values()) == pytest.approx(1)
    assert prediction.value == "C" and prediction.confidence == pytest.approx(0.5625)


def test_predicted_label_is_the_greedy_one():
    # the first choice goes to the B/C branch (0.55 > 0.45), then to B: what a constrained
    # greedy decoder writes, although A alone has the larger share (0.45 > 0.33)
    label_ids = [[1, 9], [2, 9], [2, 3, 9]]
    table = {(): {1: 0.45, 2: 0.55}, (1,): {}, (2,): {9: 0.6, 3: 0.4}, (2, 3): {}}
    prediction = label_prediction(["A", "B", "C"], label_ids, _logprobs(label_ids, table))
    assert prediction.value == "B"
    assert prediction.confidence == pytest.approx(0.33)
    assert prediction.probabilities["A"] == pytest.approx(0.45)
