"""Labelling in the library: the labels file `mlxmed data` reads as it is (CSV and JSONL,
labels and extraction fields), atomic saves, form answers in German and English ways, the
queue, undo and skip, the model's pre-filled answers and the least-certain-first order."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import TASK
from studio_workspace import EXTRACT_TASK, write_csv

from mlxmed.data import run_data
from mlxmed.errors import MlxmedError
from mlxmed.inference.predictor import Prediction
from mlxmed.inputs.readers import read_notes
from mlxmed.inputs.records import validate_records
from mlxmed.labelling import LabelQueue, LabelSession, LabelStore, answer_from_form
from mlxmed.labelling.queue import LEAST_CERTAIN, least_certain_order
from mlxmed.tasks import load_task

ECHO = {"lv_ef": 35, "lvedv_ml": 147.5, "rhythm": "Vorhofflimmern",
        "diagnoses": ["KHK", "Herzinsuffizienz"]}


@pytest.fixture
def tasks(tmp_path):
    (tmp_path / "task.yaml").write_text(TASK)
    (tmp_path / "echo.yaml").write_text(EXTRACT_TASK)
    no_gold_field = EXTRACT_TASK.replace("gold_field: gold\n", "")
    (tmp_path / "columns.yaml").write_text(no_gold_field)
    return {name: load_task(tmp_path / f"{name}.yaml") for name in ("task", "echo", "columns")}


def notes(tmp_path, count=6, name="notes.csv"):
    rows = [[f"n{i}", f"Note {i}. Reports chest pain: {i % 2 == 0}.\nSecond line."]
            for i in range(count)]
    return write_csv(tmp_path / name, ["id", "text"], rows)


def reread(task, path):
    read = read_notes(path, task.required_columns(), text_field=task.text_field,
                      id_field=task.id_field)
    return {r.id: r.gold for r in validate_records(task, read)}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("name, value", [("task", "NO PAIN"), ("echo", ECHO),
                                         ("columns", ECHO),
                                         ("columns", {**ECHO, "lv_ef": None, "diagnoses": []})])
def test_a_labels_file_reads_back_as_gold_the_way_mlxmed_data_reads_it(tasks, tmp_path, name,
                                                                        value, suffix):
    task = tasks[name]
    path = tmp_path / "labels" / f"answers{suffix}"
    store = LabelStore(task, path)
    store.set("n1", "Text with, commas\nand \"quotes\".", value)
    store.set("n2", "Other note.", value)
    assert reread(task, path) == {"n1": value, "n2": value}
    assert LabelStore(task, path).answers() == {"n1": value, "n2": value}
    leftovers = [p.name for p in path.parent.iterdir() if p.name != path.name]
    assert leftovers == []  # written through a temporary file, renamed over


def test_mlxmed_data_prepares_a_labels_file(tasks, tmp_path):
    task = tasks["task"]
    store = LabelStore(task, tmp_path / "labels.csv")
    for i in range(20):
        store.set(f"n{i}", f"Note {i} about pain.", "PAIN" if i % 2 else "NO PAIN")
    prepared = run_data(task, tmp_path / "labels.csv", tmp_path / "data", sizes=(10,))
    assert sum(len(examples) for examples in prepared.splits.values()) == 20


def test_an_invalid_answer_is_one_line_and_leaves_the_file_alone(tasks, tmp_path):
    path = tmp_path / "labels.csv"
    store = LabelStore(tasks["echo"], path)
    store.set("n1", "text", ECHO)
    before = path.read_bytes()
    with pytest.raises(MlxmedError) as caught:
        store.set("n2", "text", {**ECHO, "lv_ef": 150})
    assert "\n" not in str(caught.value) and "lv_ef" in str(caught.value)
    with pytest.raises(MlxmedError, match="unknown label"):
        LabelStore(tasks["task"], tmp_path / "other.csv").set("n1", "t", "MAYBE")
    assert path.read_bytes() == before and store.answers() == {"n1": ECHO}


def test_form_answers_are_read_as_clinicians_type_them(tasks):
    task = tasks["echo"]
    value = answer_from_form(task, {"lv_ef": " 35 ", "lvedv_ml": "147,5",
                                    "rhythm": "Vorhofflimmern", "diagnoses": ["KHK"]})
    assert value == {"lv_ef": 35, "lvedv_ml": 147.5, "rhythm": "Vorhofflimmern",
                     "diagnoses": ["KHK"]}
    empty = answer_from_form(task, {"lv_ef": "", "lvedv_ml": None, "rhythm": None,
                                    "diagnoses": []})
    assert empty == {"lv_ef": None, "lvedv_ml": None, "rhythm": None, "diagnoses": []}
    with pytest.raises(MlxmedError, match="lv_ef"):
        answer_from_form(task, {"lv_ef": "35,5", "rhythm": None, "diagnoses": []})
    with pytest.raises(MlxmedError, match="pick one"):
        answer_from_form(tasks["task"], None)


def test_the_form_follows_the_field_schemas(tasks):
    fields = {f["name"]: f for f in tasks["echo"].answer_form()["fields"]}
    assert fields["lv_ef"]["widget"] == "number" and fields["lv_ef"]["maximum"] == 90
    assert fields["lv_ef"]["unit"] == "%" and fields["lv_ef"]["nullable"]
    assert fields["rhythm"]["widget"] == "choice"
    assert fields["rhythm"]["choices"] == ["Sinusrhythmus", "Vorhofflimmern"]
    assert fields["diagnoses"]["widget"] == "multi" and not fields["diagnoses"]["nullable"]
    choices = tasks["task"].answer_form()["choices"]
    assert [c["value"] for c in choices] == ["PAIN", "NO PAIN"]
    assert choices[0]["description"] == "chest pain is reported"


def test_the_queue_comes_back_to_skipped_notes_last():
    labelled: set[str] = set()
    queue = LabelQueue(["a", "b", "c", "d"], labelled.__contains__)
    assert queue.next_to_label() == 0
    assert queue.skip(0) == 1
    labelled.add("b")
    assert queue.next_to_label(1) == 2
    labelled.update({"c", "d"})
    assert queue.next_to_label(3) == 0  # only the skipped note is left
    labelled.add("a")
    assert queue.next_to_label(0) is None


def test_least_certain_first_puts_invalid_answers_first_and_unscored_last():
    order = least_certain_order(["a", "b", "c", "d", "e"],
                                {"a": 0.9, "b": 0.4, "c": None, "d": 0.4})
    assert order == ["c", "b", "d", "a", "e"]


class FakeModel:
    """Answers PAIN when the note says True, less sure the higher the note's number."""

    def __init__(self):
        self.calls = 0

    def predict(self, text, where="note"):
        self.calls += 1
        number = int(text.split()[1].rstrip("."))
        label = "PAIN" if "True" in text else "NO PAIN"
        return Prediction(label, label, 0.9 - number / 20,
                          probabilities={label: 0.9 - number / 20})


