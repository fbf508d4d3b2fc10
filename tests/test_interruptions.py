"""Training and extraction stopped at random moments (SIGINT or SIGKILL) and resumed end
exactly where an uninterrupted run ends: the same adapter weights and a finished run record;
the same extraction rows (apart from the per-row timing), none lost and none repeated."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mlxmed.extract import iter_rows, run_extract
from mlxmed.tasks import load_task

TASK = "examples/smoking/task.yaml"
TRAIN_ARGS = ["--iters", "8", "--batch-size", "4", "--lr", "3e-3", "--evals-per-epoch", "4",
              "--patience", "10", "--val-limit", "8"]


def mlxmed(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlxmed", *args]


def interrupt(command: list[str], delay: float, sig: int) -> int:
    """Start ``command``, send ``sig`` after ``delay`` seconds; its exit code."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(sig)
    return process.wait(timeout=300)


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return time.perf_counter() - started


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_training_stopped_at_a_random_moment_resumes_to_the_same_adapter(tiny_setup, tmp_path,
                                                                         seed):
    import mlx.core as mx

    root, model_dir = tiny_setup
    base = ["train", str(root / "task.yaml"), "--model", str(model_dir), "--data",
            str(root / "data"), *TRAIN_ARGS]
    straight = tmp_path / "straight"
    duration = timed(mlxmed(*base, "--out", str(straight)))
    rng = random.Random(seed)
    run_dir = tmp_path / "stopped"
    sig = signal.SIGKILL if seed % 2 else signal.SIGINT
    code = interrupt(mlxmed(*base, "--out", str(run_dir)), rng.uniform(0.3, 1.0) * duration,
                     sig)
    print(f"seed {seed}: stopped with {sig.name} at exit code {code}")
    record_path = run_dir / "run.json"
    finished = record_path.exists() and json.loads(record_path.read_text())["status"] == \
        "finished"  # (a signal in the last moments can land after the run's end)
    if code != 0 and not finished:  # resume it (a new run if it had not even begun)
        resume = ["--resume"] if record_path.exists() else []
        result = subprocess.run(mlxmed(*base, "--out", str(run_dir), *resume),
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["last_step"] == 8
    history = [(e["type"], e["step"]) for e in record["history"]]
    assert len(history) == len(set(history))  # nothing logged twice
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert logged == record["history"]
    for name in ("last", "best"):
        ours = mx.load(str(run_dir / "adapters" / name / "adapters.safetensors"))
        theirs = mx.load(str(straight / "adapters" / name / "adapters.safetensors"))
        assert ours.keys() == theirs.keys()
        for key in ours:
            np.testing.assert_allclose(np.array(ours[key]), np.array(theirs[key]), atol=1e-5)


@pytest.fixture(scope="module")
def notes(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("interrupt") / "notes.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i in range(60):
            writer.writerow([f"n{i:02d}", f"Note {i}. Former smoker, quit {i % 9 + 1} years "
                             "ago. Denies alcohol."])
    return path


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_extraction_stopped_at_a_random_moment_resumes_to_the_same_rows(tiny_models, notes,
                                                                        tmp_path, seed):
    model = tiny_models("llama", "Q8_0")
    reference = tmp_path / "reference.csv"
    run_extract(load_task(TASK), model, notes, reference, n_ctx=1024)
    out = tmp_path / "stopped.csv"
    command = mlxmed("extract", TASK, str(notes), "--model", str(model), "--out", str(out),
                     "--ctx", "1024")
    duration = timed(command[:-4] + ["--out", str(tmp_path / "timing.csv"), "--ctx", "1024"])
    rng = random.Random(seed)
    stops = 0
    for round_ in range(3):  # stopped up to three times, at random moments
        sig = signal.SIGKILL if (seed + round_) % 2 else signal.SIGINT
        resume = ["--resume"] if out.exists() else []
        code = interrupt(command + resume, rng.uniform(0.2, 0.9) * duration, sig)
        stops += code != 0
        if code == 0:
            break
    result = subprocess.run(command + ["--resume"], capture_output=True, text=True,
                            timeout=600, env={**os.environ})
    assert result.returncode == 0, result.stderr
    print(f"seed {seed}: stopped {stops} times")

    def without_timing(path):
        return [{k: v for k, v in row.items() if k != "ms"} for row in iter_rows(path)]

    assert without_timing(out) == without_timing(reference)
