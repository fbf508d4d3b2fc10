"""GGUF / Hugging Face / hub conversion on tiny random models, checked against llama.cpp."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from texts import LONG_CLINICAL_TEXT, TOKENIZER_SAMPLES
from tokenizers import Tokenizer

from mlxmed.artifacts import ModelDir
from mlxmed.errors import MlxmedError
from mlxmed.inference.llama_runtime import open_gguf
from mlxmed.models import hub as modelhub

# Max |logit difference| allowed between MLX and llama.cpp, by storage type. F32/F16: only
# float rounding. Q4/Q8: llama.cpp also quantizes the activations (to 8 bits) inside its
# quantized matmuls, which MLX does not do on dequantized weights.
LOGIT_TOLERANCE = {"F32": 0.02, "F16": 0.03, "Q8_0": 0.4, "Q4_0": 0.4, "Q4_1": 0.4}


def mlx_logits(model_dir: Path, ids: list[int]) -> np.ndarray:
    import mlx.core as mx
    from mlx_lm import load

    model, _ = load(str(model_dir))
    return np.array(model(mx.array([ids]))[0].astype(mx.float32))


def llama_logits(gguf_path: Path, ids: list[int]) -> np.ndarray:
    llm = open_gguf(gguf_path, n_ctx=max(64, len(ids) + 8), logits_all=True)
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def llama_tokenize(gguf_path: Path, texts: list[str]) -> list[list[int]]:
    llm = open_gguf(gguf_path, n_ctx=64)
    return [llm.tokenize(t.encode("utf-8"), add_bos=False, special=False) for t in texts]


@pytest.mark.parametrize("arch", ["llama", "qwen2", "qwen3"])
@pytest.mark.parametrize("qtype", ["F32", "F16", "Q8_0", "Q4_0", "Q4_1"])
def test_gguf_import_logits_match_llama_cpp(tiny_models, tmp_path, arch, qtype):
    gguf_path = tiny_models(arch, qtype)
    out = modelhub.convert(str(gguf_path), out=tmp_path / "m", dtype="float32").path
    ids = Tokenizer.from_file(str(out / "tokenizer.json")).encode(LONG_CLINICAL_TEXT).ids[:200]
    ours, theirs = mlx_logits(out, ids), llama_logits(gguf_path, ids)
    same_argmax = float(np.mean(ours.argmax(-1) == theirs.argmax(-1)))
    max_diff = float(np.abs(ours - theirs).max())
    print(f"{arch} {qtype}: {len(ids)} positions, argmax agreement {same_argmax:.3f}, "
          f"max |diff| {max_diff:.4f}")
    assert same_argmax >= 0.95
    assert max_diff <= LOGIT_TOLERANCE[qtype]


def test_gguf_import_tokenizer_matches_llama_cpp(tiny_models, tmp_path):
    gguf_path = tiny_models("llama", "F32")
    out = modelhub.convert(str(gguf_path), out=tmp_path / "m").path
    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    expected = llama_tokenize(gguf_path, TOKENIZER_SAMPLES)
    for text, ids in zip(TOKENIZER_SAMPLES, expected, strict=True):
        assert tokenizer.encode(text, add_special_tokens=False).ids == ids, text
        assert tokenizer.decode(ids) == text


def test_gguf_import_sentencepiece_tokenizer_matches_llama_cpp(tiny_models, tmp_path):
    gguf_path = tiny_models("llama", "Q8_0", vocab="spm")
    out = modelhub.convert(str(gguf_path), out=tmp_path / "m").path
    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    llm = open_gguf(gguf_path, n_ctx=64)
    for text in TOKENIZER_SAMPLES:
        expected = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        assert tokenizer.encode(text).ids == expected, text
        assert expected[0] == 1  # BOS, as the file asks for
    ids = tokenizer.encode(LONG_CLINICAL_TEXT).ids
    assert np.mean(mlx_logits(out, ids).argmax(-1) == llama_logits(gguf_path, ids).argmax(-1)) \
        >= 0.95


def test_hf_directory_and_gguf_of_the_same_model_agree(tiny_models, tmp_path):
    from_hf = modelhub.convert(str(tiny_models("llama", kind="hf")), out=tmp_path / "hf",
                               dtype="float32").path
    from_gguf = modelhub.convert(str(tiny_models("llama", "F32")), out=tmp_path / "gguf",
                                 dtype="float32").path
    ids = Tokenizer.from_file(str(from_hf / "tokenizer.json")).encode(LONG_CLINICAL_TEXT).ids
    np.testing.assert_allclose(mlx_logits(from_hf, ids), mlx_logits(from_gguf, ids), atol=1e-4)


def test_quantize_4_keeps_gguf_blocks_and_quantizes_float_matrices(tiny_models, tmp_path):
    out = modelhub.convert(str(tiny_models("llama", "Q4_1")), out=tmp_path / "q", quantize=4).path
    config = json.loads((out / "config.json").read_text())
    assert config["quantization"]["bits"] == 4
    assert config["quantization"]["model.layers.0.self_attn.q_proj"] == {"group_size": 32,
                                                                          "bits": 4}
    out_f = modelhub.convert(str(tiny_models("llama", "F16")), out=tmp_path / "f", quantize=8).path
    config_f = json.loads((out_f / "config.json").read_text())
    assert config_f["quantization"]["model.layers.1.mlp.down_proj"] == {"group_size": 64,
                                                                         "bits": 8}


def test_hub_download_path_uses_the_local_cache_when_offline(tiny_models, isolated_home,
                                                            monkeypatch, tmp_path):
    """The real huggingface_hub snapshot code, served from a pre-filled cache directory."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = isolated_home / "hub" / "models--clinic--tiny-llama"
    snapshot = repo / "snapshots" / revision
    shutil.copytree(tiny_models("llama", kind="hf"), snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setenv("MLXMED_OFFLINE", "1")
    assert modelhub.download("clinic/tiny-llama") == snapshot
    out = modelhub.convert("hf:clinic/tiny-llama", dtype="float32").path
    assert out == isolated_home / "models" / "clinic--tiny-llama"
    assert ModelDir.is_converted(out)
    with pytest.raises(MlxmedError, match="not found in the local download cache"):
        modelhub.download("clinic/absent-model")


def test_hub_download_never_fetches_pickles_or_code():
    assert all(not p.endswith((".bin", ".pt", ".pth", ".py", ".pkl"))
               for p in modelhub.HUB_ALLOW_PATTERNS)


def test_converted_model_is_marked_and_listed(tiny_models, isolated_home):
    out = modelhub.convert(str(tiny_models("llama", "Q8_0"))).path
    assert out.parent == isolated_home / "models"
    assert out.name in modelhub.converted_models()
    assert modelhub.resolve_model_dir(out.name).path == out


# --- bad input: one clear line, no partial output ------------------------------------------

def _assert_nothing_left(directory: Path) -> None:
    leftovers = [p.name for p in directory.iterdir()] if directory.exists() else []
    assert leftovers == [], leftovers


def test_unknown_model_name(tmp_path):
    with pytest.raises(MlxmedError, match="unknown model 'no-such-model'.*mlxmed models"):
        modelhub.convert("no-such-model", out=tmp_path / "out")
    _assert_nothing_left(tmp_path)


def test_missing_gguf_path(tmp_path):
    with pytest.raises(MlxmedError, match="no such GGUF file"):
        modelhub.convert(str(tmp_path / "absent.gguf"), out=tmp_path / "out")
    _assert_nothing_left(tmp_path)


@pytest.mark.parametrize("keep_fraction", [0.0, 0.01, 0.5, 0.97])
def test_truncated_gguf(tiny_models, tmp_path, keep_fraction):
    data = tiny_models("llama", "Q8_0").read_bytes()
    broken = tmp_path / "in" / "broken.gguf"
    broken.parent.mkdir()
    broken.write_bytes(data[: int(len(data) * keep_fraction)])
    with pytest.raises(MlxmedError, match="truncated|corrupt"):
        modelhub.convert(str(broken), out=tmp_path / "out" / "m")
    _assert_nothing_left(tmp_path / "out")


def test_not_a_gguf_file(tmp_path):
    fake = tmp_path / "notes.gguf"
    fake.write_text("this is a clinical note, not a model")
    with pytest.raises(MlxmedError, match="not a readable GGUF"):
        modelhub.convert(str(fake), out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unsupported_gguf_architecture(tmp_path):
    import gguf

    path = tmp_path / "mamba.gguf"
    writer = gguf.GGUFWriter(str(path), "mamba")
    writer.add_tensor("token_embd.weight", np.zeros((8, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(MlxmedError, match="architecture 'mamba' is not supported.*llama, qwen2"):
        modelhub.convert(str(path), out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unsupported_hf_architecture(tiny_models, tmp_path):
    hf = tmp_path / "hf"
    shutil.copytree(tiny_models("llama", kind="hf"), hf)
    config = json.loads((hf / "config.json").read_text())
    config["model_type"] = "made_up_arch"
    (hf / "config.json").write_text(json.dumps(config))
    with pytest.raises(MlxmedError, match="architecture 'made_up_arch' is not supported"):
        modelhub.convert(str(hf), out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_pickled_weights_are_refused(tiny_models, tmp_path):
    hf = tmp_path / "hf"
    shutil.copytree(tiny_models("llama", kind="hf"), hf)
    (hf / "model.safetensors").unlink()
    (hf / "pytorch_model.bin").write_bytes(struct.pack("<Q", 0))
    with pytest.raises(MlxmedError, match="pickled weights are never loaded"):
        modelhub.convert(str(hf), out=tmp_path / "out")


def test_existing_output_is_not_overwritten_without_force(tiny_models, tmp_path):
    out = modelhub.convert(str(tiny_models("llama", "F32")), out=tmp_path / "m").path
    with pytest.raises(MlxmedError, match="already holds a converted model.*--force"):
        modelhub.convert(str(tiny_models("llama", "F32")), out=out)
    assert modelhub.convert(str(tiny_models("llama", "F16")), out=out, force=True).path == out
    assert json.loads((out / "mlxmed.json").read_text())["source"].endswith("F16.gguf")
