"""Data-parallel training over mx.distributed: two processes on this machine, started by MLX's
launcher through `mlxmed train --hosts`, train the same adapter as one process with the same
global batches, and a distributed run stopped midway resumes to it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

TRAIN_ARGS = ["--iters", "8", "--batch-size", "4", "--lr", "3e-3", "--evals-per-epoch", "4",
              "--patience", "10", "--val-limit", "8", "--layers", "2"]
TOLERANCE = 1e-4  # float32 sums in another order (two halves of each batch, then averaged)


def mlxmed(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlxmed", *args]


def local_hostfile(path: Path, processes: int = 2) -> Path:
    """An MLX hostfile whose hosts are all this machine (no ssh)."""
    path.write_text(json.dumps({"backend": "ring", "hosts": [
        {"ssh": "127.0.0.1", "ips": ["127.0.0.1"]}] * processes}))
    return path


def train_command(root: Path, model_dir: Path, out: Path, *extra: str) -> list[str]:
    return mlxmed("train", str(root / "task.yaml"), "--model", str(model_dir), "--data",
                  str(root / "data"), "--out", str(out), *TRAIN_ARGS, *extra)


def run(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)
    print(done.stdout[-3000:], done.stderr[-3000:])
    return done


def adapters(run_dir: Path, which: str) -> dict[str, np.ndarray]:
    import mlx.core as mx

    return {k: np.array(v) for k, v in
            mx.load(str(run_dir / "adapters" / which / "adapters.safetensors")).items()}


def assert_same_adapters(ours: Path, theirs: Path) -> None:
    for which in ("last", "best"):
        a, b = adapters(ours, which), adapters(theirs, which)
        assert a.keys() == b.keys()
        largest = max(float(np.abs(v).max()) for v in b.values())
        worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
        print(f"{which}: largest weight {largest:.4f}, largest difference {worst:.2e}")
        assert worst <= TOLERANCE * max(1.0, largest)


@pytest.fixture(scope="module")
def one_process_run(tiny_setup, tmp_path_factory) -> Path:
    root, model_dir = tiny_setup
    out = tmp_path_factory.mktemp("one") / "run"
    assert run(train_command(root, model_dir, out)).returncode == 0
    return out


@pytest.mark.slow
def test_two_processes_train_the_same_adapter_as_one(tiny_setup, one_process_run, tmp_path):
    root, model_dir = tiny_setup
    out = tmp_path / "run"
    done = run(train_command(root, model_dir, out, "--hosts",
                             str(local_hostfile(tmp_path / "hosts.json"))))
    assert done.returncode == 0
    assert_same_adapters(out, one_process_run)
    one = json.loads((one_process_run / "run.json").read_text())
    two = json.loads((out / "run.json").read_text())
    assert two["status"] == "finished" and two["last_step"] == 8
    # each evaluation is computed once (split over the processes) and logged once, by rank 0
    evals = [e for e in two["history"] if e["type"] == "eval"]
    assert [e["step"] for e in evals] == [e["step"] for e in one["history"]
                                          if e["type"] == "eval"]
    for ours, theirs in zip(evals, (e for e in one["history"] if e["type"] == "eval"),
                            strict=True):
        assert ours["value"] == pytest.approx(theirs["value"], abs=1e-6)
    logged = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in logged] == two["history"]
    assert "Training on" in done.stdout and done.stdout.count("Training on") == 1


@pytest.mark.slow
def test_a_stopped_distributed_run_resumes_to_the_same_adapter(tiny_setup, one_process_run,
                                                               tmp_path):
    root, model_dir = tiny_setup
    out = tmp_path / "run"
    hosts = str(local_hostfile(tmp_path / "hosts.json"))
    process = subprocess.Popen(train_command(root, model_dir, out, "--hosts", hosts),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    checkpoint = out / "adapters" / "last" / "state.json"
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert checkpoint.exists(), "no checkpoint was written"
    import os

    os.killpg(process.pid, signal.SIGKILL)  # the launcher and both training processes
    process.wait(timeout=60)
    record = json.loads((out / "run.json").read_text())
    stopped_at = json.loads(checkpoint.read_text())["step"]
    print(f"stopped after the checkpoint of step {stopped_at}, status {record['status']}")
    if record["status"] != "finished":
        done = run(train_command(root, model_dir, out, "--hosts", hosts, "--resume"))
        assert done.returncode == 0
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "finished" and record["last_step"] == 8
    history = [(e["type"], e["step"]) for e in record["history"]]
    assert len(history) == len(set(history))  # nothing logged twice
    assert_same_adapters(out, one_process_run)


@pytest.mark.slow
def test_a_curve_on_two_processes_trains_each_point_like_one(tiny_setup, tmp_path):
    root, model_dir = tiny_setup
    args = ["curve", str(root / "task.yaml"), "--model", str(model_dir), "--data",
            str(root / "data"), "--sizes", "0,16", "--min-steps", "4", "--epochs", "1",
            "--val-limit", "8", "--layers", "2"]
    assert run(mlxmed(*args, "--out", str(tmp_path / "one"))).returncode == 0
    hosts = str(local_hostfile(tmp_path / "hosts.json"))
    done = run(mlxmed(*args, "--out", str(tmp_path / "two"), "--hosts", hosts))
    assert done.returncode == 0
    one, two = (json.loads((tmp_path / name / "curve.json").read_text())
                for name in ("one", "two"))
    assert [r["n"] for r in two["rows"]] == [0, 16]
    for ours, theirs in zip(two["rows"], one["rows"], strict=True):
        assert ours["mean"] == pytest.approx(theirs["mean"], abs=1e-6)
    assert_same_adapters(tmp_path / "two" / "runs" / "n16-seed0",
                         tmp_path / "one" / "runs" / "n16-seed0")


def test_hosts_refuses_a_used_run_folder_before_starting_anything(tiny_setup, tmp_path):
    root, model_dir = tiny_setup
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.csv").write_text("id,text\n1,x\n")
    done = run(train_command(root, model_dir, out, "--hosts",
                             str(local_hostfile(tmp_path / "hosts.json"))))
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error:") and len(done.stderr.strip().splitlines()) == 1
    assert "Starting" not in done.stdout
    assert (out / "notes.csv").read_text() == "id,text\n1,x\n"


@pytest.mark.parametrize("content, expected", [
    ("not json", "not a readable JSON hostfile"),
    ("[]", "no hosts"),
    ('[{"ips": ["127.0.0.1"]}]', 'no "ssh" name'),
    ('[{"ssh": "mac1.local"}]', 'has no "ips"'),
])
def test_a_broken_hostfile_is_one_line_naming_the_fix(tiny_setup, tmp_path, content, expected):
    root, model_dir = tiny_setup
    hosts = tmp_path / "hosts.json"
    hosts.write_text(content)
    done = run(train_command(root, model_dir, tmp_path / "run", "--hosts", str(hosts)))
    assert done.returncode == 1
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and str(hosts) in line and expected in line
    assert "Starting" not in done.stdout
    assert not (tmp_path / "run").exists()


def test_the_hosts_option_is_removed_from_the_command_the_processes_run():
    from mlxmed.cli.common import argv_without

    assert argv_without("--hosts", ["train", "t.yaml", "--hosts", "h.json", "--iters", "8"]) \
        == ["train", "t.yaml", "--iters", "8"]
    assert argv_without("--hosts", ["train", "--hosts=h.json", "t.yaml"]) == ["train", "t.yaml"]
