"""The real bundled SmolLM2 through train -> export -> extract (short, to keep CI fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlxmed.artifacts import ModelDir, PreparedData, Run
from mlxmed.data import run_data
from mlxmed.export import export_run
from mlxmed.extract import iter_rows, run_extract
from mlxmed.inference.llama_runtime import open_gguf
from mlxmed.tasks import load_task
from mlxmed.training import TrainSettings, train

pytestmark = pytest.mark.slow
TASK = "examples/smoking/task.yaml"


@pytest.fixture(scope="module")
def bundled_run(bundled_mlx, tmp_path_factory):
    root = tmp_path_factory.mktemp("bundled_pipeline")
    run_data(load_task(TASK), "examples/smoking/notes.csv", root / "data", sizes=(25,),
             model_dir=bundled_mlx)
    result = train(load_task(TASK), ModelDir.open(bundled_mlx), PreparedData.open(root / "data"),
                   root / "run",
                   TrainSettings(iters=4, batch_size=2, layers=4, learning_rate=5e-4,
                                 val_limit=4, patience=10),
                   train_file=root / "data" / "subsets" / "train_25.jsonl")
    return root, result


def test_short_training_lowers_the_validation_loss(bundled_run):
    _, result = bundled_run
    losses = [e["val_loss"] for e in result.history if e["type"] == "eval"]
    print("bundled SmolLM2 validation loss:", [round(x, 3) for x in losses])
    assert result.status == "finished" and len(losses) >= 2
    assert losses[-1] < losses[0]


def test_f16_export_of_the_trained_model_matches_mlx(bundled_run):
    root, result = bundled_run
    exported = export_run(Run.open(result.run_dir), "F16", verify=True, verify_limit=6)
    print(f"bundled F16 export: max logit diff {exported.max_logit_diff:.4f}, agreement "
          f"{exported.agreement:.2f}")
    assert exported.max_logit_diff <= 0.5
    assert exported.agreement >= 5 / 6
    llm = open_gguf(exported.path, n_ctx=512)
    reply = llm.create_chat_completion([{"role": "user", "content": "Smoking status?"}],
                                       max_tokens=64, temperature=0)
    assert reply["choices"][0]["finish_reason"] == "stop"  # EOS and template made it across
    meta_eos = llm.metadata.get("tokenizer.ggml.eos_token_id")
    assert meta_eos is not None and int(meta_eos) == 2


def test_extract_with_the_exported_q8_0_model(bundled_run):
    root, result = bundled_run
    exported = export_run(Run.open(result.run_dir), "Q8_0", verify=False)
    out = root / "pred.jsonl"
    run_extract(load_task(TASK), exported.path, root / "data" / "records" / "test.jsonl", out,
                limit=4)
    rows = list(iter_rows(out))
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    confidences = np.array([float(r["confidence"]) for r in rows])
    assert np.all((confidences > 0.2) & (confidences <= 1.0))
    assert json.loads(out.read_text().splitlines()[0])["id"] == rows[0]["id"]
