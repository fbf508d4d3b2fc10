"""The task spec: one YAML file that defines the prompt, the answer format, the grammar and the
metrics of a classification or extraction task.

Prompt layout (the same for every note up to the note itself, so the prefix can be KV-cached):

    system:    the system prompt
    user:      instruction
               <blank line>
               labels with definitions + "Answer with exactly one of: A, B"     (classification)
               fields with type/range/unit/values + null hint + JSON hint       (extraction)
               <blank line>
               Note:        (with ``focus``: a line saying what the excerpt holds)
               <the note text, or its focus excerpt>              <- nothing after the note
    assistant: the label name exactly | one line of JSON (see ``format_json``)
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mlxmed.errors import MlxmedError
from mlxmed.focus import Focus, focus_text
from mlxmed.grammar import classification_grammar, extraction_grammar, is_set_field

KINDS = ("classification", "extraction")
LONG_NOTE_POLICIES = ("truncate_middle", "truncate_end", "error")
DEFAULT_MAX_SEQ_LENGTH = 1024

_NAME_RE = re.compile(r"^[a-z0-9_-]+$")
_COMMON_KEYS = ("name", "kind", "language", "system", "instruction", "text_field", "id_field",
                "long_notes", "max_seq_length", "focus")
_KIND_KEYS = {
    "classification": ("label_field", "labels"),
    "extraction": ("gold_field", "fields"),
}
_SCALAR_TYPES = ("string", "integer", "number", "boolean")
FIELD_KEYS = ("type", "enum", "minimum", "maximum", "items", "minItems", "maxItems",
              "uniqueItems", "unit", "description")
ITEM_KEYS = ("type", "enum", "minimum", "maximum", "description")

# The few words of scaffolding around the instruction; other languages fall back to English.
_PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "system": "You are a careful clinical data abstractor. Answer only from the note.",
        "labels": "Labels:",
        "one_of_answer": "Answer with exactly one of: ",
        "fields": "Fields:",
        "null_hint": "Use null when the note does not state it.",
        "json_hint": "Answer with one line of JSON with exactly these keys, in this order.",
        "note": "Note:",
        "focus_note": "Excerpt of the note: {head}the sentences that mention {terms}, with "
                      "{context} sentence(s) around each ([…] marks sentences left out):",
        "focus_head": "its first {head} sentence(s) and ",
        "focus_none": "(No sentence of the note mentions {terms}.)",
        "one_of": "one of", "list_of": "list of", "or_null": "or null", "to": "to",
        "min": "at least", "max": "at most", "unit": "unit",
        "string": "text", "integer": "integer", "number": "number", "boolean": "true/false",
    },
    "de": {
        "system": "Du bist ein sorgfältiger medizinischer Dokumentar. "
                  "Antworte nur anhand des Textes.",
        "labels": "Kategorien:",
        "one_of_answer": "Antworte mit genau einer von: ",
        "fields": "Felder:",
        "null_hint": "Verwende null, wenn der Text es nicht angibt.",
        "json_hint": "Antworte mit einer Zeile JSON mit genau diesen Schlüsseln "
                     "in dieser Reihenfolge.",
        "note": "Text:",
        "focus_note": "Auszug aus dem Text: {head}die Sätze, die {terms} erwähnen, mit "
                      "{context} Satz/Sätzen davor und danach ([…] markiert ausgelassene "
                      "Sätze):",
        "focus_head": "die ersten {head} Satz/Sätze und ",
        "focus_none": "(Kein Satz des Textes erwähnt {terms}.)",
        "one_of": "eine von", "list_of": "Liste aus", "or_null": "oder null", "to": "bis",
        "min": "mindestens", "max": "höchstens", "unit": "Einheit",
        "string": "Text", "integer": "ganze Zahl", "number": "Zahl", "boolean": "true/false",
    },
}


@dataclass(frozen=True)
class Label:
    """One class of a classification task."""

    name: str
    definition: str = ""


@dataclass(frozen=True)
class ParsedAnswer:
    """A model answer parsed against the task: ``value`` if valid, else ``error`` says why."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class TaskSpec:
    """A validated task spec (build it with :func:`load_task` or :func:`task_from_dict`)."""

    name: str
    kind: str
    instruction: str
    text_field: str
    language: str = "en"
    system: str = ""
    id_field: str | None = None
    label_field: str | None = None
    labels: tuple[Label, ...] = ()
    gold_field: str | None = None
    fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    long_notes: str = "truncate_middle"
    max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH
    focus: Focus | None = None
    source: str = field(default="task spec", compare=False)

    # ----- identity ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data, defaults filled in (what the hash covers)."""
        data: dict[str, Any] = {
            "name": self.name, "kind": self.kind, "language": self.language,
            "system": self.system, "instruction": self.instruction,
            "text_field": self.text_field, "id_field": self.id_field,
            "long_notes": self.long_notes, "max_seq_length": self.max_seq_length,
        }
        if self.focus is not None:
            data["focus"] = {"terms": list(self.focus.terms), "context": self.focus.context,
                             "head": self.focus.head}
        if self.kind == "classification":
            data["label_field"] = self.label_field
            data["labels"] = [{"name": lab.name, "definition": lab.definition}
                              for lab in self.labels]
        else:
            data["gold_field"] = self.gold_field
            data["fields"] = {k: dict(v) for k, v in self.fields.items()}
        return data

    def spec_hash(self) -> str:
        """sha256 of the canonical JSON of the spec (changes whenever the prompt could)."""
        data = self.to_dict()
        # the rendered scaffolding too, so a change of wording in mlxmed changes the hash
        data["prompt"] = [self.system_prompt(), self.user_prefix()]
        if "fields" in data:  # field order is part of the prompt and the answer: keep it
            data["fields"] = [[name, schema] for name, schema in data["fields"].items()]
        canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @property
    def label_names(self) -> list[str]:
        return [lab.name for lab in self.labels]

    @property
    def field_names(self) -> list[str]:
        return list(self.fields)

    # ----- schema --------------------------------------------------------------------------
    def json_schema(self) -> dict[str, Any]:
        """Extraction: the JSON Schema of one answer (all fields required, nothing extra)."""
        if self.kind != "extraction":
            return {"type": "string", "enum": self.label_names}
        return {
            "type": "object",
            "properties": {k: _standard_schema(v) for k, v in self.fields.items()},
            "required": list(self.fields),
            "additionalProperties": False,
        }

    def metrics(self) -> list[str]:
        """Names of the metrics reported for this kind of task."""
        if self.kind == "classification":
            return ["accuracy", "micro_f1", "macro_f1", "per_class"]
        return ["field_precision", "field_recall", "field_f1", "exact_match", "invalid_rate",
                "per_field"]

    # ----- prompt --------------------------------------------------------------------------
    def _phrase(self, key: str) -> str:
        return _PHRASES.get(self.language, _PHRASES["en"])[key]

    def system_prompt(self) -> str:
        return self.system or self._phrase("system")

    def user_prefix(self) -> str:
        """Everything of the user message that precedes the note (identical for every note)."""
        parts = [self.instruction.strip(), ""]
        if self.kind == "classification":
            parts.append(self._phrase("labels"))
            for lab in self.labels:
                parts.append(f"- {lab.name}: {lab.definition}" if lab.definition
                             else f"- {lab.name}")
            parts.append(self._phrase("one_of_answer") + ", ".join(self.label_names))
        else:
            parts.append(self._phrase("fields"))
            for name, schema in self.fields.items():
                line = f"- {name} ({self._describe(schema)})"
                if schema.get("description"):
                    line += f": {schema['description']}"
                parts.append(line)
            if any(_accepts_null(s) for s in self.fields.values()):
                parts.append(self._phrase("null_hint"))
            parts.append(self._phrase("json_hint"))
        note = self._focus_phrase("focus_note", self.focus) if self.focus else self._phrase("note")
        parts += ["", note, ""]
        return "\n".join(parts)

    def _focus_phrase(self, key: str, focus: Focus) -> str:
        terms = ", ".join(f"{term}…" for term in focus.terms)
        head = self._phrase("focus_head").format(head=focus.head) if focus.head else ""
        return self._phrase(key).format(terms=terms, context=focus.context, head=head)

    def note_text(self, text: str) -> str:
        """What the model reads of a note: the note itself, or with ``focus`` its sentences
        that mention the focus terms (every step that builds a prompt goes through here)."""
        if self.focus is None:
            return text
        return focus_text(text, self.focus, self._focus_phrase("focus_none", self.focus))

    def user_message(self, text: str) -> str:
        return self.user_prefix() + text

    def messages(self, text: str, answer: str | None = None) -> list[dict[str, str]]:
        """The chat for one note: system, user[, assistant]."""
        chat = [{"role": "system", "content": self.system_prompt()},
                {"role": "user", "content": self.user_message(text)}]
        if answer is not None:
            chat.append({"role": "assistant", "content": answer})
        return chat

    def _describe(self, schema: Mapping[str, Any]) -> str:
        base = _base_type(schema)
        items = schema.get("items") or {}
        if base == "array" and "enum" in items:
            values = [json.dumps(v, ensure_ascii=False) for v in items["enum"] if v is not None]
            text = f"{self._phrase('list_of')}: {', '.join(values)}"
        elif base == "array":
            text = f"{self._phrase('list_of')} {self._describe(items)}"
        elif "enum" in schema:
            values = [json.dumps(v, ensure_ascii=False) for v in schema["enum"] if v is not None]
            text = f"{self._phrase('one_of')}: {', '.join(values)}"
        else:
            text = self._phrase(base) if base else ""
            lo, hi = schema.get("minimum"), schema.get("maximum")
            if lo is not None and hi is not None:
                text += f" {lo} {self._phrase('to')} {hi}"
            elif lo is not None:
                text += f", {self._phrase('min')} {lo}"
            elif hi is not None:
                text += f", {self._phrase('max')} {hi}"
        if schema.get("unit"):
            text += f", {self._phrase('unit')} {schema['unit']}"
        if _accepts_null(schema):
            text += f", {self._phrase('or_null')}"
        return text

    # ----- answers -------------------------------------------------------------------------
    def answer_for(self, gold: Any) -> str:
        """The exact assistant answer for a gold value (label name, or one line of JSON)."""
        if self.kind == "classification":
            if gold not in self.label_names:
                raise MlxmedError(f"{self.source}: {gold!r} is not a label of task "
                                  f"'{self.name}'; use one of: {', '.join(self.label_names)}")
            return str(gold)
        missing = [k for k in self.fields if k not in gold]
        if missing:
            raise MlxmedError(f"{self.source}: gold value lacks field(s) {', '.join(missing)}; "
                              "give every field (null when not stated)")
        return format_json({k: canonical(gold[k], s) for k, s in self.fields.items()})

    def parse_answer(self, text: str) -> ParsedAnswer:
        """Parse a model answer; never raises (errors are reported in the result)."""
        stripped = text.strip()
        if self.kind == "classification":
            if stripped in self.label_names:
                return ParsedAnswer(stripped)
            shown = stripped if len(stripped) <= 60 else stripped[:57] + "..."
            return ParsedAnswer(error=f"answer {shown!r} is not one of the labels "
                                      f"({', '.join(self.label_names)})")
        try:
            value = json.loads(stripped)
        except ValueError as exc:
            return ParsedAnswer(error=f"answer is not valid JSON ({exc})")
        problem = schema_problem(self.json_schema(), value)
        if problem:
            return ParsedAnswer(error=f"answer does not match the schema: {problem}")
        return ParsedAnswer({k: canonical(value[k], s) for k, s in self.fields.items()})

    def gold_of(self, record: Mapping[str, Any]) -> Any:
        """The gold value of one input record (a CSV row or a JSONL object), validated.

        Raises :class:`MlxmedError` naming the field; callers add the file and row.
        """
        if self.kind == "classification":
            key = str(self.label_field)
            value = record.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise MlxmedError(f"field '{key}': missing label; fill it in with one of: "
                                  f"{', '.join(self.label_names)}")
            label = str(value).strip()
            if label not in self.label_names:
                raise MlxmedError(f"field '{key}': unknown label {label!r}; allowed: "
                                  f"{', '.join(self.label_names)}")
            return label
        if self.gold_field:
            raw = record.get(self.gold_field)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                raise MlxmedError(f"field '{self.gold_field}': missing gold object; give a "
                                  "JSON object with every field")
            if isinstance(raw, str):
                try:
                    raw = json.loads(raw)
                except ValueError as exc:
                    raise MlxmedError(f"field '{self.gold_field}': not valid JSON ({exc}); "
                                      "write the gold object as JSON") from exc
            gold = raw
        else:
            gold = {}
            for name, schema in self.fields.items():
                if name not in record:
                    raise MlxmedError(f"field '{name}': missing; add a column/key '{name}' "
                                      "(empty for null) or set gold_field in the task")
                gold[name] = _coerce_cell(record[name], schema, name)
        if not isinstance(gold, dict):
            raise MlxmedError(f"field '{self.gold_field}': gold must be a JSON object, "
                              f"got {type(gold).__name__}")
        problem = schema_problem(self.json_schema(), gold)
        if problem:
            where = f"field '{self.gold_field}'" if self.gold_field else "gold"
            raise MlxmedError(f"{where}: {problem}; correct the gold value")
        return {k: canonical(gold[k], s) for k, s in self.fields.items()}

    # ----- constrained decoding ------------------------------------------------------------
    def grammar(self) -> str:
        """A GBNF grammar that admits exactly the answers ``answer_for`` can produce."""
        if self.kind == "classification":
            return classification_grammar(self.label_names)
        return extraction_grammar(self.fields)


