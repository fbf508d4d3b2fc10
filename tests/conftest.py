"""Shared fixtures. Every test runs with its own MLXMED_HOME, so nothing touches ~/.cache."""

from __future__ import annotations

import csv
import os
import random
import sys
from pathlib import Path

import pytest

import mlxmed  # noqa: F401  - sets up OpenBLAS and the offline environment before mlx loads
from mlxmed.tasks import load_task

sys.path.insert(0, str(Path(__file__).parent))

from factory import TinyConfig, write_gguf, write_hf_dir  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("mlxmed_home")
    monkeypatch.setenv("MLXMED_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Build tiny models on demand, cached for the session: tiny_models(arch, qtype)."""
    root = tmp_path_factory.mktemp("tiny_models")
    cache: dict[tuple, Path] = {}

    def make(arch: str = "llama", qtype: str = "F32", kind: str = "gguf",
             vocab: str = "bpe") -> Path:
        key = (arch, qtype, kind, vocab)
        if key not in cache:
            cfg = TinyConfig(arch=arch)
            if kind == "gguf":
                suffix = "" if vocab == "bpe" else f"-{vocab}"
                cache[key] = write_gguf(root / f"tiny-{arch}-{qtype}{suffix}.gguf", cfg, qtype,
                                        vocab)
            else:
                cache[key] = write_hf_dir(root / f"tiny-{arch}-hf", cfg)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def bundled_gguf() -> Path:
    from mlxmed.models.catalogue import get_entry
    from mlxmed.models.hub import bundled_gguf_path

    return bundled_gguf_path(get_entry("smollm2-135m-bundled"))


@pytest.fixture(scope="session")
def bundled_mlx(tmp_path_factory) -> Path:
    """The bundled SmolLM2-135M converted once per test session (float32), by its catalogue
    name as `mlxmed convert smollm2-135m-bundled` does, so training takes the catalogue's
    defaults (converted from the bare .gguf path it would take the fallback ones)."""
    from mlxmed.models import hub as modelhub

    out = tmp_path_factory.mktemp("bundled") / "smollm2-135m"
    converted = modelhub.convert("smollm2-135m-bundled", out=out, dtype="float32")
    assert converted.catalogue_entry() is not None
    return converted.path


def pytest_configure(config):
    os.environ.setdefault("MLXMED_LLAMA_THREADS", "2")


TASK = """\
name: chest_pain
kind: classification
instruction: Does the note say that the patient has chest pain now?
text_field: text
id_field: id
label_field: label
labels:
  - name: PAIN
    definition: chest pain is reported
  - name: NO PAIN
    definition: chest pain is not reported
max_seq_length: 512
"""
FILLER = ["Blood pressure was normal.", "He walks daily.", "Lives with his wife.",
          "Takes aspirin 100 mg.", "No fever.", "Follow-up in 3 months.", "Sleeps well."]


@pytest.fixture(scope="session")
def tiny_setup(tmp_path_factory, tiny_models):
    """A converted tiny model and a prepared little data set (64 short notes)."""
    root = tmp_path_factory.mktemp("train")
    from mlxmed.data import run_data
    from mlxmed.models import hub as modelhub

    model_dir = modelhub.convert(str(tiny_models("llama", "F32")), out=root / "model",
                                 dtype="float32").path
    (root / "task.yaml").write_text(TASK)
    rng = random.Random(7)
    with (root / "notes.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        for i in range(64):
            pain = i % 2 == 0
            words = rng.sample(FILLER, 2) + (["Reports chest pain since today."] if pain
                                             else ["Denies any pain."])
            rng.shuffle(words)
            writer.writerow([f"n{i}", " ".join(words), "PAIN" if pain else "NO PAIN"])
    run_data(load_task(root / "task.yaml"), root / "notes.csv", root / "data", sizes=(16,),
             model_dir=model_dir)
    return root, model_dir


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_setup, tiny_models):
    """A studio workspace over the tiny setup (task, notes, labels, runs, a GGUF)."""
    from studio_workspace import build_workspace

    root, model_dir = tiny_setup
    return build_workspace(tmp_path_factory.mktemp("ws") / "study", root, model_dir,
                           tiny_models("llama", "Q8_0"))


@pytest.fixture(scope="module")
def server(workspace, tmp_path_factory):
    """`mlxmed studio` serving :func:`workspace` in its own process."""
    from studio_server import StudioServer

    running = StudioServer(workspace, tmp_path_factory.mktemp("log") / "studio.log").start()
    yield running
    running.stop()
