"""Validation of an extraction task's ``fields``: each a JSON Schema from the subset mlxmed
can prompt for, constrain with a grammar and score (scalars with ranges and units, enums, and
lists of them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema

from mlxmed.errors import MlxmedError
from mlxmed.tasks.grammar import is_set_field
from mlxmed.tasks.values import accepts_null, base_type, schema_problem, standard_schema

SCALAR_TYPES = ("string", "integer", "number", "boolean")
FIELD_KEYS = ("type", "enum", "minimum", "maximum", "items", "minItems", "maxItems",
              "uniqueItems", "unit", "tolerance", "description")
ITEM_KEYS = ("type", "enum", "minimum", "maximum", "description")
# the columns every extraction output row has besides the task's own fields
RESERVED_COLUMNS = ("id", "confidence", "status", "error", "ms", "text")


def parse_fields(raw: Any, fail: Callable[[str], MlxmedError]) -> dict[str, dict[str, Any]]:
    """The ``fields`` of a task file, each checked (see :func:`check_field_schema`)."""
    if not isinstance(raw, dict) or not raw:
        raise fail("key 'fields' must map each field name to its schema, e.g. "
                   "lv_ef: {type: [integer, 'null']}")
    fields: dict[str, dict[str, Any]] = {}
    for name, schema in raw.items():
        if not isinstance(name, str) or not name.strip():
            raise fail(f"fields: {name!r} is not a valid field name")
        if name in RESERVED_COLUMNS or name.endswith("_confidence"):
            raise fail(f"fields.{name}: the name is taken by a column of the extraction "
                       f"output ({', '.join(RESERVED_COLUMNS)}, NAME_confidence); rename the "
                       "field")
        problem = check_field_schema(schema)
        if problem:
            raise fail(f"fields.{name}: {problem}")
        fields[name] = dict(schema)
    whole = {"type": "object", "properties": {k: standard_schema(v) for k, v in fields.items()}}
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
    allowed_types = SCALAR_TYPES if item else (*SCALAR_TYPES, "array")
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
    if "tolerance" in schema:
        value = schema["tolerance"]
        if kind not in ("integer", "number"):
            return "'tolerance' only applies to integer and number fields"
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            return "'tolerance' must be a number >= 0 (how far off a value may be and count)"
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
        plain = {k: v for k, v in standard_schema(schema).items() if k != "enum"}
        for value in values:
            if schema_problem(plain, value):
                hint = ("add 'null' to type" if value is None
                        else f"it does not match type {schema['type']!r} or the range")
                return f"enum value {json.dumps(value, ensure_ascii=False)} is not allowed; {hint}"
        if "null" in types and None not in values:
            return "type allows null but 'enum' does not list null; add null to enum"
    return None


def field_form(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """How a person fills in one field: the widget (``choice`` of the enum values or yes/no,
    ``number``, ``text``, ``multi`` for a list of enum values, ``list`` for other lists, one
    item per line), its bounds and unit, and whether it may be left "not stated" (null)."""
    base = base_type(schema)
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    form: dict[str, Any] = {"name": name, "type": base, "nullable": accepts_null(schema),
                            "description": schema.get("description", ""),
                            "unit": schema.get("unit", "")}
    if base == "array":
        form["items_type"] = base_type(items)
        form["min_items"], form["max_items"] = schema.get("minItems"), schema.get("maxItems")
        if "enum" in items:
            form.update(widget="multi", choices=[v for v in items["enum"] if v is not None])
        else:
            form["widget"] = "list"
    elif "enum" in schema:
        form.update(widget="choice", choices=[v for v in schema["enum"] if v is not None])
    elif base == "boolean":
        form.update(widget="choice", choices=[True, False])
    elif base in ("integer", "number"):
        form.update(widget="number", minimum=schema.get("minimum"),
                    maximum=schema.get("maximum"), step=1 if base == "integer" else "any")
    else:
        form["widget"] = "text"
    return form
