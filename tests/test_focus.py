"""Focus: what of a note the model reads when the task names focus terms."""

from __future__ import annotations

import pytest

from mlxmed.data import TokenCounter, fit_chat
from mlxmed.errors import MlxmedError
from mlxmed.tasks import load_task, task_from_dict
from mlxmed.tasks.focus import GAP, Focus, focus_text, split_sentences

NOTE = """DISCHARGE SUMMARY
Admission Date: 04/27/2022
Chief Complaint: chest pain.
Seen in October for a cough. Two units of packed red cells were given.
Social History:
Former smoker. Quit 12 years ago.
Lives with her husband. Works as a teacher."""


def smoking_task(**focus) -> dict:
    return {"name": "smoking", "kind": "classification", "instruction": "Classify smoking.",
            "text_field": "text", "label_field": "status",
            "labels": [{"name": "SMOKER"}, {"name": "NON-SMOKER"}],
            "focus": {"terms": ["smok", "tob", "pack"], **focus}}


def test_sentences_split_at_line_breaks_and_sentence_ends() -> None:
    assert split_sentences("A b. C d?\n\nE: f.  G") == ["A b.", "C d?", "E: f.", "G"]


def test_matches_keep_their_neighbours_and_the_head_in_note_order() -> None:
    text = focus_text(NOTE, Focus(("smok", "tob"), context=1, head=2), "none")
    assert text.split("\n") == ["DISCHARGE SUMMARY", "Admission Date: 04/27/2022", GAP,
                                "Social History:", "Former smoker.", "Quit 12 years ago."]


def test_terms_match_at_the_start_of_a_word_only() -> None:
    focus = Focus(("tob", "smok"), context=0)
    assert focus_text("Seen in October.", focus, "none") == "none"  # no "tob" inside a word
    assert focus_text("Nonsmoker.", focus, "none") == "none"
    assert focus_text("Lifelong non-smoker.", focus, "none") == "Lifelong non-smoker."
    assert focus_text("TOBACCO: denies.", focus, "none") == "TOBACCO: denies."


def test_adjacent_groups_merge_and_separate_groups_get_a_gap() -> None:
    text = focus_text("a. smoker. b. c. d. e. tobacco. f.", Focus(("smok", "tob"), 1), "none")
    assert text.split("\n") == ["a.", "smoker.", "b.", GAP, "e.", "tobacco.", "f."]
    assert focus_text("smoker. b. tobacco.", Focus(("smok", "tob"), 1), "none").count(GAP) == 0


def test_without_a_match_the_model_is_told_so_after_the_head() -> None:
    task = task_from_dict(smoking_task(terms=["cigar"], head=1))
    text = task.note_text(NOTE)
    assert text.split("\n") == ["DISCHARGE SUMMARY", "(No sentence of the note mentions cigar….)"]


def test_the_prompt_says_what_the_excerpt_is() -> None:
    task = task_from_dict(smoking_task(context=2, head=1))
    prefix = task.user_prefix()
    assert prefix.endswith("Excerpt of the note: its first 1 sentence(s) and the sentences that "
                           "mention smok…, tob…, pack…, with 2 sentence(s) around each ([…] "
                           "marks sentences left out):\n")
    assert task.user_message("x") == prefix + "x"  # the prompt layout stays prefix + text


def test_training_and_extraction_chats_read_the_excerpt() -> None:
    """fit_chat builds both the training chats and extract's prompts."""
    task = task_from_dict(smoking_task(context=0))
    messages, _, truncated = fit_chat(task, NOTE, "SMOKER", TokenCounter(), 1024)
    note = messages[1]["content"][len(task.user_prefix()):]
    assert note == "Two units of packed red cells were given.\n[…]\nFormer smoker."
    assert not truncated and messages[2]["content"] == "SMOKER"
    prompt, _, _ = fit_chat(task, NOTE, None, TokenCounter(), 1024)
    assert prompt == messages[:2]


def test_focus_changes_the_spec_hash() -> None:
    plain = task_from_dict({k: v for k, v in smoking_task().items() if k != "focus"})
    focused = task_from_dict(smoking_task())
    wider = task_from_dict(smoking_task(context=2))
    assert len({plain.spec_hash(), focused.spec_hash(), wider.spec_hash()}) == 3
    assert focused.to_dict()["focus"] == {"terms": ["smok", "tob", "pack"], "context": 1,
                                          "head": 0}


@pytest.mark.parametrize(("focus", "message"), [
    (["smok"], "key 'focus' must be a mapping"),
    ({"terms": []}, "key 'focus.terms' must be a non-empty list"),
    ({"terms": ["smok", " "]}, "key 'focus.terms' must be a non-empty list"),
    ({"terms": ["smok"], "window": 2}, "key 'focus' must be a mapping"),
    ({"terms": ["smok"], "context": -1}, "key 'focus.context': -1 must be a whole number"),
    ({"terms": ["smok"], "head": True}, "key 'focus.head': True must be a whole number"),
])
def test_bad_focus_is_one_clear_error(focus, message) -> None:
    spec = smoking_task()
    spec["focus"] = focus
    with pytest.raises(MlxmedError, match="^task spec: " + message):
        task_from_dict(spec)


def test_data_counts_the_notes_without_a_focus_sentence_per_label(tmp_path) -> None:
    import csv
    import json

    from mlxmed.data import run_data

    task = smoking_task()
    task["id_field"] = "id"
    task_path = tmp_path / "task.json"
    task_path.write_text(json.dumps(task))
    notes = [("Never smoked.", "NON-SMOKER"), ("Smokes daily.", "SMOKER"),
             ("Lives alone.", "NON-SMOKER"), ("Works nights.", "SMOKER")] * 5
    with (tmp_path / "notes.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "status"])
        writer.writerows([f"n{i}", text, label] for i, (text, label) in enumerate(notes))
    prepared = run_data(load_task(task_path), tmp_path / "notes.csv", tmp_path / "out", sizes=())
    assert prepared.summary["focus_not_found"] == {"NON-SMOKER": 5, "SMOKER": 5}
    assert any("a term is missing" in note for note in prepared.summary["notes"])
