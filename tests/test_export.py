"""Export of a trained tiny run: F16 logits equal MLX's, tokenizer/template/EOS/provenance are
in the file, quantized files agree with MLX, the adapter-only GGUF equals the fused file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from texts import LONG_CLINICAL_TEXT, TOKENIZER_SAMPLES

from mlxmed.artifacts import ModelDir, PreparedData, Run
from mlxmed.errors import MlxmedError
from mlxmed.export import base_gguf, export_run
from mlxmed.export.gguf_writer import fuse_adapter, write_gguf
from mlxmed.inference.llama_runtime import open_gguf
from mlxmed.models.chat_tokenizer import ChatTokenizer
from mlxmed.models.gguf_import import read_gguf_metadata
from mlxmed.tasks import load_task
from mlxmed.training import TrainSettings, train

# F16 storage rounds each fused float32 weight to 11 significant bits: logits of order 10
# move by up to ~0.1; a wrong tensor layout would move them by whole units.
F16_MAX_LOGIT_DIFF = 0.15


@pytest.fixture(scope="module")
def tiny_run(tiny_setup, tmp_path_factory):
    root, model_dir = tiny_setup
    run_dir = tmp_path_factory.mktemp("export") / "run"
    train(load_task(root / "task.yaml"), ModelDir.open(model_dir), PreparedData.open(root / "data"),
          run_dir,
          # unbalanced: the adapter the F16 tolerance below was set for (the adapter of a
          # balanced run is another model; its F16 export differed by up to 0.18)
          TrainSettings(iters=6, batch_size=4, learning_rate=1e-2, rank=8, alpha=16, patience=10,
                        balance=False))
    return run_dir, model_dir


def test_f16_export_matches_the_fused_mlx_model(tiny_run):
    import mlx.core as mx

    run_dir, model_dir = tiny_run
    result = export_run(Run.open(run_dir), "F16", verify=True)
    print(f"F16 export: max |logit diff| {result.max_logit_diff:.4f}, agreement "
          f"{result.agreement:.2f} on {result.compared} validation notes")
    assert result.max_logit_diff <= F16_MAX_LOGIT_DIFF
    assert result.agreement >= 0.99
    fused, _ = fuse_adapter(model_dir, run_dir / "adapters" / "best")
    chat = ChatTokenizer(model_dir)
    ids = chat.encode(LONG_CLINICAL_TEXT)[:300]
    ours = np.array(fused(mx.array([ids]))[0].astype(mx.float32))
    llm = open_gguf(result.path, n_ctx=512, logits_all=True, f32_kv_cache=True)
    llm.eval(ids)
    theirs = np.asarray(llm.scores[: len(ids)], dtype=np.float32)
    assert np.mean(ours.argmax(-1) == theirs.argmax(-1)) >= 0.99
    assert np.abs(ours - theirs).max() <= F16_MAX_LOGIT_DIFF
    for text in TOKENIZER_SAMPLES:
        assert llm.tokenize(text.encode(), add_bos=False, special=False) == chat.encode(text)


def test_export_carries_template_eos_and_provenance(tiny_run):
    run_dir, model_dir = tiny_run
    result = export_run(Run.open(run_dir), "F16", out=run_dir / "meta.gguf", verify=False)
    meta = read_gguf_metadata(result.path)
    config = json.loads((model_dir / "tokenizer_config.json").read_text())
    assert meta["tokenizer.chat_template"] == config["chat_template"]
    tokens = meta["tokenizer.ggml.tokens"]
    assert tokens[meta["tokenizer.ggml.eos_token_id"]] == "<|im_end|>"
    record = json.loads((run_dir / "run.json").read_text())
    assert meta["mlxmed.run_id"] == record["run_id"]
    assert meta["mlxmed.train_data_sha256"] == record["data"]["train_sha256"]
    assert "label_field" in meta["mlxmed.task_spec"]
    # the base model by its folder's name: a shared GGUF carries no path of this machine
    assert meta["mlxmed.base_model"] == Path(record["model"]["dir"]).name == model_dir.name


@pytest.mark.parametrize("quant", ["Q8_0", "Q4_K_M"])
def test_quantized_exports_load_and_agree(tiny_run, quant):
    run_dir, _ = tiny_run
    result = export_run(Run.open(run_dir), quant, verify=True, min_agreement=0.9)
    print(f"{quant}: {result.size_bytes} bytes, agreement {result.agreement:.2f}")
    assert result.agreement >= 0.9
    assert read_gguf_metadata(result.path)["general.file_type"] == {"Q8_0": 7, "Q4_K_M": 15}[quant]


def test_adapter_only_gguf_on_the_base_equals_the_fused_file(tiny_run, tmp_path):
    run_dir, model_dir = tiny_run
    fused = export_run(Run.open(run_dir), "F16", out=tmp_path / "fused.gguf", verify=False)
    adapter = export_run(Run.open(run_dir), adapter_only=True, out=tmp_path / "lora.gguf")
    base = base_gguf(ModelDir.open(model_dir), tmp_path / "base.gguf")
    ids = ChatTokenizer(model_dir).encode(LONG_CLINICAL_TEXT)[:200]
    with_lora = open_gguf(base, n_ctx=256, logits_all=True, lora_path=str(adapter.path),
                          f32_kv_cache=True)
    with_lora.eval(ids)
    merged = open_gguf(fused.path, n_ctx=256, logits_all=True, f32_kv_cache=True)
    merged.eval(ids)
    a = np.asarray(with_lora.scores[: len(ids)])
    b = np.asarray(merged.scores[: len(ids)])
    plain = open_gguf(base, n_ctx=256, logits_all=True, f32_kv_cache=True)
    plain.eval(ids)
    c = np.asarray(plain.scores[: len(ids)])
    assert np.abs(a - c).max() > 10 * np.abs(a - b).max()  # the adapter really acts
    assert np.abs(a - b).max() <= F16_MAX_LOGIT_DIFF
    assert np.mean(a.argmax(-1) == b.argmax(-1)) >= 0.99


def test_unsupported_architecture_is_named(tiny_run, tmp_path):
    _, model_dir = tiny_run
    model, config = fuse_adapter(model_dir, None)
    with pytest.raises(MlxmedError, match="'gemma2' cannot be exported.*llama, mistral, qwen2"):
        write_gguf(model, {**config, "model_type": "gemma2"}, model_dir, tmp_path / "x.gguf")


def test_export_refuses_a_run_whose_task_file_changed(tiny_setup, tmp_path):
    """The run learnt the prompt of the task as trained; a task file edited since then would
    make `extract` ask something else: export names the file and refuses."""
    root, model_dir = tiny_setup
    task_file = tmp_path / "task.yaml"
    shutil.copy(root / "task.yaml", task_file)
    run_dir = tmp_path / "run"
    train(load_task(task_file), ModelDir.open(model_dir), PreparedData.open(root / "data"),
          run_dir, TrainSettings(iters=2, batch_size=4, val_limit=2))
    run = Run.open(run_dir)
    assert run.task().spec_hash() == load_task(task_file).spec_hash()  # stored as trained
    task_file.write_text(task_file.read_text().replace("instruction: ", "instruction: Now, "))
    with pytest.raises(MlxmedError, match=r"task.yaml changed since run .* was trained"):
        export_run(run, "F16", out=tmp_path / "x.gguf", verify=False)
    assert not (tmp_path / "x.gguf").exists()


def test_missing_run_is_a_clear_error(tmp_path):
    with pytest.raises(MlxmedError, match="not a training run"):
        export_run(Run.open(tmp_path))


def test_cli_export(tiny_run, tmp_path):
    import os
    import subprocess
    import sys

    run_dir, _ = tiny_run
    out = tmp_path / "cli.gguf"
    result = subprocess.run([sys.executable, "-m", "mlxmed", "export", str(run_dir), "--quant",
                             "Q8_0", "--out", str(out), "--verify-notes", "5"],
                            capture_output=True, text=True, env={**os.environ}, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Agreement with the MLX model: 100% of 5" in result.stdout
    assert out.is_file() and not list(tmp_path.glob(".*partial*"))


def test_failed_verification_removes_the_file(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    with pytest.raises(MlxmedError, match=r"agrees with the trained model on only .* \(minimum "
                                          r"101%\); try a larger --quant"):
        export_run(Run.open(run_dir), "Q8_0", out=tmp_path / "x.gguf", min_agreement=1.01)
    assert list(tmp_path.iterdir()) == []


def test_failed_verification_says_when_the_trained_model_was_unsure(tiny_run, tmp_path,
                                                                      monkeypatch):
    """Disagreements only where MLX itself gave its label a probability under one half: the
    error points at the training, not only at the quantization."""
    from mlxmed.inference.llama_predictor import LlamaPredictor
    from mlxmed.inference.mlx_predictor import MlxPredictor
    from mlxmed.inference.predictor import Prediction

    run_dir, _ = tiny_run
    confidences = iter([0.9, 0.45, 0.9, 0.3] * 50)

    def mlx_side(self, prompt):
        confidence = next(confidences)
        return Prediction("yes" if confidence > 0.5 else "no", "", confidence, None)

    monkeypatch.setattr(MlxPredictor, "predict", mlx_side)
    monkeypatch.setattr(LlamaPredictor, "predict",
                        lambda self, prompt: Prediction("yes", "", 0.8, None))
    with pytest.raises(MlxmedError, match=r"agrees with the trained model on only 50% of 4 .*"
                                          r"unsure \(its label probability at most 0.45\): "
                                          r"train on more notes"):
        export_run(Run.open(run_dir), "Q8_0", out=tmp_path / "x.gguf", verify_limit=4)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("arch", ["llama", "qwen2", "qwen3"])
def test_f16_writer_matches_mlx_for_each_architecture(tiny_models, tmp_path, arch):
    import mlxmed.models.hub as modelhub

    model_dir = modelhub.convert(str(tiny_models(arch, "F32")), out=tmp_path / "m",
                                 dtype="float32").path
    model, config = fuse_adapter(model_dir, None)
    path = tmp_path / "out.gguf"
    write_gguf(model, config, model_dir, path, "F16")
    import mlx.core as mx

    ids = ChatTokenizer(model_dir).encode(LONG_CLINICAL_TEXT)[:300]
    ours = np.array(model(mx.array([ids]))[0].astype(mx.float32))
    llm = open_gguf(path, n_ctx=512, logits_all=True, f32_kv_cache=True)
    llm.eval(ids)
    theirs = np.asarray(llm.scores[: len(ids)], dtype=np.float32)
    print(f"{arch} F16 export: max |logit diff| {np.abs(ours - theirs).max():.4f}")
    assert np.abs(ours - theirs).max() <= F16_MAX_LOGIT_DIFF
    assert np.mean(ours.argmax(-1) == theirs.argmax(-1)) >= 0.99


def test_a_model_converted_from_a_hf_directory_keeps_its_template_and_exports(tiny_models,
                                                                              tmp_path):
    """Newer tokenizers save the template as chat_template.jinja: it must still be used."""
    import mlx.core as mx
    from factory import CHATML

    import mlxmed.models.hub as modelhub
    from mlxmed.models.chat_template import load_chat_template

    model_dir = modelhub.convert(str(tiny_models("llama", kind="hf")), out=tmp_path / "m",
                                 dtype="float32").path
    assert load_chat_template(model_dir)[0] == CHATML
    model, config = fuse_adapter(model_dir, None)
    path = tmp_path / "hf.gguf"
    write_gguf(model, config, model_dir, path, "F16")  # vocabulary rebuilt from tokenizer.json
    assert read_gguf_metadata(path)["tokenizer.chat_template"] == CHATML
    assert read_gguf_metadata(path)["tokenizer.ggml.pre"] == "smollm"
    chat = ChatTokenizer(model_dir)
    ids = chat.encode(LONG_CLINICAL_TEXT)[:200]
    llm = open_gguf(path, n_ctx=256, logits_all=True, f32_kv_cache=True)
    assert llm.tokenize(LONG_CLINICAL_TEXT.encode(), add_bos=False, special=False)[:200] == ids
    llm.eval(ids)
    ours = np.array(model(mx.array([ids]))[0].astype(mx.float32))
    assert np.abs(ours - np.asarray(llm.scores[: len(ids)])).max() <= F16_MAX_LOGIT_DIFF
