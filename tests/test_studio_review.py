"""Review in the library: values found in the note as German and English notes write them,
the evidence sentences by leaving each out, an output beside its notes filtered and sorted
least certain first, and corrections that `mlxmed evaluate` takes as gold."""

from __future__ import annotations

import pytest
from conftest import TASK
from studio_workspace import EXTRACT_TASK, write_csv, write_output

from mlxmed.errors import MlxmedError
from mlxmed.evaluate.compare import evaluate
from mlxmed.review import (
    ReviewTable,
    answer_marks,
    leave_one_out,
    match_notes,
    segments,
    sentence_spans,
    value_spans,
)
from mlxmed.review.spans import Mark
from mlxmed.tasks import load_task


def found(text, value):
    return [text[start:end] for start, end in value_spans(text, value)]


@pytest.mark.parametrize("text, value, expected", [
    ("LV-EF 55 %, Alter 155 J., 55,5 ml", 55, ["55"]),
    ("LVEDV 147,5 ml (Vorbefund 147.5 ml)", 147.5, ["147,5", "147.5"]),
    ("EF 40.0%; EF 40%", 40, ["40.0", "40"]),
    ("Gewicht 1.200 g, eGFR 1,200; 1 200 mg", 1200, ["1.200", "1,200", "1 200"]),
    ("EF 5 %, EF 15 %", 5, ["5"]),
    ("Rhythmus: vorhofflimmern, Z.n. Vorhofflimmern-Ablation", "Vorhofflimmern",
     ["vorhofflimmern", "Vorhofflimmern"]),
    ("Diagnosen: KHK,\nHerzinsuffizienz", ["KHK", "Herzinsuffizienz"],
     ["KHK", "Herzinsuffizienz"]),
    ("mild   mitral regurgitation", "mild mitral regurgitation", ["mild   mitral regurgitation"]),
    ("nothing here", None, []), ("yes", True, []),
])
def test_values_are_found_as_notes_write_them(text, value, expected):
    assert found(text, value) == expected


def test_marks_cut_the_text_into_segments_without_losing_a_character(tmp_path):
    (tmp_path / "echo.yaml").write_text(EXTRACT_TASK)
    task = load_task(tmp_path / "echo.yaml")
    text = "LV-EF 35 %. <script>x</script> LVEDV 147,5 ml. Rhythmus: Sinusrhythmus."
    answer = {"lv_ef": 35, "lvedv_ml": 147.5, "rhythm": "Sinusrhythmus", "diagnoses": []}
    marks = answer_marks(task, text, answer)
    assert {m.tag for m in marks} == {"lv_ef", "lvedv_ml", "rhythm"}
    pieces = segments(text, marks)
    assert "".join(p["text"] for p in pieces) == text
    assert [p["text"] for p in pieces if p["marks"]] == ["35", "147,5", "Sinusrhythmus"]
    overlapping = segments("abcdef", [Mark(0, 4, "x"), Mark(2, 6, "y")])
    assert [(p["text"], [m["tag"] for m in p["marks"]]) for p in overlapping] == [
        ("ab", ["x"]), ("cd", ["x", "y"]), ("ef", ["y"])]


def test_sentence_spans_point_at_the_sentences():
    text = "Admitted 3/4.  Denies pain!\n\nSmokes 1 ppd. Plan: follow-up"
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Admitted 3/4.", "Denies pain!", "Smokes 1 ppd.", "Plan: follow-up"]


def test_the_evidence_is_the_sentence_the_answer_depends_on():
    text = "Admitted for a check-up. He smokes a pack a day. Lives with his wife."

    def probability(note):  # the model's belief in CURRENT SMOKER
        return 0.9 if "smokes" in note else 0.2

    evidence = leave_one_out(text, "CURRENT SMOKER", probability)
    assert evidence.probability == 0.9
    marked = [text[s.start:s.end] for s in evidence.sentences if s.evidence]
    assert marked == ["He smokes a pack a day."]
    assert [round(s.drop, 2) for s in evidence.sentences] == [0.0, 0.7, 0.0]
    assert [m.weight for m in evidence.marks()] == [1.0]


def test_small_drops_are_not_evidence():
    evidence = leave_one_out("One. Two.", "A", lambda note: 0.5 if "Two" in note else 0.48)
    assert not any(s.evidence for s in evidence.sentences)


@pytest.fixture
def review(tmp_path):
    (tmp_path / "task.yaml").write_text(TASK)
    task = load_task(tmp_path / "task.yaml")
    rows = [{"id": f"n{i}", "text": f"Note {i}. Chest pain {i}."} for i in range(10)]
    notes = write_csv(tmp_path / "notes.csv", ["id", "text"], [[r["id"], r["text"]]
                                                               for r in rows])
    write_csv(tmp_path / "other.csv", ["id", "text"], [["zz", "unrelated"]])
    output = write_output(tmp_path / "out.csv", rows)
    path, by_id = match_notes(task, [f"n{i}" for i in range(10)],
                              [tmp_path / "other.csv", tmp_path / "task.yaml", notes])
    assert path == notes
    table = ReviewTable(task, output, by_id, tmp_path / "labels" / "out--reviewed.csv")
    return task, table, tmp_path


def test_rows_are_least_certain_first_and_filter_by_answer_status_and_confidence(review):
    task, table, _ = review
    order = [r.id for r in table.select()]
    assert order[:2] == ["n4", "n9"]  # the errors (no answer) first
    confidences = [r.confidence for r in table.select(status="ok")]
    assert confidences == sorted(confidences)
    assert {r.id for r in table.select(column="label", value="NO PAIN")} == {"n0", "n3", "n6"}
    assert all(r.confidence <= 0.6 for r in table.select(status="ok", max_confidence=0.6))
    facets = table.facets()
    assert facets["status"] == {"ok": 8, "error": 2} and facets["with_text"] == 10
    assert facets["columns"]["label"]["(no answer)"] == 2


def test_corrections_are_gold_labels_for_evaluate(review):
    task, table, root = review
    table.correct("n0", "NO PAIN")   # accepted
    table.correct("n1", "NO PAIN")   # corrected (the model said PAIN)
    table.correct("n4", "PAIN")      # the model gave no answer
    assert table.reviewed() == 3
    assert {r.id for r in table.select(reviewed=True)} == {"n0", "n1", "n4"}
    with pytest.raises(MlxmedError, match="unknown label"):
        table.correct("n2", "MAYBE")
    report = evaluate(task, table.output_path, table.corrections.path)
    assert report["notes"] == 3 and report["metrics"]["accuracy"] == pytest.approx(1 / 3)
    reopened = ReviewTable(task, table.output_path, table.notes, table.corrections.path)
    assert reopened.row_dict(reopened.by_id["n1"])["correction"] == "NO PAIN"


def test_an_output_of_another_task_is_one_clear_error(review, tmp_path):
    task, _, root = review
    (root / "echo.yaml").write_text(EXTRACT_TASK)
    with pytest.raises(MlxmedError, match=r"no column\(s\) lv_ef"):
        ReviewTable(load_task(root / "echo.yaml"), root / "out.csv", {}, root / "c.csv")
    with pytest.raises(MlxmedError, match="no such output file"):
        ReviewTable(task, root / "missing.csv", {}, root / "c.csv")