def test_a_session_saves_each_answer_undoes_and_never_touches_the_notes(tasks, tmp_path):
    source = notes(tmp_path)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    labels = tmp_path / "labels" / "chest_pain--notes.csv"
    session = LabelSession(tasks["task"], source, labels)
    view = session.view(session.first_position())
    assert view["note"]["id"] == "n0" and view["labelled"] == 0 and view["total"] == 6
    step = session.answer("n0", "PAIN")
    assert step["next"] == 1 and step["labelled"] == 1
    session.answer("n1", "NO PAIN")
    session.answer("n1", "PAIN")  # changed her mind
    assert reread(tasks["task"], labels) == {"n0": "PAIN", "n1": "PAIN"}
    assert session.undo()["position"] == 1
    assert reread(tasks["task"], labels) == {"n0": "PAIN", "n1": "NO PAIN"}
    session.undo()
    assert session.undo()["labelled"] == 0
    with pytest.raises(MlxmedError, match="nothing to undo"):
        session.undo()
    with pytest.raises(MlxmedError, match="unknown label"):
        session.answer("n2", "SOMETIMES")
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest
    with pytest.raises(MlxmedError, match="never writes to an input file"):
        LabelSession(tasks["task"], source, source)


def test_a_new_session_continues_where_the_labels_file_stopped(tasks, tmp_path):
    source, labels = notes(tmp_path), tmp_path / "labels.csv"
    first = LabelSession(tasks["task"], source, labels)
    for note_id in ("n0", "n1", "n2"):
        first.answer(note_id, "PAIN")
    again = LabelSession(tasks["task"], source, labels)
    assert again.labelled == 3 and again.first_position() == 3
    assert again.view(0)["saved"] == "PAIN" and again.view(0)["labelled_now"]


def test_the_models_answers_prefill_and_order_the_queue(tasks, tmp_path):
    model = FakeModel()
    session = LabelSession(tasks["task"], notes(tmp_path), tmp_path / "labels.csv", model)
    view = session.view(2)
    assert view["suggestion"]["value"] == "PAIN" and view["suggestion"]["confidence"] == 0.8
    session.view(2)
    assert model.calls == 1  # computed once per note
    session.rank_by_confidence()
    assert session.queue.order == LEAST_CERTAIN
    assert session.queue.ids == ["n5", "n4", "n3", "n2", "n1", "n0"]  # lowest confidence first
    assert session.first_position() == 0
    assert session.answer("n5", "NO PAIN")["next"] == 1  # n4 next
    assert session.progress()["ranking"]["done"] == 6


def test_notes_with_a_bad_row_are_one_error_naming_the_row(tasks, tmp_path):
    path = write_csv(tmp_path / "bad.csv", ["id", "text"], [["a", "fine"], ["b", "  "]])
    with pytest.raises(MlxmedError, match=r"bad.csv row 2, field 'text': empty note text"):
        LabelSession(tasks["task"], path, tmp_path / "labels.csv")


def test_a_labels_file_with_jsonl_notes_is_jsonl(tasks, tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text("".join(json.dumps({"id": f"r{i}", "text": f"Note {i}. Befund."}) + "\n"
                            for i in range(3)))
    labels = tmp_path / "labels.jsonl"
    session = LabelSession(tasks["echo"], path, labels)
    session.answer("r1", {"lv_ef": "55", "lvedv_ml": "", "rhythm": "Sinusrhythmus",
                          "diagnoses": []})
    row = json.loads(labels.read_text().splitlines()[0])
    assert row == {"id": "r1", "text": "Note 1. Befund.",
                   "gold": {"lv_ef": 55, "lvedv_ml": None, "rhythm": "Sinusrhythmus",
                            "diagnoses": []}}
    assert len(labels.read_text().splitlines()) == 1
