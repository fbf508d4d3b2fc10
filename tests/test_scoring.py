"""MLX-side answers: label scoring with a shared prefix cache equals scoring from scratch."""

from __future__ import annotations

import numpy as np
import pytest

from mlxmed import modelhub
from mlxmed.prompting import ChatTokenizer
from mlxmed.scoring import Predictor, score_labels
from mlxmed.tasks import load_task

NOTES = ["Pt reports chest pain since this morning.", "Walks daily, no complaints.",
         "Denies any pain. Blood pressure normal."]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_models):
    root = tmp_path_factory.mktemp("scoring")
    model_dir = modelhub.convert(str(tiny_models("llama", "F32")), out=root / "m",
                                 dtype="float32")
    from mlx_lm import load

    model, _ = load(str(model_dir))
    return model, ChatTokenizer(model_dir), load_task("examples/smoking/task.yaml")


def test_prefix_cache_gives_the_same_label_scores(tiny):
    model, chat, task = tiny
    predictor = Predictor(task, model, chat)
    labels = [chat.answer_ids(task.messages(NOTES[0]), name) for name in task.label_names]
    for note in NOTES:
        messages = task.messages(note)
        prompt = chat.prompt_ids(messages)
        shared = predictor.shared_length(prompt)
        assert shared > 100  # the instruction and label definitions
        cached = score_labels(model, prompt, labels, predictor.prefix, shared)
        fresh = score_labels(model, prompt, labels)
        np.testing.assert_allclose(cached, fresh, atol=1e-3)
    assert len(predictor.prefix.ids) == shared  # computed once, reused for every note


def test_confidences_are_probabilities_over_the_labels(tiny):
    model, chat, task = tiny
    predictor = Predictor(task, model, chat)
    prediction = predictor.predict(task.messages(NOTES[1]))
    assert prediction.value in task.label_names
    assert 1 / len(task.label_names) <= prediction.confidence <= 1


def test_prefix_cache_gives_the_same_greedy_answer(tiny, monkeypatch):
    model, chat, _ = tiny
    task = load_task("examples/cardio_de/task.yaml")
    predictor = Predictor(task, model, chat, max_tokens=6)
    messages = task.messages("LV-EF 55 %, Sinusrhythmus.")
    with_cache = predictor.predict(messages).text
    monkeypatch.setattr(predictor, "shared_length", lambda prompt: 0)
    assert predictor.predict(messages).text == with_cache
