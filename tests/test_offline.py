"""The whole pipeline with networking made impossible: not one connection is attempted."""

from __future__ import annotations

import socket

import pytest

from mlxmed.artifacts import ModelDir, PreparedData, Run
from mlxmed.data import run_data
from mlxmed.evaluate.compare import evaluate
from mlxmed.evaluate.report import write_report
from mlxmed.export import export_run
from mlxmed.extract import run_extract
from mlxmed.models import hub as modelhub
from mlxmed.tasks import load_task
from mlxmed.training import TrainSettings, train


class NetworkAttempt(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Every way to open a connection raises and is recorded."""
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args)[:200])
        raise NetworkAttempt(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_pipeline_runs_with_no_network(no_network, tiny_models, bundled_gguf, tmp_path):
    bundled = modelhub.convert("smollm2-135m-bundled", out=tmp_path / "bundled").path
    assert ModelDir.is_converted(bundled)
    model_dir = modelhub.convert(str(tiny_models("llama", "F32")), out=tmp_path / "tiny").path
    data = tmp_path / "data"
    run_data(load_task("examples/smoking/task.yaml"), "examples/smoking/notes.csv", data,
             sizes=(25,),
             model_dir=model_dir, max_seq_length=4096)
    run = train(load_task("examples/smoking/task.yaml"), ModelDir.open(model_dir),
                PreparedData.open(data), tmp_path / "run",
                TrainSettings(iters=2, batch_size=2, val_limit=4, max_seq_length=4096),
                train_file=data / "subsets" / "train_25.jsonl")
    exported = export_run(Run.open(run.run_dir), "Q8_0", verify=False)
    out = tmp_path / "pred.csv"
    run_extract(load_task("examples/smoking/task.yaml"), exported.path,
                "examples/smoking/notes.csv", out,
                n_ctx=4096, limit=5)
    report = evaluate(load_task("examples/smoking/task.yaml"), out, "examples/smoking/notes.csv")
    write_report(report, tmp_path / "report")
    assert (tmp_path / "report" / "report.html").is_file()
    assert no_network == []


def test_hub_download_is_refused_by_the_guard(no_network, monkeypatch):
    """The guard really catches a download attempt (so the test above can fail)."""
    from mlxmed.errors import MlxmedError

    monkeypatch.delenv("MLXMED_OFFLINE", raising=False)
    with pytest.raises((NetworkAttempt, MlxmedError, Exception)):
        modelhub.download("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert no_network, "the download did not even try to connect"
