"""Does fine-tuning the bundled SmolLM2 teach it the smoking task, and does the export keep what
it learned? One training run with every default of the catalogue (LoRA on 8 layers, lr 5e-4,
the 300-step minimum) on 100 demo notes (~25 minutes on a 2-core CPU), then held-out scoring,
quantized exports and the LoRA-only GGUF."""

from __future__ import annotations

from collections import Counter

import pytest

from mlxmed.artifacts import ModelDir, PreparedData, Run, read_chats
from mlxmed.data import run_data
from mlxmed.evaluate.baselines import baselines
from mlxmed.export import base_gguf, export_run
from mlxmed.inference.llama_predictor import LlamaPredictor
from mlxmed.inference.mlx_predictor import evaluate_chats
from mlxmed.tasks import load_task
from mlxmed.training import TrainSettings, train

pytestmark = pytest.mark.slow
TASK = "examples/smoking/task.yaml"


@pytest.fixture(scope="module")
def learned_run(bundled_mlx, tmp_path_factory):
    root = tmp_path_factory.mktemp("bundled_learning")
    data = root / "data"
    run_data(load_task(TASK), "examples/smoking/notes.csv", data, sizes=(100,),
             model_dir=bundled_mlx)
    result = train(load_task(TASK), ModelDir.open(bundled_mlx), PreparedData.open(data),
                   root / "run",
                   # the recipe a user gets; only validation is trimmed (30 notes)
                   TrainSettings(val_limit=30),
                   train_file=data / "subsets" / "train_100.jsonl")
    assert result.status == "finished"
    return root, result


def test_fine_tuning_beats_zero_shot_on_the_test_split(learned_run, bundled_mlx):
    root, result = learned_run
    task = load_task(TASK)
    losses = [e["val_loss"] for e in result.history if e["type"] == "eval"]
    test = read_chats(root / "data" / "test.jsonl")
    zero_shot = evaluate_chats(task, bundled_mlx, test)["macro_f1"]
    tuned = evaluate_chats(task, bundled_mlx, test,
                           adapter_dir=result.run_dir / "adapters" / "best")["macro_f1"]
    # a model that gives every note the most common label: what "learnt only the prior" scores
    gold = [task.parse_answer(chat[-1]["content"]).value for chat in test]
    majority = task.metrics(gold, [Counter(gold).most_common(1)[0][0]] * len(gold))
    # the classic baseline on the same 100 notes (whole notes, no focus), for the record
    tfidf = baselines(task, PreparedData.open(root / "data"), 100)["tfidf_logreg"]
    print(f"{result.history[-1]['step']} steps, best at {result.best_step}; validation loss "
          f"{losses[0]:.3f} (zero-shot) -> {min(losses):.3f}; test macro-F1 on {len(test)} "
          f"notes: zero-shot {zero_shot:.3f}, "
          f"fine-tuned {tuned:.3f} (the majority label for every note: "
          f"{majority['macro_f1']:.3f}; TF-IDF + logistic regression: {tfidf['macro_f1']:.3f})")
    assert min(losses) < losses[0]
    assert tuned > zero_shot and tuned > majority["macro_f1"] + 0.03
    # measured 0.465 against TF-IDF's 0.291 (the classic baseline reads the whole note)
    assert tuned > tfidf["macro_f1"]


def test_quantized_exports_agree_with_mlx_on_the_validation_split(learned_run):
    root, result = learned_run
    valid = read_chats(root / "data" / "valid.jsonl")
    agreement = {}
    for quant in ("Q8_0", "Q4_K_M"):
        exported = export_run(Run.open(result.run_dir), quant, verify=True, min_agreement=0.0,
                              verify_limit=len(valid))
        assert exported.compared == len(valid)
        agreement[quant] = exported.agreement
        unsure = exported.disagreement_confidence
        print(f"{quant}: agreement with MLX {exported.agreement:.3f} on {exported.compared} "
              f"validation notes, {exported.size_bytes / 1e6:.0f} MB"
              + (f"; where they differ, MLX's label probability was at most {unsure:.2f}"
                 if unsure is not None else ""))
    assert agreement["Q8_0"] >= 0.9
    # Q4_K_M measured 0.73-0.93 with the earlier 16-layer recipe (its disagreements all on
    # notes where MLX itself gave its label a probability under ~0.45: 4-bit rounding tips
    # those coin flips) and 0.962 with the 8-layer default (Q8_0 0.990); guard against worse
    assert agreement["Q4_K_M"] >= 0.8


def test_lora_gguf_on_the_base_answers_like_the_fused_file(learned_run, bundled_mlx, tmp_path):
    root, result = learned_run
    task = load_task(TASK)
    fused = export_run(Run.open(result.run_dir), "F16", out=tmp_path / "fused.gguf",
                       verify=False).path
    lora = export_run(Run.open(result.run_dir), adapter_only=True, out=tmp_path / "lora.gguf").path
    # what a hospital already has
    base = base_gguf(ModelDir.open(bundled_mlx), tmp_path / "base-f16.gguf")
    prompts = [chat[:-1] for chat in read_chats(root / "data" / "valid.jsonl")[:30]]
    answers = {}
    for name, path, adapter in (("fused", fused, None), ("lora", base, lora),
                                ("base", base, None)):
        predictor = LlamaPredictor(task, path, n_ctx=1024, lora_path=adapter)
        answers[name] = [predictor.predict(prompt).value for prompt in prompts]
    same = sum(a == b for a, b in zip(answers["fused"], answers["lora"], strict=True))
    untouched = sum(a == b for a, b in zip(answers["fused"], answers["base"], strict=True))
    print(f"LoRA GGUF on the base vs the fused file: {same}/{len(prompts)} answers the same "
          f"(the base alone: {untouched}/{len(prompts)})")
    assert same >= 0.95 * len(prompts) and untouched < 0.8 * len(prompts)
