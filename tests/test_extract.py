"""Batch extraction with llama.cpp on a tiny GGUF: rows, confidences, resume after a real
kill, long notes, no note text unless asked, one-line errors."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mlxmed.errors import MlxmedError
from mlxmed.extract import done_ids, iter_rows, run_extract
from mlxmed.tasks import load_task

TASK = "examples/smoking/task.yaml"


@pytest.fixture(scope="module")
def notes(tmp_path_factory):
    """40 short notes (no labels needed for extraction), with a long one among them."""
    path = tmp_path_factory.mktemp("extract") / "notes.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i in range(40):
            text = f"Note {i}. Patient quit smoking {i % 7 + 1} years ago. BP 120/80."
            if i == 5:
                # every sentence mentions smoking, so the task's focus keeps them all
                text = "History. " + "The patient smoked on the way to the clinic. " * 400 \
                    + "Smokes."
            writer.writerow([f"n{i:02d}", text])
    return path


@pytest.fixture(scope="module")
def model(tiny_models):
    return tiny_models("llama", "Q8_0")


def test_every_note_gets_a_row_with_a_label_and_confidence(notes, model, tmp_path):
    out = tmp_path / "out.csv"
    summary = run_extract(load_task(TASK), model, notes, out, n_ctx=1536)
    rows = list(iter_rows(out))
    assert [r["id"] for r in rows] == [f"n{i:02d}" for i in range(40)]
    names = load_task(TASK).label_names
    for row in rows:
        assert row["status"] == "ok" and row["label"] in names
        assert 1 / len(names) <= float(row["confidence"]) <= 1
        assert "text" not in row  # no note text unless --include-text
    assert summary.shortened == 1 and summary.errors == 0
    assert sum(summary.labels.values()) == 40


def test_jsonl_output_with_text(notes, model, tmp_path):
    out = tmp_path / "out.jsonl"
    run_extract(load_task(TASK), model, notes, out, n_ctx=1536, limit=3, include_text=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 and rows[0]["text"].startswith("Note 0.")


def test_existing_output_needs_resume(notes, model, tmp_path):
    out = tmp_path / "out.csv"
    run_extract(load_task(TASK), model, notes, out, n_ctx=1536, limit=2)
    with pytest.raises(MlxmedError, match="already exists; pass --resume"):
        run_extract(load_task(TASK), model, notes, out, n_ctx=1536, limit=2)


def test_a_killed_run_resumes_without_losing_or_repeating_rows(notes, model, tmp_path):
    reference = tmp_path / "reference.csv"
    run_extract(load_task(TASK), model, notes, reference, n_ctx=1536)
    out = tmp_path / "killed.csv"
    command = [sys.executable, "-m", "mlxmed", "extract", TASK, str(notes), "--model",
               str(model), "--out", str(out), "--ctx", "1536"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ})
    deadline = time.time() + 300
    while time.time() < deadline and (not out.exists() or len(done_ids(out)) < 8):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = len(done_ids(out))
    assert 8 <= before < 40, before
    result = subprocess.run(command + ["--resume"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"Resuming: {before} of 40" in result.stdout

    def without_timing(path):
        return [{k: v for k, v in row.items() if k != "ms"} for row in iter_rows(path)]

    assert without_timing(out) == without_timing(reference)


def test_a_truncated_last_line_is_dropped_on_resume(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("id,label,confidence,status,error,ms\nn00,UNKNOWN,0.5,ok,,10\nn01,UNKN")
    assert done_ids(out) == {"n00"}
    assert out.read_text().endswith("10\n")


def test_bad_input_is_one_clear_error(model, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text\nn1,\nn1,hello\n")
    with pytest.raises(MlxmedError) as info:
        run_extract(load_task(TASK), model, bad, tmp_path / "o.csv")
    assert "empty note text" in str(info.value) and "duplicate id" in str(info.value)
    assert not (tmp_path / "o.csv").exists()


def test_resume_with_other_columns_is_refused(notes, model, tmp_path):
    out = tmp_path / "out.csv"
    run_extract(load_task(TASK), model, notes, out, n_ctx=1536, limit=2)
    with pytest.raises(MlxmedError, match="resume with the same options"):
        run_extract(load_task(TASK), model, notes, out, n_ctx=1536, limit=4, resume=True,
                    include_text=True)
    assert len(list(iter_rows(out))) == 2


def test_label_probabilities_sum_to_one_and_confidence_is_the_chosen_one(model):
    from mlxmed.inference.llama_predictor import LlamaPredictor
    from mlxmed.tasks import load_task

    task = load_task(TASK)
    predictor = LlamaPredictor(task, model, n_ctx=1024)
    for note in ("Smokes 10 cigarettes a day.", "Never smoked.", "Quit in 1990."):
        prediction = predictor.predict(task.messages(note))
        probabilities = prediction.probabilities
        assert set(probabilities) == set(task.label_names)
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-9)
        assert prediction.confidence == pytest.approx(max(probabilities.values()))
        assert prediction.value == max(probabilities, key=probabilities.get)