# ----- answer formatting -------------------------------------------------------------------
def canonical(value: Any, schema: Mapping[str, Any]) -> Any:
    """Lists of unique enum values (``uniqueItems``) are sets: put them in enum order."""
    if not isinstance(value, list) or not is_set_field(schema):
        return value
    order = {json.dumps(v, sort_keys=True): i for i, v in enumerate(schema["items"]["enum"])}
    keys = [json.dumps(v, sort_keys=True) for v in value]
    if any(k not in order for k in keys):
        return value
    return [v for _, v in sorted(zip(keys, value, strict=True), key=lambda kv: order[kv[0]])]


def format_json(value: Any) -> str:
    """One line of JSON: ``{"a": 1, "b": ["x", "y"], "c": null}`` (", " and ": " separators,
    non-ASCII kept, integral numbers without a fraction, no exponents)."""
    if isinstance(value, dict):
        items = [f"{json.dumps(str(k), ensure_ascii=False)}: {format_json(v)}"
                 for k, v in value.items()]
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_json(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    return json.dumps(str(value), ensure_ascii=False)


def format_number(value: float) -> str:
    """A finite float in plain positional notation, shortest round-tripping form."""
    if not math.isfinite(value):
        raise MlxmedError(f"number {value} cannot be written as JSON; use null")
    if value.is_integer():
        return str(int(value))
    text = repr(value)
    if "e" in text or "E" in text:
        import numpy as np

        text = np.format_float_positional(value, unique=True, trim="-")
    return text


def schema_problem(schema: Mapping[str, Any], value: Any) -> str | None:
    """The most relevant JSON Schema violation as one short line, or None if valid."""
    validator_cls = jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    message = error.message if len(error.message) <= 160 else error.message[:157] + "..."
    return f"{where}: {message}" if where else message


# ----- loading and validation --------------------------------------------------------------
def load_task(path: str | Path) -> TaskSpec:
    """Read and validate a task spec (YAML, or JSON for a ``.json`` file)."""
    path = Path(path)
    try:
        raw_text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise MlxmedError(f"{path}: task file not found; check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MlxmedError(f"{path}: cannot read the task file ({exc}); save it as UTF-8") from exc
    try:
        data = json.loads(raw_text) if path.suffix.lower() == ".json" else yaml.safe_load(raw_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise MlxmedError(f"{path}:{where} not valid YAML ({problem}); fix the syntax") from exc
    except ValueError as exc:
        raise MlxmedError(f"{path}: not valid JSON ({exc}); fix the syntax") from exc
    return task_from_dict(data, source=str(path))


def task_from_dict(data: Any, source: str = "task spec") -> TaskSpec:
    """Validate plain data (as read from a task file) into a :class:`TaskSpec`."""

    def fail(message: str) -> MlxmedError:
        return MlxmedError(f"{source}: {message}")

    if not isinstance(data, dict):
        raise fail("the task file must be a mapping of keys (name, kind, instruction, ...)")
    kind = data.get("kind")
    if kind not in KINDS:
        raise fail(f"key 'kind': {kind!r} is not a task kind; use one of: {', '.join(KINDS)}")
    allowed = _COMMON_KEYS + _KIND_KEYS[kind]
    for key in data:
        if key not in allowed:
            raise fail(f"unknown key {key!r} for a {kind} task; allowed keys: "
                       f"{', '.join(allowed)}")

    def text(key: str, required: bool = False, default: str | None = None) -> str | None:
        value = data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise fail(f"key '{key}' is required; add it")
            return default
        if not isinstance(value, str):
            raise fail(f"key '{key}' must be text, got {type(value).__name__}")
        return value

    name = text("name", required=True)
    if not _NAME_RE.match(name or ""):
        raise fail(f"key 'name': {name!r} may only use a-z, 0-9, '_' and '-'; rename it")
    language = (text("language", default="en") or "en").strip()
    long_notes = text("long_notes", default="truncate_middle")
    if long_notes not in LONG_NOTE_POLICIES:
        raise fail(f"key 'long_notes': {long_notes!r} is not a policy; use one of: "
                   f"{', '.join(LONG_NOTE_POLICIES)}")
    max_len = data.get("max_seq_length", DEFAULT_MAX_SEQ_LENGTH)
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 32:
        raise fail(f"key 'max_seq_length': {max_len!r} must be a whole number of tokens >= 32")

    common: dict[str, Any] = dict(
        name=name, kind=kind, language=language, system=text("system", default="") or "",
        instruction=text("instruction", required=True), text_field=text("text_field",
                                                                        required=True),
        id_field=text("id_field"), long_notes=long_notes, max_seq_length=max_len,
        focus=_parse_focus(data.get("focus"), fail), source=source)
    if kind == "classification":
        return TaskSpec(label_field=text("label_field", required=True),
                        labels=_parse_labels(data.get("labels"), fail), **common)
    return TaskSpec(gold_field=text("gold_field"), fields=_parse_fields(data.get("fields"), fail),
                    **common)


def _parse_focus(raw: Any, fail: Any) -> Focus | None:
    if raw is None:
        return None
    example = "focus: {terms: [smok, tobacco], context: 1, head: 1}"
    if not isinstance(raw, dict) or set(raw) - {"terms", "context", "head"}:
        raise fail(f"key 'focus' must be a mapping with 'terms' and optional 'context' and "
                   f"'head', like {example}")
    terms = raw.get("terms")
    if (not isinstance(terms, list) or not terms
            or not all(isinstance(t, str) and t.strip() for t in terms)):
        raise fail(f"key 'focus.terms' must be a non-empty list of words, like {example}")
    counts = {}
    for key, default in (("context", 1), ("head", 0)):
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
            raise fail(f"key 'focus.{key}': {value!r} must be a whole number of sentences "
                       "from 0 to 10")
        counts[key] = value
    return Focus(tuple(t.strip() for t in terms), **counts)


def _parse_labels(raw: Any, fail: Any) -> tuple[Label, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise fail("key 'labels' must list at least 2 labels, each {name, definition}")
    labels: list[Label] = []
    for i, entry in enumerate(raw, start=1):
        if isinstance(entry, str | int | float):  # a bare name (bool is an int, too)
            entry = {"name": entry}
        if not isinstance(entry, dict):
            raise fail(f"labels[{i}] must be a mapping {{name, definition}} or a name")
        for key in entry:
            if key not in ("name", "definition"):
                raise fail(f"labels[{i}]: unknown key {key!r}; allowed keys: name, definition")
        name, definition = entry.get("name"), entry.get("definition") or ""
        if isinstance(name, bool):
            raise fail(f"labels[{i}]: YAML read the name as {str(name).lower()}; put it in "
                       "quotes, e.g. \"yes\"")
        if not isinstance(name, str | int | float) or not str(name).strip():
            raise fail(f"labels[{i}]: 'name' is required and must be text")
        name = str(name)
        if name != name.strip() or any(ord(c) < 32 for c in name):
            raise fail(f"labels[{i}]: name {name!r} has leading/trailing spaces or control "
                       "characters; remove them")
        if not isinstance(definition, str):
            raise fail(f"labels[{i}]: 'definition' must be text")
        if name in {lab.name for lab in labels}:
            raise fail(f"labels[{i}]: duplicate label name {name!r}; label names must be unique")
        labels.append(Label(name, " ".join(definition.split())))
    return tuple(labels)


def _parse_fields(raw: Any, fail: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict) or not raw:
        raise fail("key 'fields' must map each field name to its schema, e.g. "
                   "lv_ef: {type: [integer, 'null']}")
    fields: dict[str, dict[str, Any]] = {}
    for name, schema in raw.items():
        if not isinstance(name, str) or not name.strip():
            raise fail(f"fields: {name!r} is not a valid field name")
        problem = check_field_schema(schema)
        if problem:
            raise fail(f"fields.{name}: {problem}")
        fields[name] = dict(schema)
    whole = {"type": "object", "properties": {k: _standard_schema(v) for k, v in fields.items()}}
    try:
        jsonschema.validators.validator_for(whole).check_schema(whole)
    except jsonschema.exceptions.SchemaError as exc:
        path = ".".join(str(p) for p in exc.path if p != "properties")
        raise fail(f"fields.{path}: not valid JSON Schema ({exc.message})") from exc
    return fields


def check_field_schema(schema: Any, item: bool = False) -> str | None:
    """Why a field schema is outside the supported subset (None if it is fine)."""
    if not isinstance(schema, dict):
        return "must be a mapping like {type: string}"
    allowed = ITEM_KEYS if item else FIELD_KEYS
    for key in schema:
        if key not in allowed:
            return f"unsupported key {key!r}; allowed keys: {', '.join(allowed)}"
    if "type" not in schema:
        return ("'type' is required (string, integer, number, boolean or array; add 'null' "
                "to allow null)")
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    base = [t for t in types if t != "null"]
    allowed_types = _SCALAR_TYPES if item else (*_SCALAR_TYPES, "array")
    if len(base) != 1 or base[0] not in allowed_types or len(set(types)) != len(types):
        return (f"type {schema['type']!r} is not supported; use one of "
                f"{', '.join(allowed_types)}, optionally with 'null', e.g. [integer, 'null']")
    kind = base[0]
    numeric = kind in ("integer", "number")
    for key in ("minimum", "maximum"):
        if key in schema:
            bound = schema[key]
            if not numeric:
                return f"'{key}' only applies to integer or number fields"
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                return f"'{key}' must be a number"
            if kind == "integer" and not float(bound).is_integer():
                return f"'{key}' of an integer field must be a whole number"
    if numeric and "minimum" in schema and "maximum" in schema and \
            schema["minimum"] > schema["maximum"]:
        return "'minimum' is greater than 'maximum'"
    for key in ("unit", "description"):
        if key in schema and not isinstance(schema[key], str):
            return f"'{key}' must be text"
    if kind == "array":
        if "enum" in schema:
            return "put 'enum' under 'items' for a list field"
        if "items" not in schema:
            return "a list field needs 'items', e.g. items: {type: string, enum: [...]}"
        problem = check_field_schema(schema["items"], item=True)
        if problem:
            return f"items: {problem}"
        lo, hi = schema.get("minItems", 0), schema.get("maxItems")
        for key, bound in (("minItems", lo), ("maxItems", hi)):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)
                                      or bound < 0):
                return f"'{key}' must be a whole number >= 0"
        if hi is not None and lo > hi:
            return "'minItems' is greater than 'maxItems'"
        if "uniqueItems" in schema and not isinstance(schema["uniqueItems"], bool):
            return "'uniqueItems' must be true or false"
        if is_set_field(schema) and lo > len(schema["items"]["enum"]):
            return "'minItems' is more than the number of distinct values in items.enum"
    else:
        for key in ("items", "minItems", "maxItems", "uniqueItems"):
            if key in schema:
                return f"'{key}' only applies to list (type: array) fields"
    if "enum" in schema:
        values = schema["enum"]
        if not isinstance(values, list) or not values:
            return "'enum' must be a non-empty list of allowed values"
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            return "'enum' lists a value twice"
        plain = {k: v for k, v in _standard_schema(schema).items() if k != "enum"}
        for value in values:
            if schema_problem(plain, value):
                hint = ("add 'null' to type" if value is None
                        else f"it does not match type {schema['type']!r} or the range")
                return f"enum value {json.dumps(value, ensure_ascii=False)} is not allowed; {hint}"
        if "null" in types and None not in values:
            return "type allows null but 'enum' does not list null; add null to enum"
    return None


def _standard_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The field schema without mlxmed's own keys (``unit``)."""
    out = {k: v for k, v in schema.items() if k != "unit"}
    if isinstance(out.get("items"), dict):
        out["items"] = _standard_schema(out["items"])
    return out


def _base_type(schema: Mapping[str, Any]) -> str:
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    base = [t for t in types if t != "null"]
    return str(base[0]) if base else ""


def _accepts_null(schema: Mapping[str, Any]) -> bool:
    types = schema.get("type")
    return "null" in (types if isinstance(types, list) else [types])


def _coerce_cell(value: Any, schema: Mapping[str, Any], name: str) -> Any:
    """A value from its own CSV column (text) to the field's JSON type; JSONL values pass."""
    if not isinstance(value, str):
        return value
    base = _base_type(schema)
    cell = value.strip()
    if cell == "" or (cell == "null" and _accepts_null(schema)):
        return None if (_accepts_null(schema) or base != "string") else value
    if base == "string":
        return value
    try:
        if base == "integer":
            return int(cell)
        if base == "number":
            return float(cell.replace(",", ".")) if cell.count(",") == 1 and "." not in cell \
                else float(cell)
        if base == "boolean" and cell.lower() in ("true", "false"):
            return cell.lower() == "true"
        if base == "array":
            parsed = json.loads(cell)
            if isinstance(parsed, list):
                return parsed
    except ValueError:
        pass
    examples = {"integer": "55", "number": "1.5", "boolean": "true or false",
                "array": '["a", "b"]'}
    raise MlxmedError(f"field '{name}': {value!r} is not a valid {base}; write it like "
                      f"{examples.get(base, 'text')} (empty cell for null)")
