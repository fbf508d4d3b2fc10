"""GBNF grammars: they accept exactly the answers answer_for produces (checked with the small
recogniser in tests/gbnf.py, which is tested here too)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gbnf import Grammar, GrammarError, matches
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlxmed.tasks import Task, format_json, task_from_dict
from mlxmed.tasks.grammar import MAX_DIGITS, classification_grammar, gbnf_literal, integer_range
from mlxmed.tasks.pattern import AnswerPattern

SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ----- the recogniser ----------------------------------------------------------------------
def test_recogniser_literals_alternation_and_groups() -> None:
    grammar = Grammar('root ::= "a" ("b" | "cd")+ end\nend ::= "!"?  # comment\n')
    assert grammar.matches("ab") and grammar.matches("acdb!")
    assert not grammar.matches("a") and not grammar.matches("abx") and not grammar.matches("a!")


def test_recogniser_char_classes() -> None:
    grammar = Grammar(r'root ::= [a-c0-9_] [^"\\\x00-\x1F]* "\x41"')
    assert grammar.matches("b A") and grammar.matches("_ä€A") and grammar.matches("9A")
    assert not grammar.matches('a"A') and not grammar.matches("a\\A")
    assert not grammar.matches("a\nA") and not grammar.matches("dA")


def test_recogniser_bounded_repetition() -> None:
    grammar = Grammar('root ::= "x"{2} "y"{1,3} "z"{2,}')
    assert grammar.matches("xxyzz") and grammar.matches("xxyyyzzzz")
    for bad in ("xyzz", "xxxyzz", "xxzz", "xxyyyyzz", "xxyz"):
        assert not grammar.matches(bad), bad


def test_recogniser_multiline_rules_and_empty_repeats() -> None:
    grammar = Grammar('root ::= item\n  | "[" item* "]"\nitem ::= "" | "i"\n')
    assert grammar.matches("") and grammar.matches("[]") and grammar.matches("[ii]")
    assert not grammar.matches("[i")


def test_recogniser_rejects_bad_grammars() -> None:
    with pytest.raises(GrammarError, match="undefined"):
        Grammar("root ::= missing")
    with pytest.raises(GrammarError, match="root"):
        Grammar('start ::= "a"')
    with pytest.raises(GrammarError):
        Grammar('root ::= ("a"')


# ----- literals and classification ---------------------------------------------------------
@given(st.text(min_size=1, max_size=20))
@SETTINGS
def test_gbnf_literal_round_trips(text: str) -> None:
    literal = gbnf_literal(text)
    assert "\n" not in literal
    assert matches(f"root ::= {literal}", text)


label_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from('"\\ -\''),
    min_size=1, max_size=12).map(str.strip).filter(bool)


def classification_task(labels: list[str]) -> Task:
    return task_from_dict({"name": "t", "kind": "classification", "instruction": "Classify.",
                           "text_field": "text", "label_field": "y", "labels": labels})


@given(st.lists(label_names, min_size=2, max_size=6, unique=True), st.text(max_size=15))
@SETTINGS
def test_grammar_accepts_exactly_the_labels(labels: list[str], other: str) -> None:
    task = classification_task(labels)
    grammar = Grammar(task.grammar())
    for label in labels:
        assert grammar.matches(task.answer_for(label))
        assert task.parse_answer(task.answer_for(label)).value == label
        assert not grammar.matches(label + " ")
    assert grammar.matches(other) == (other in labels)
    assert not grammar.matches(labels[0] + labels[1])


def test_classification_grammar_text() -> None:
    assert classification_grammar(['A "B"', "C\\D", "Ü"]) == \
        'root ::= ("A \\"B\\"" | "C\\\\D" | "Ü")\n'


# ----- integer ranges ----------------------------------------------------------------------
@given(st.integers(-1200, 1200), st.integers(0, 1500))
@SETTINGS
def test_integer_range_is_exact(low: int, width: int) -> None:
    high = low + width
    grammar = Grammar(f"root ::= {integer_range(low, high)}")
    probes = set(range(low - 3, low + 4)) | set(range(high - 3, high + 4)) | {0, -1, 1}
    probes |= {10**k for k in range(5)} | {-(10**k) for k in range(5)}
    for value in probes:
        assert grammar.matches(str(value)) == (low <= value <= high), (low, high, value)
    assert not grammar.matches(f"0{abs(low)}") and not grammar.matches("-0")


@given(st.one_of(st.none(), st.integers(-500, 500)), st.one_of(st.none(), st.integers(-500, 500)))
@SETTINGS
def test_integer_half_open_ranges(low: int | None, high: int | None) -> None:
    assume(low is None or high is None or low <= high)
    grammar = Grammar(f"root ::= {integer_range(low, high)}")
    for value in (*range(-1100, 1100, 37), -(10**9), 10**9, 0, 1, -1):
        inside = (low is None or value >= low) and (high is None or value <= high)
        assert grammar.matches(str(value)) == inside, (low, high, value)


def test_unbounded_integers_have_at_most_max_digits() -> None:
    grammar = Grammar(f"root ::= {integer_range(None, None)}")
    assert grammar.matches("9" * MAX_DIGITS) and grammar.matches("-" + "9" * MAX_DIGITS)
    assert not grammar.matches("1" + "0" * MAX_DIGITS)
    assert not grammar.matches("007") and not grammar.matches("+7")


# ----- extraction --------------------------------------------------------------------------
field_names = st.text(alphabet=st.sampled_from('abcxyz_äé"\\ 1'), min_size=1,
                      max_size=8).filter(str.strip)
enum_strings = st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4, unique=True)


@st.composite
def scalar_schema(draw: Any, nullable: bool = True) -> dict:
    kind = draw(st.sampled_from(["integer", "number", "string", "enum", "boolean"]))
    null = nullable and draw(st.booleans())
    schema: dict[str, Any] = {"type": [kind, "null"] if null else kind}
    if kind == "integer":
        low = draw(st.one_of(st.none(), st.integers(-1000, 1000)))
        high = draw(st.one_of(st.none(), st.integers(low if low is not None else -1000, 2000)))
        if low is not None:
            schema["minimum"] = low
        if high is not None:
            schema["maximum"] = high
    elif kind == "number" and draw(st.booleans()):
        schema["minimum"] = draw(st.sampled_from([0, -5, 2.5]))
    elif kind == "enum":
        values = draw(enum_strings)
        schema = {"type": ["string", "null"] if null else "string",
                  "enum": values + ([None] if null else [])}
    return schema


@st.composite
def field_schema(draw: Any) -> dict:
    if draw(st.integers(0, 3)) != 0:
        return draw(scalar_schema())
    schema: dict[str, Any] = {"type": "array", "items": draw(scalar_schema(nullable=False))}
    if "enum" in schema["items"] and draw(st.booleans()):
        schema["uniqueItems"] = True  # a set: each value once, in enum order
    low = draw(st.integers(0, 2))
    if draw(st.booleans()):
        schema["minItems"] = low
    if draw(st.booleans()):
        schema["maxItems"] = low + draw(st.integers(0, 2))
    if schema.get("uniqueItems") and low > len(schema["items"]["enum"]):
        schema.pop("minItems", None)  # a set cannot have more items than distinct values
    return schema


fields_strategy = st.dictionaries(field_names, field_schema(), min_size=1, max_size=4)


def extraction_task(fields: dict) -> Task:
    return task_from_dict({"name": "t", "kind": "extraction", "instruction": "Extract.",
                           "text_field": "text", "fields": fields})


def value_for(draw: Any, schema: dict) -> Any:
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "null" in types and draw(st.booleans()):
        return None
    kind = next(t for t in types if t != "null")
    if "enum" in schema:
        return draw(st.sampled_from([v for v in schema["enum"] if v is not None]))
    if kind == "integer":
        return draw(st.integers(schema.get("minimum", -(10**12)), schema.get("maximum", 10**12)))
    if kind == "number":
        return draw(st.floats(schema.get("minimum", -1e9), 1e9, allow_nan=False))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "array" and schema.get("uniqueItems"):
        values = schema["items"]["enum"]
        low = min(schema.get("minItems", 0), len(values))
        high = min(schema.get("maxItems", len(values)), len(values))
        assume(low <= high)
        chosen = draw(st.sets(st.sampled_from(range(len(values))), min_size=low, max_size=high))
        return [values[i] for i in sorted(chosen)]
    if kind == "array":
        low = schema.get("minItems", 0)
        high = schema.get("maxItems", low + 3)
        return [value_for(draw, schema["items"]) for _ in range(draw(st.integers(low, high)))]
    return draw(st.text(max_size=10))


@st.composite
def task_and_instance(draw: Any) -> tuple[Task, dict]:
    task = extraction_task(draw(fields_strategy))
    return task, {name: value_for(draw, schema) for name, schema in task.fields.items()}


@given(task_and_instance())
@SETTINGS
def test_valid_instances_are_accepted_and_round_trip(case: tuple[Task, dict]) -> None:
    task, instance = case
    answer = task.answer_for(instance)
    assert "\n" not in answer
    assert Grammar(task.grammar()).matches(answer), (task.grammar(), answer)
    pattern = AnswerPattern(task.fields)  # the decoder's regex: the same language
    encoded = answer.encode("utf-8")
    assert pattern.complete(encoded)
    assert all(pattern.viable(encoded[:cut]) for cut in range(len(encoded)))
    parsed = task.parse_answer(answer)
    assert parsed.ok, parsed.error
    assert parsed.value == instance
    assert list(parsed.value) == list(task.fields)
    assert task.answer_for(parsed.value) == answer


@given(task_and_instance())
@SETTINGS
def test_other_formatting_is_rejected_by_the_grammar(case: tuple[Task, dict]) -> None:
    task, instance = case
    grammar = Grammar(task.grammar())
    for variant in (json.dumps(instance, ensure_ascii=False, separators=(",", ":")),
                    " " + task.answer_for(instance), task.answer_for(instance) + "\n",
                    json.dumps(instance, ensure_ascii=False, indent=1)):
        assert not grammar.matches(variant)
        assert not AnswerPattern(task.fields).complete(variant.encode("utf-8"))
        assert task.parse_answer(variant).value == instance  # the parser stays tolerant


@given(task_and_instance(), st.data())
@SETTINGS
def test_invalid_instances_are_rejected(case: tuple[Task, dict], data: Any) -> None:
    task, instance = case
    grammar = Grammar(task.grammar())
    name = data.draw(st.sampled_from(list(task.fields)))
    schema = task.fields[name]
    broken = dict(instance)
    choice = data.draw(st.sampled_from(["missing", "extra", "wrong"]))
    if choice == "missing":
        del broken[name]
    elif choice == "extra":
        broken[name + "_extra"] = 1
    else:
        bad = _bad_value(schema, data)
        assume(bad is not _NO_BAD_VALUE)
        broken[name] = bad
    text = format_json(broken)
    assert not grammar.matches(text), (task.grammar(), text)
    assert not AnswerPattern(task.fields).complete(text.encode("utf-8")), text
    assert not task.parse_answer(text).ok


_NO_BAD_VALUE = object()


def _bad_value(schema: dict, data: Any) -> Any:
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    kind = next(t for t in types if t != "null")
    if "enum" in schema:
        return data.draw(st.text(max_size=8).filter(lambda s: s not in schema["enum"]))
    if kind == "integer":
        options = []
        if "maximum" in schema:
            options.append(schema["maximum"] + data.draw(st.integers(1, 10**6)))
        if "minimum" in schema:
            options.append(schema["minimum"] - data.draw(st.integers(1, 10**6)))
        options.append("12")  # a string where a number belongs
        return data.draw(st.sampled_from(options))
    if kind == "boolean":
        return "true"
    if kind == "number":
        return data.draw(st.sampled_from([[1.5], "1.5"]))
    if kind == "array" and schema.get("uniqueItems"):
        return [schema["items"]["enum"][0]] * 2
    if kind == "array":
        if "maxItems" in schema:
            return [_item_example(schema)] * (schema["maxItems"] + 1)
        return _NO_BAD_VALUE if "minItems" not in schema or schema["minItems"] == 0 else []
    return 12  # a number where a string belongs


def _item_example(schema: dict) -> Any:
    items = schema["items"]
    if "enum" in items:
        return items["enum"][0]
    kind = items["type"]
    return {"integer": items.get("minimum", 0), "number": 1.0, "boolean": True}.get(kind, "s")


def test_extraction_grammar_shape() -> None:
    task = extraction_task({
        "lv_ef": {"type": ["integer", "null"], "minimum": 5, "maximum": 90},
        "rhythm": {"type": ["string", "null"], "enum": ["Sinusrhythmus", None]},
        "dx": {"type": "array", "items": {"type": "string", "enum": ["KHK"]}},
    })
    grammar = Grammar(task.grammar())
    assert grammar.matches('{"lv_ef": 55, "rhythm": "Sinusrhythmus", "dx": ["KHK", "KHK"]}')
    assert grammar.matches('{"lv_ef": null, "rhythm": null, "dx": []}')
    assert not grammar.matches('{"rhythm": null, "lv_ef": null, "dx": []}')
    assert not grammar.matches('{"lv_ef": 4, "rhythm": null, "dx": []}')
    assert not grammar.matches('{"lv_ef": 55, "rhythm": "SR", "dx": []}')
    assert not grammar.matches('{"lv_ef": 55, "rhythm": null, "dx": [null]}')
    assert task.grammar().startswith('root ::= "{" "\\"lv_ef\\": " ')


def test_unique_enum_lists_are_ordered_sets() -> None:
    codes = ["KHK", "Hypertonie", "Aortenstenose"]
    task = extraction_task({"dx": {"type": "array", "uniqueItems": True,
                                   "items": {"type": "string", "enum": codes}}})
    grammar = Grammar(task.grammar())
    assert task.answer_for({"dx": ["Aortenstenose", "KHK"]}) == '{"dx": ["KHK", "Aortenstenose"]}'
    assert grammar.matches('{"dx": ["KHK", "Aortenstenose"]}')
    assert grammar.matches('{"dx": []}') and grammar.matches('{"dx": ["Aortenstenose"]}')
    assert not grammar.matches('{"dx": ["Aortenstenose", "KHK"]}')  # out of order
    assert not grammar.matches('{"dx": ["KHK", "KHK"]}')  # repeated: a small model's loop
    assert task.parse_answer('{"dx": ["Aortenstenose", "KHK"]}').value == {
        "dx": ["KHK", "Aortenstenose"]}
    assert not task.parse_answer('{"dx": ["KHK", "KHK"]}').ok


def test_llama_cpp_accepts_the_grammars(tiny_models: Any) -> None:
    """llama.cpp parses our grammars, and what it generates under them is a valid answer."""
    llama_cpp = pytest.importorskip("llama_cpp")
    llm = llama_cpp.Llama(model_path=str(tiny_models("llama", "F32")), n_ctx=512, verbose=False)
    tasks = [
        classification_task(['Say "hi"', "C:\\path", "Größe", "A", "A B"]),
        extraction_task({
            "ef": {"type": ["integer", "null"], "minimum": -20, "maximum": 90},
            "rhythm": {"type": ["string", "null"], "enum": ["SR", 'A"F', None]},
            "dx": {"type": "array", "uniqueItems": True,
                   "items": {"type": "string", "enum": ["KHK", "HTN", "ÄS"]}},
            "n": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 12},
                  "maxItems": 2},
            "ok": {"type": ["boolean", "null"]},
        }),
    ]
    for task in tasks:
        grammar = llama_cpp.LlamaGrammar.from_string(task.grammar(), verbose=False)
        recogniser = Grammar(task.grammar())
        for seed in range(4):
            out = llm.create_completion("Note: x\nAnswer:", max_tokens=200, grammar=grammar,
                                        temperature=1.0, seed=seed)["choices"][0]
            assert out["finish_reason"] == "stop", out
            assert recogniser.matches(out["text"]), out["text"]
            assert task.parse_answer(out["text"]).ok, out["text"]
