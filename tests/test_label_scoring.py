"""Label scoring with llama.cpp equals the MLX scoring, also for labels that part ways after
their first token (scored in one batch of continuations sharing the prompt's cache)."""

from __future__ import annotations

import pytest

from mlxmed.inference.labels import branch_points
from mlxmed.inference.llama_predictor import LlamaPredictor
from mlxmed.inference.mlx_predictor import MlxPredictor
from mlxmed.models import hub as modelhub
from mlxmed.models.chat_tokenizer import ChatTokenizer
from mlxmed.tasks import load_task

TASK = """\
name: pain_timing
kind: classification
instruction: When did the patient have chest pain?
text_field: text
label_field: label
labels:
  - name: PAIN
    definition: chest pain, timing not stated
  - name: PAIN NOW
    definition: chest pain at admission
  - name: PAIN BEFORE
    definition: chest pain in the past only
  - name: NO PAIN
    definition: no chest pain
max_seq_length: 512
"""
NOTES = ["Reports chest pain since today.", "Chest pain two years ago, none since.",
         "Denies any pain.", "Lives with his wife. Pain in the chest."]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_models):
    root = tmp_path_factory.mktemp("label_scoring")
    (root / "task.yaml").write_text(TASK)
    gguf = tiny_models("llama", "F32")
    model_dir = modelhub.convert(str(gguf), out=root / "m", dtype="float32").path
    return load_task(root / "task.yaml"), gguf, model_dir


def test_llama_label_probabilities_equal_mlx_ones(setup):
    from mlx_lm import load

    task, gguf, model_dir = setup
    chat = ChatTokenizer(model_dir)
    label_ids = [chat.answer_ids(task.messages(NOTES[0]), name) for name in task.label_names]
    deeper = [prefix for prefix in branch_points(label_ids) if prefix]
    assert deeper, "the labels must part ways after their first token for this test"
    model, _ = load(str(model_dir))
    mlx_predictor = MlxPredictor(task, model, chat)
    llama_predictor = LlamaPredictor(task, gguf, n_ctx=1024)
    for note in NOTES * 2:  # the second round reuses the cache of the shared prompt start
        ours, theirs = mlx_predictor.predict(task.messages(note)), \
            llama_predictor.predict(task.messages(note))
        assert theirs.value == ours.value
        assert sum(theirs.probabilities.values()) == pytest.approx(1.0, abs=1e-9)
        for label in task.label_names:
            # llama.cpp keeps its attention cache in float16
            assert theirs.probabilities[label] == pytest.approx(ours.probabilities[label],
                                                                abs=2e-3)
