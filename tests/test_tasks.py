"""Task specs: loading/validation errors, prompt layout, answers and gold values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlxmed.errors import MlxmedError
from mlxmed.tasks import Task, format_json, load_task, task_from_dict

FIXTURES = Path(__file__).parent / "fixtures"


def classification(**overrides) -> dict:
    spec = {
        "name": "smoking", "kind": "classification", "instruction": "Classify smoking.",
        "text_field": "text", "label_field": "status",
        "labels": [{"name": "SMOKER", "definition": "smokes now"},
                   {"name": "NON-SMOKER", "definition": "never smoked"}],
    }
    spec.update(overrides)
    return spec


def extraction(**overrides) -> dict:
    spec = {
        "name": "cardio", "kind": "extraction", "instruction": "Extract the findings.",
        "text_field": "text", "gold_field": "gold",
        "fields": {
            "lv_ef": {"type": ["integer", "null"], "minimum": 5, "maximum": 90, "unit": "%",
                      "description": "ejection fraction"},
            "rhythm": {"type": ["string", "null"], "enum": ["SR", "AF", None]},
            "diagnoses": {"type": "array", "items": {"type": "string", "enum": ["CAD", "HTN"]}},
        },
    }
    spec.update(overrides)
    return spec


def write_spec(tmp_path: Path, spec: dict, name: str = "task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def error_of(spec: dict) -> str:
    with pytest.raises(MlxmedError) as info:
        task_from_dict(spec, source="task.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


# ----- loading -----------------------------------------------------------------------------
def test_load_yaml_and_json_give_the_same_spec(tmp_path: Path) -> None:
    from_yaml = load_task(write_spec(tmp_path, extraction()))
    json_path = tmp_path / "task.json"
    json_path.write_text(json.dumps(extraction()), encoding="utf-8")
    from_json = load_task(json_path)
    assert from_yaml == from_json
    assert from_yaml.spec_hash() == from_json.spec_hash()
    assert from_yaml.field_names == ["lv_ef", "rhythm", "diagnoses"]
    assert from_yaml.language == "en" and from_yaml.long_notes == "truncate_middle"


def test_fixture_tasks_load() -> None:
    assert load_task(FIXTURES / "smoking_task.yaml").label_names[0] == "CURRENT SMOKER"
    assert load_task(FIXTURES / "cardio_task.yaml").kind == "extraction"


def test_spec_hash_changes_with_the_prompt() -> None:
    base = task_from_dict(classification())
    assert base.spec_hash() == task_from_dict(classification()).spec_hash()
    assert base.spec_hash() != task_from_dict(classification(instruction="Other.")).spec_hash()
    assert len(base.spec_hash()) == 64


def test_spec_hash_sees_the_field_order() -> None:
    spec = extraction()
    swapped = extraction(fields=dict(reversed(list(spec["fields"].items()))))
    assert task_from_dict(spec).spec_hash() != task_from_dict(swapped).spec_hash()


def test_yaml_boolean_label_names_get_a_quoting_hint(tmp_path: Path) -> None:
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(classification(labels=["A", "B"]))
                    .replace("- A", "- yes").replace("- B", "- no"), encoding="utf-8")
    with pytest.raises(MlxmedError, match=r"labels\[1\].*quotes"):
        load_task(path)


def test_unknown_key_is_named_with_the_allowed_ones() -> None:
    message = error_of(classification(lables=[]))
    assert "'lables'" in message and "label_field" in message and "labels" in message


def test_extraction_keys_are_not_allowed_in_classification() -> None:
    assert "'fields'" in error_of(classification(fields={"a": {"type": "string"}}))


def test_wrong_kind() -> None:
    message = error_of(classification(kind="regression"))
    assert "'kind'" in message and "classification" in message and "extraction" in message


@pytest.mark.parametrize("key", ["name", "instruction", "text_field", "label_field"])
def test_missing_required_key(key: str) -> None:
    spec = classification()
    del spec[key]
    assert f"'{key}'" in error_of(spec)


def test_bad_name() -> None:
    assert "'name'" in error_of(classification(name="Smoking Status"))


def test_duplicate_labels() -> None:
    labels = [{"name": "A", "definition": ""}, {"name": "B"}, {"name": "A"}]
    message = error_of(classification(labels=labels))
    assert "duplicate" in message and "'A'" in message and "labels[3]" in message


def test_too_few_labels() -> None:
    assert "at least 2" in error_of(classification(labels=[{"name": "A"}]))


def test_label_with_padding_is_rejected() -> None:
    assert "spaces" in error_of(classification(labels=["A ", "B"]))


def test_unknown_label_key() -> None:
    assert "'desc'" in error_of(classification(labels=[{"name": "A", "desc": "x"}, "B"]))


def test_bad_long_note_policy_and_length() -> None:
    assert "truncate_middle" in error_of(classification(long_notes="drop"))
    assert "max_seq_length" in error_of(classification(max_seq_length=0))


@pytest.mark.parametrize(("field", "expected"), [
    ({"type": "object"}, "not supported"),
    ({"type": ["integer", "string"]}, "not supported"),
    ({"enum": ["a"]}, "'type' is required"),
    ({"type": "string", "pattern": "x"}, "'pattern'"),
    ({"type": "integer", "minimum": "five"}, "'minimum' must be a number"),
    ({"type": "integer", "minimum": 9, "maximum": 1}, "greater than"),
    ({"type": "string", "minimum": 1}, "only applies"),
    ({"type": "string", "enum": ["a", None]}, "add 'null' to type"),
    ({"type": ["string", "null"], "enum": ["a"]}, "add null to enum"),
    ({"type": "integer", "enum": [1, "two"]}, "not allowed"),
    ({"type": "array"}, "needs 'items'"),
    ({"type": "array", "items": {"type": "array", "items": {"type": "string"}}}, "items:"),
    ({"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 1}, "minItems"),
    ({"type": "array", "items": {"type": "string", "enum": ["a"]}, "uniqueItems": True,
      "minItems": 2}, "distinct values"),
])
def test_field_schemas_outside_the_subset_are_rejected(field: dict, expected: str) -> None:
    message = error_of(extraction(fields={"x": field}))
    assert "fields.x" in message and expected in message


def test_invalid_json_schema_is_reported_by_jsonschema() -> None:
    message = error_of(extraction(fields={"x": {"type": "string", "description": 5}}))
    assert "fields.x" in message


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nkind: [unclosed\n", encoding="utf-8")
    with pytest.raises(MlxmedError, match=r"bad\.yaml.*YAML"):
        load_task(path)


def test_missing_task_file(tmp_path: Path) -> None:
    with pytest.raises(MlxmedError, match="not found"):
        load_task(tmp_path / "nope.yaml")


# ----- prompt ------------------------------------------------------------------------------
def test_classification_prompt_puts_the_note_last() -> None:
    task = task_from_dict(classification())
    chat = task.messages("Pt smokes.\n", answer="SMOKER")
    assert [m["role"] for m in chat] == ["system", "user", "assistant"]
    user = chat[1]["content"]
    assert user.startswith("Classify smoking.\n")
    assert "- SMOKER: smokes now" in user
    assert "Answer with exactly one of: SMOKER, NON-SMOKER" in user
    assert user.endswith("\nNote:\nPt smokes.\n")
    assert user == task.user_prefix() + "Pt smokes.\n"
    assert chat[2]["content"] == "SMOKER"
    assert len(task.messages("x")) == 2


def test_extraction_prompt_lists_fields_before_the_note() -> None:
    task = task_from_dict(extraction())
    user = task.messages("EF 55 %")[1]["content"]
    lines = user.splitlines()
    assert lines[-2:] == ["Note:", "EF 55 %"]
    assert "- lv_ef (integer 5 to 90, unit %, or null): ejection fraction" in lines
    assert '- rhythm (one of: "SR", "AF", or null)' in lines
    assert '- diagnoses (list of: "CAD", "HTN")' in lines
    assert "Use null when the note does not state it." in lines


def test_prefix_is_the_same_for_every_note() -> None:
    task = task_from_dict(extraction())
    a, b = task.messages("first note"), task.messages("another")
    assert a[0] == b[0]
    prefix = task.user_prefix()
    assert a[1]["content"].startswith(prefix) and b[1]["content"].startswith(prefix)


def test_german_scaffolding_and_custom_system() -> None:
    task = task_from_dict(extraction(language="de", system="Sei knapp."))
    chat = task.messages("Befund")
    assert chat[0]["content"] == "Sei knapp."
    assert chat[1]["content"].endswith("\nText:\nBefund")
    assert "Felder:" in chat[1]["content"]


# ----- answers -----------------------------------------------------------------------------
def test_classification_answers() -> None:
    task = task_from_dict(classification())
    assert task.answer_for("NON-SMOKER") == "NON-SMOKER"
    assert task.parse_answer("  NON-SMOKER\n").value == "NON-SMOKER"
    parsed = task.parse_answer("non-smoker")
    assert not parsed.ok and "not one of the labels" in parsed.error
    assert not task.parse_answer("SMOKER.").ok
    with pytest.raises(MlxmedError):
        task.answer_for("MAYBE")


def test_extraction_answer_format() -> None:
    task = task_from_dict(extraction())
    gold = {"diagnoses": ["CAD"], "rhythm": "SR", "lv_ef": 55.0}
    answer = task.answer_for(gold)
    assert answer == '{"lv_ef": 55, "rhythm": "SR", "diagnoses": ["CAD"]}'
    assert task.parse_answer(answer).value == {"lv_ef": 55, "rhythm": "SR", "diagnoses": ["CAD"]}


@pytest.mark.parametrize(("answer", "reason"), [
    ('{"lv_ef": 55, "rhythm": "SR"', "not valid JSON"),
    ('{"lv_ef": 95, "rhythm": "SR", "diagnoses": []}', "lv_ef"),
    ('{"lv_ef": 55, "rhythm": "VT", "diagnoses": []}', "rhythm"),
    ('{"lv_ef": 55, "diagnoses": []}', "rhythm"),
    ('{"lv_ef": 55, "rhythm": null, "diagnoses": [], "x": 1}', "x"),
    ('["SR"]', "object"),
])
def test_extraction_parse_errors(answer: str, reason: str) -> None:
    parsed = task_from_dict(extraction()).parse_answer(answer)
    assert not parsed.ok and parsed.value is None
    assert reason in parsed.error


def test_format_json_is_one_line_and_keeps_unicode() -> None:
    text = format_json({"a": "Größe \"x\"\nneu", "b": [1.5, None, True], "c": 1e-7})
    assert "\n" not in text
    assert text == '{"a": "Größe \\"x\\"\\nneu", "b": [1.5, null, true], "c": 0.0000001}'
    assert json.loads(text)["c"] == 1e-7


def test_json_schema_requires_every_field() -> None:
    schema = task_from_dict(extraction()).json_schema()
    assert schema["required"] == ["lv_ef", "rhythm", "diagnoses"]
    assert schema["additionalProperties"] is False
    assert "unit" not in schema["properties"]["lv_ef"]


def test_metrics() -> None:
    assert "macro_f1" in task_from_dict(classification()).metric_names()
    assert "invalid_rate" in task_from_dict(extraction()).metric_names()


# ----- gold values -------------------------------------------------------------------------
def test_gold_of_classification_strips_and_checks() -> None:
    task = task_from_dict(classification())
    assert task.gold_of({"status": " SMOKER "}) == "SMOKER"
    with pytest.raises(MlxmedError, match="'status'.*unknown label 'smoker'.*SMOKER, NON-SMOKER"):
        task.gold_of({"status": "smoker"})
    with pytest.raises(MlxmedError, match="missing label"):
        task.gold_of({"status": ""})


def test_gold_of_extraction_from_json_text_or_object() -> None:
    task = task_from_dict(extraction())
    gold = {"lv_ef": None, "rhythm": "AF", "diagnoses": []}
    assert task.gold_of({"gold": json.dumps(gold)}) == gold
    assert task.gold_of({"gold": gold}) == gold
    with pytest.raises(MlxmedError, match="'gold'.*not valid JSON"):
        task.gold_of({"gold": "{lv_ef: 3"})
    with pytest.raises(MlxmedError, match="'gold'.*lv_ef"):
        task.gold_of({"gold": {**gold, "lv_ef": 200}})


def test_gold_of_extraction_from_columns() -> None:
    task: Task = task_from_dict(extraction(gold_field=None))
    record = {"lv_ef": "45", "rhythm": "", "diagnoses": '["CAD"]'}
    assert task.gold_of(record) == {"lv_ef": 45, "rhythm": None, "diagnoses": ["CAD"]}
    with pytest.raises(MlxmedError, match="'lv_ef'.*not a valid integer"):
        task.gold_of({**record, "lv_ef": "forty"})
    with pytest.raises(MlxmedError, match="'rhythm': missing"):
        task.gold_of({"lv_ef": "45", "diagnoses": "[]"})
