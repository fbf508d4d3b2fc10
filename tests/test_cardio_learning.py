"""The German cardiology extraction task end to end on the bundled SmolLM2: train on a
learning-curve subset with the default recipe, export Q8_0 with verification, extract the test
split with llama.cpp, evaluate. The fine-tuned model must beat the zero-shot model and the
trivial baselines on the same notes, and the export must answer like the trained model."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from mlxmed.artifacts import ModelDir, Run
from mlxmed.data import run_data
from mlxmed.evaluate.compare import evaluate
from mlxmed.export import base_gguf, export_run
from mlxmed.extract import run_extract
from mlxmed.inference.llama_runtime import quantize_gguf
from mlxmed.tasks import load_task
from mlxmed.training import TrainSettings, train

# A measurement, not a CI test: about two hours on 2 cores with the default 300-step budget, and
# on the bundled 135M model it does not yet meet every bar (issue 18). Run it with
# `make measure`.
pytestmark = [pytest.mark.slow, pytest.mark.measurement]
TASK = "examples/cardio_de/task.yaml"
NOTES = "examples/cardio_de/reports.jsonl"
TRAIN_NOTES = 50


@pytest.fixture(scope="module")
def cardio(bundled_mlx, tmp_path_factory):
    root = tmp_path_factory.mktemp("cardio_learning")
    task = load_task(TASK)
    data = run_data(task, NOTES, root / "data", sizes=(TRAIN_NOTES,),
                    model_dir=bundled_mlx).folder
    result = train(task, ModelDir.open(bundled_mlx), data, root / "run", TrainSettings(),
                   train_file=data.subset_path(TRAIN_NOTES))
    evals = [e for e in result.history if e["type"] == "eval"]
    print("validation forced field accuracy by step: " + ", ".join(
        f"{e['value']:.3f} ({e['step']})" for e in evals))
    assert result.status in ("finished", "early_stopped")
    return root, data, result


def trivial_baselines(task, gold: list[dict]) -> dict[str, float]:
    """Field-F1 of every field null (empty lists) and of each field's most frequent gold
    value among the notes that state it (the most frequent list for list fields)."""
    nulls = [{name: [] if isinstance(g[name], list) else None for name in task.field_names}
             for g in gold]
    frequent = {}
    for name in task.field_names:
        stated = [json.dumps(g[name], ensure_ascii=False) for g in gold
                  if g[name] not in (None, [])]
        frequent[name] = json.loads(Counter(stated).most_common(1)[0][0]) if stated else None
    return {"all null": task.metrics(gold, nulls)["field_f1"],
            "most frequent": task.metrics(gold, [dict(frequent) for _ in gold])["field_f1"]}


def test_fine_tuned_extraction_beats_zero_shot_and_trivial_baselines(cardio, bundled_mlx,
                                                                     tmp_path):
    root, data, result = cardio
    task = load_task(TASK)
    test_notes = data.records_path("test")
    exported = export_run(Run.open(result.run_dir), "Q8_0", out=tmp_path / "tuned.gguf",
                          verify=True, min_agreement=0.0, verify_limit=20)
    base = tmp_path / "base-q8_0.gguf"
    quantize_gguf(base_gguf(ModelDir.open(bundled_mlx), tmp_path / "base-f16.gguf"), base,
                  "Q8_0")
    scores, reports = {}, {}
    for name, gguf in (("zero-shot", base), ("fine-tuned", exported.path)):
        out = tmp_path / f"{name}.jsonl"
        summary = run_extract(task, gguf, test_notes, out)
        assert summary.written == summary.total
        reports[name] = evaluate(task, out, test_notes)
        scores[name] = reports[name]["metrics"]["field_f1"]
    gold = [r["gold"] for r in data.records("test")]
    baselines = trivial_baselines(task, gold)
    per_field = reports["fine-tuned"]["metrics"]["per_field"]
    print(f"cardiology, {len(gold)} test notes, trained on {TRAIN_NOTES} "
          f"({result.best_step} steps best): field-F1 zero-shot {scores['zero-shot']:.3f}, "
          f"fine-tuned {scores['fine-tuned']:.3f}; all null {baselines['all null']:.3f}, most "
          f"frequent value {baselines['most frequent']:.3f}; invalid answers "
          f"{reports['fine-tuned']['invalid_outputs']}")
    print("per field F1 (fine-tuned): " + ", ".join(f"{k} {v['f1']:.2f}"
                                                     for k, v in per_field.items()))
    print(f"Q8_0 export: exact-JSON agreement with MLX {exported.agreement:.2f} on "
          f"{exported.compared} validation notes; per field "
          + ", ".join(f"{k} {v:.2f}" for k, v in exported.field_agreement.items()))
    assert scores["fine-tuned"] > scores["zero-shot"] + 0.05
    assert scores["fine-tuned"] > max(baselines.values()) + 0.05
    assert min(exported.field_agreement.values()) >= 0.9
    # the output carries each field's confidence, a probability
    rows = [json.loads(line) for line in (tmp_path / "fine-tuned.jsonl").read_text().splitlines()]
    confidences = [row[f"{name}_confidence"] for row in rows if row["status"] == "ok"
                   for name in task.field_names]
    assert confidences and all(0.0 <= c <= 1.0 for c in confidences if c is not None)
