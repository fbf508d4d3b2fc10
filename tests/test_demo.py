"""The demo's own steps on tiny inputs (the real demo runs for minutes: `make demo`)."""

from __future__ import annotations

from mlxmed import demo
from mlxmed.artifacts import PreparedData
from mlxmed.tasks import load_task


def test_demo_extract_and_evaluate_steps(tiny_models, tmp_path, monkeypatch):
    from mlxmed.data import run_data

    monkeypatch.setattr(demo, "demo_workdir", lambda: tmp_path)
    monkeypatch.setattr(demo, "DEMO_TEST_NOTES", 3)
    data = tmp_path / "data"
    run_data(load_task(demo.SMOKING_TASK), demo.SMOKING_NOTES, data, sizes=())
    notes = demo.demo_test_notes(PreparedData.open(data))
    assert len(notes.read_text().splitlines()) == 3
    report = demo.extract_and_evaluate(tiny_models("llama", "Q8_0"), notes, "tiny")
    assert report["notes"] == 3 and report["missing_predictions"] == 0
    assert (tmp_path / "tiny-report" / "report.html").is_file()
    from mlxmed.cli.demo import most_frequent_answer

    answer = most_frequent_answer(report["confusion_matrix"])
    given = report["confusion_matrix"]["labels"]
    assert answer.split(" (")[0] in given and answer.endswith("/3)")


def test_most_frequent_answer_counts_the_predicted_columns():
    from mlxmed.cli.demo import most_frequent_answer

    confusion = {"labels": ["A", "B", "C"], "matrix": [[1, 2, 0], [0, 3, 0], [1, 0, 1]]}
    assert most_frequent_answer(confusion) == "B (5/8)"
