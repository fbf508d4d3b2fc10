"""The workspace listing, and training jobs in a child process: events relayed line by line,
progress and time left, a SIGINT that stops safely, and the resumed run finishing."""

from __future__ import annotations

import contextlib
import signal
import time

import pytest

from mlxmed.artifacts import ModelDir, Run
from mlxmed.errors import MlxmedError
from mlxmed.jobs import Job, JobState, check_settings, plan_job, resume_spec
from mlxmed.jobs.worker import finite
from mlxmed.labelling import LabelStore
from mlxmed.tasks import load_task
from mlxmed.workspace import Workspace


def test_the_workspace_lists_everything_with_its_status(workspace):
    ws = Workspace(workspace)
    LabelStore(load_task(workspace / "task.yaml"), ws.labels_file(
        load_task(workspace / "task.yaml"), workspace / "notes.csv")).set("n0", "t", "PAIN")
    entries = {(e.category, e.path): e for e in ws.scan()}
    assert entries["task", "task.yaml"].status == "ok"
    broken = entries["task", "broken.yaml"]
    assert broken.status == "error" and "unknown key 'labelz'" in broken.summary
    assert "\n" not in broken.summary
    assert entries["notes", "notes.csv"].details["rows"] == 64
    assert entries["labels", "labels/chest_pain--notes.csv"].details["rows"] == 1
    output = entries["output", "out.csv"]
    assert output.details["status_counts"] == {"ok": 52, "error": 12}
    assert output.details["answer_columns"] == ["label"]
    assert entries["model", "models/tiny"].status == "ok"
    assert entries["gguf", "tiny.gguf"].details["bytes"] > 0
    assert entries["report", "reports/first"].details["task_name"] == "chest_pain"
    assert [r["n"] for r in entries["curve", "curves/first"].details["rows"]] == [0, 16, 32]
    assert ("notes", "models/tiny/tokenizer.json") not in entries  # a model's own files


def test_paths_from_a_page_stay_inside_the_workspace(workspace):
    ws = Workspace(workspace)
    assert ws.resolve("task.yaml") == workspace / "task.yaml"
    for outside in ("../etc/passwd", "/etc/passwd", "labels/../../x", ""):
        with pytest.raises(MlxmedError):
            ws.resolve(outside)


def test_settings_from_a_form_are_checked():
    assert check_settings({"iters": "4", "learning_rate": "1e-3", "rank": "", "epochs": None}) \
        == {"iters": 4, "learning_rate": 0.001}
    assert check_settings({"learning_rate": "0,0005"}) == {"learning_rate": 0.0005}
    for bad, message in (({"iters": "2.5"}, "whole number"), ({"rank": "-1"}, "greater"),
                         ({"epochs": 2, "iters": 3}, "either"), ({"seed": 1}, "cannot be set")):
        with pytest.raises(MlxmedError, match=message):
            check_settings(bad)


def test_the_state_folds_events_into_progress_and_time_left():
    state = JobState()
    events = [{"type": "job", "kind": "train", "out_dir": "r"}, {"type": "data_start"},
              {"type": "start", "resolved": {"iters": 10}, "resumed_from": 0}]
    events += [{"type": "step", "step": s, "total": 10, "time": 100.0 + 2 * s}
               for s in range(1, 5)]
    events += [{"type": "validating"}, {"type": "step", "step": 5, "total": 10, "time": 150.0},
               {"type": "train", "step": 5, "loss": 0.5},
               {"type": "eval", "step": 5, "metric": "macro_f1", "value": 0.4, "best": 0.4,
                "val_loss": 0.7}]
    for event in events:
        state.update(event)
    assert state.status == "running" and state.step == 5 and state.total == 10
    assert state.eta_seconds == 10.0  # 2 s a step (the validation pause left out) x 5 steps
    assert state.metric == 0.4 and state.losses == [[5, 0.5]]
    state.update({"type": "interrupted", "message": "stopped"})
    assert state.status == "interrupted" and state.eta_seconds is None
    assert finite({"loss": float("nan"), "x": [float("inf"), 1.0]}) == {"loss": None,
                                                                         "x": [None, 1.0]}


def test_a_bad_job_is_refused_before_it_starts(workspace, tmp_path):
    model = ModelDir.open(workspace / "models" / "tiny")
    with pytest.raises(MlxmedError, match="unknown key"):
        plan_job("train", workspace / "broken.yaml", workspace / "labelled.csv", model,
                 tmp_path / "d", tmp_path / "r", {})
    with pytest.raises(MlxmedError, match="at least one size above 0"):
        plan_job("curve", workspace / "task.yaml", workspace / "labelled.csv", model,
                 tmp_path / "d", tmp_path / "r", {}, "0")


@contextlib.contextmanager
def sigint_deaf():
    """SIGINT ignored in this process and blocked in this thread while the block runs: what a
    child started here inherits (a server or test runner can be in that state)."""
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, handler)


def test_a_job_reports_its_steps_stops_on_sigint_and_resumes(workspace, tmp_path):
    model = ModelDir.open(workspace / "models" / "tiny")
    spec = plan_job("train", workspace / "task.yaml", workspace / "labelled.csv", model,
                    tmp_path / "data", tmp_path / "run",
                    # enough steps that the run cannot end before the SIGINT arrives (40
                    # steps of the tiny model finished first once matmuls got faster)
                    {"iters": "400", "min_steps": "400", "batch_size": "2",
                     "learning_rate": "1e-3"})
    with sigint_deaf():  # the child hears SIGINT all the same (it once trained on to the end)
        job = Job(spec, tmp_path / "jobs").start()
    deadline = time.monotonic() + 120
    while job.state.step < 3 and time.monotonic() < deadline and not job.finished:
        job.wait_for_events(len(job.events), 1.0)
    assert job.state.step >= 3, job.events[-3:]
    job.cancel()  # SIGINT, as Ctrl-C
    assert job.wait(60) == 130
    deadline = time.monotonic() + 10
    while not job.finished and time.monotonic() < deadline:
        time.sleep(0.05)
    types = [e["type"] for e in job.events]
    assert types[:3] == ["job", "data_start", "data_done"]
    assert {"start", "step", "eval"} <= set(types) and types[-2:] == ["interrupted", "exit"]
    assert job.state.status == "interrupted"
    run = Run.open(tmp_path / "run")
    assert run.record.status == "interrupted" and (run.last_adapter / "state.json").is_file()
    stopped_at = run.record.last_step

    resumed = Job(resume_spec(tmp_path / "run"), tmp_path / "jobs").start()
    assert resumed.wait(180) == 0
    while not resumed.finished:
        time.sleep(0.05)
    assert resumed.state.status == "finished", resumed.state.message
    start = next(e for e in resumed.events if e["type"] == "start")
    assert start["resumed_from"] == stopped_at
    assert "data_start" not in [e["type"] for e in resumed.events]  # the data was kept
    assert Run.open(tmp_path / "run").record.status == "finished"
    with pytest.raises(MlxmedError, match="finished"):
        resume_spec(tmp_path / "run")
