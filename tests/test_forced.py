"""Extraction's validation metric with the gold answer fed in (mlxmed.training.forced): the
value spans, the tokens of each field, and the batched (and trunk) reading against a plain
note-by-note pass of the whole model."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from mlxmed.artifacts import ModelDir, PreparedData
from mlxmed.inference.vocab import model_token_bytes
from mlxmed.tasks import load_task
from mlxmed.tasks.values import format_json
from mlxmed.training import TrainSettings, train
from mlxmed.training.forced import HEADLINE, ForcedReader, field_tokens, forced_metrics

CARDIO = "examples/cardio_de/task.yaml"
TASK = """\
name: findings
kind: extraction
instruction: Extract the count and the side from the note.
text_field: text
id_field: id
gold_field: gold
fields:
  count: {type: [integer, "null"], minimum: 0, maximum: 99}
  side: {type: [string, "null"], enum: ["links", "rechts", null]}
  tags: {type: array, items: {type: string, enum: ["Ödem", "Erguss"]}}
max_seq_length: 512
"""


def cardio_golds(count: int = 40) -> list[dict]:
    with open("examples/cardio_de/reports.jsonl", encoding="utf-8") as handle:
        return [json.loads(line)["gold"] for line in handle][:count]


def test_value_spans_cover_each_value_and_the_byte_closing_it():
    task = load_task(CARDIO)
    for gold in cardio_golds():
        answer = task.answer_for(gold)
        data = answer.encode()
        spans = task.value_spans(answer)
        assert list(spans) == task.field_names
        canonical = json.loads(answer)
        for name, (start, end) in spans.items():
            assert data[start:end - 1].decode() == format_json(canonical[name])
            assert data[end - 1:end] in (b",", b"}")


@pytest.fixture(scope="module")
def tiny_extraction(tmp_path_factory, tiny_setup):
    from mlxmed.data import run_data

    root = tmp_path_factory.mktemp("forced")
    _, model_dir = tiny_setup
    (root / "task.yaml").write_text(TASK, encoding="utf-8")
    rng = random.Random(3)
    with (root / "notes.jsonl").open("w", encoding="utf-8") as handle:
        for i in range(40):
            count, side = rng.choice([None, 2, 17]), rng.choice([None, "links", "rechts"])
            tags = sorted(rng.sample(["Ödem", "Erguss"], rng.randint(0, 2)))
            text = f"Befund {i}: {count or 'keine'} Herde {side or ''}. {' '.join(tags)}"
            gold = {"count": count, "side": side, "tags": tags}
            handle.write(json.dumps({"id": f"n{i}", "text": text, "gold": gold},
                                    ensure_ascii=False) + "\n")
    run_data(load_task(root / "task.yaml"), root / "notes.jsonl", root / "data", sizes=(16,),
             model_dir=model_dir)
    return root, model_dir


def test_each_field_gets_the_tokens_that_write_its_value(tiny_extraction):
    root, model_dir = tiny_extraction
    task, model = load_task(root / "task.yaml"), ModelDir.open(model_dir)
    chat = model.chat_tokenizer()
    pieces = model_token_bytes(model_dir)
    for messages in PreparedData.open(root / "data").chats("valid"):
        ids, offset = chat.example_ids(messages)
        answer = messages[-1]["content"]
        tokens = field_tokens(task, answer, ids[offset:], pieces)
        spans = task.value_spans(answer)
        for name, indices in zip(task.field_names, tokens, strict=True):
            written = b"".join(pieces[ids[offset + i]] for i in indices)
            start, end = spans[name]
            assert answer.encode()[start:end] in written  # the value and its closing byte
            assert indices == list(range(indices[0], indices[-1] + 1))


def reference_hits(model, task, chat, chats, pieces) -> list[list[bool]]:
    """The same reading, one note at a time through the whole model, no prefix sharing."""
    import mlx.core as mx

    from mlxmed.inference.mlx_predictor import hidden_states, project

    hits = []
    for messages in chats:
        ids, offset = chat.example_ids(messages)
        logits = project(model, hidden_states(model, mx.array([ids[:-1]])))[0]
        guess = np.array(mx.argmax(logits, axis=-1))[offset - 1:]
        right = guess == np.array(ids[offset:])
        tokens = field_tokens(task, messages[-1]["content"], ids[offset:], pieces)
        hits.append([bool(right[t].all()) for t in tokens])
    return hits


def test_batched_and_trunk_readings_equal_a_plain_pass_of_a_trained_model(tiny_extraction,
                                                                          tmp_path):
    from mlx_lm import load

    from mlxmed.accel.trunk import FrozenTrunk

    root, model_dir = tiny_extraction
    task, data = load_task(root / "task.yaml"), PreparedData.open(root / "data")
    result = train(task, ModelDir.open(model_dir), data, tmp_path / "run",
                   TrainSettings(iters=40, batch_size=4, learning_rate=3e-3, rank=8, alpha=16,
                                 layers=2, evals_per_epoch=1, patience=10))
    evals = [e for e in result.history if e["type"] == "eval"]
    assert all(e["metric"] == HEADLINE and 0.0 <= e["value"] <= 1.0 for e in evals)
    print("forced field accuracy by evaluation:", [round(e["value"], 3) for e in evals])
    assert evals[-1]["value"] > evals[0]["value"]  # the tiny model learns the easy fields

    model, _ = load(str(model_dir), adapter_path=str(tmp_path / "run" / "adapters" / "last"))
    model.eval()
    chat = ModelDir.open(model_dir).chat_tokenizer()
    chats = data.chats("valid")
    pieces = model_token_bytes(model_dir)
    expected = reference_hits(model, task, chat, chats, pieces)
    assert any(any(row) for row in expected) and not all(all(row) for row in expected)
    assert ForcedReader(task, chat, chats, 4, 512).hits(model) == expected
    trunk = FrozenTrunk(model, 2)
    assert ForcedReader(task, chat, chats, 3, 512).hits(model, trunk) == expected
    metrics = forced_metrics(task, expected)
    assert metrics["headline"] == pytest.approx(np.mean(expected))
    # the run's last evaluation (the reader prepared once, reused) read the same weights
    assert evals[-1]["value"] == pytest.approx(metrics["headline"])
    assert metrics["per_field"]["count"] == pytest.approx(np.mean([r[0] for r in expected]))
