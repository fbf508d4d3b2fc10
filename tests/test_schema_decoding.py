"""Extraction decoding: the forced JSON skeleton is fed in batches and checked, the answers are
exactly those of llama.cpp's own grammar-constrained greedy decoding, the MLX engine gives the
same answers as llama.cpp on the same weights, and each field's confidence is the probability
the model gives its chosen value (checked against a brute-force computation)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlxmed.inference.llama_predictor import LlamaPredictor
from mlxmed.tasks import load_task

TASK = Path(__file__).parent / "fixtures" / "cardio_task.yaml"
REPORTS = Path(__file__).parent / "fixtures" / "reports.jsonl"


def prompts(task, count: int = 8) -> list[list[dict[str, str]]]:
    rows = [json.loads(line) for line in REPORTS.read_text(encoding="utf-8").splitlines()]
    return [task.messages(row["text"]) for row in rows[:count]]


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_answers_equal_llama_cpp_grammar_decoding(tiny_models, arch):
    task = load_task(TASK)
    predictor = LlamaPredictor(task, tiny_models(arch, "F32"), n_ctx=1024, max_tokens=96)
    checked = generated = 0
    for messages in prompts(task):
        plain = predictor.grammar_generate(messages, task.grammar())
        ours = predictor.schema_answer(messages, task.answer_pattern)
        assert ours.text == plain, (ours.text, plain)
        checked, generated = checked + ours.checked, generated + ours.generated
    print(f"{arch}: {checked} of {generated} answer tokens fed as forced text and checked")
    assert checked > generated / 3  # the skeleton really is fed in batches


def test_mlx_and_llama_cpp_give_the_same_answers(tiny_models, tmp_path):
    from mlx_lm import load

    from mlxmed.inference.mlx_predictor import MlxPredictor
    from mlxmed.models import hub
    from mlxmed.models.chat_tokenizer import ChatTokenizer

    task = load_task(TASK)
    gguf = tiny_models("llama", "F32")
    model_dir = hub.convert(str(gguf), out=tmp_path / "m", dtype="float32").path
    model, _ = load(str(model_dir))
    mlx_side = MlxPredictor(task, model, ChatTokenizer(model_dir), max_tokens=96)
    llama_side = LlamaPredictor(task, gguf, n_ctx=1024, max_tokens=96)
    same = 0
    for messages in prompts(task):
        a = mlx_side.schema_answer(messages, task.answer_pattern)
        b = llama_side.schema_answer(messages, task.answer_pattern)
        same += a.text == b.text
        for name in task.field_names:
            if a.text == b.text and a.field_confidence[name] is not None:
                assert abs(a.field_confidence[name] - b.field_confidence[name]) < 0.02
    assert same >= 7


def test_confidence_is_the_probability_of_the_chosen_value(tiny_models, tmp_path):
    """Recompute each field's confidence by brute force over the whole vocabulary: at every
    token of the value where the pattern allowed a choice, the chosen token's probability
    among all allowed tokens; their product is the value's probability."""
    from mlx_lm import load

    from mlxmed.inference.mlx_predictor import MlxEngine, MlxPredictor
    from mlxmed.models import hub
    from mlxmed.models.chat_tokenizer import ChatTokenizer

    task = load_task(TASK)
    model_dir = hub.convert(str(tiny_models("llama", "F32")), out=tmp_path / "m",
                            dtype="float32").path
    model, _ = load(str(model_dir))
    predictor = MlxPredictor(task, model, ChatTokenizer(model_dir), max_tokens=96)
    pattern, pieces = task.answer_pattern, predictor.token_pieces()
    end = predictor.chat.end_of_turn_id()
    for messages in prompts(task, 4):
        decoded = predictor.schema_answer(messages, pattern)
        assert decoded.complete
        engine = MlxEngine(predictor)
        logits = engine.start(predictor.chat.prompt_ids(messages))
        rows = [logits, *engine.feed(decoded.tokens)]
        spans = pattern.value_spans(decoded.text.encode("utf-8"))
        expected = dict.fromkeys(task.field_names, 1.0)
        answer = b""
        for token, row in zip(decoded.tokens, rows, strict=False):
            piece = pieces[token]
            allowed = [t for t, p in enumerate(pieces) if p and pattern.viable(answer + p)]
            if pattern.complete(answer):
                allowed.append(end)
            if not pattern.forced(answer):
                values = row[allowed].astype(np.float64)
                probability = float(np.exp(row[token] - np.logaddexp.reduce(values)))
                for name, (start, stop) in spans.items():
                    if len(answer) < stop and len(answer) + len(piece) > start:
                        expected[name] *= probability
            answer += piece
        for name in task.field_names:
            got = decoded.field_confidence[name]
            assert 0 < got <= 1 and abs(got - expected[name]) < 1e-4, (name, got, expected)
