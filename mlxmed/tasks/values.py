"""Answer values: the one-line JSON mlxmed writes, JSON Schema checks, and CSV cells to typed
values. Shared by the task kinds and the spec loader."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import jsonschema

from mlxmed.errors import MlxmedError
from mlxmed.tasks.grammar import is_set_field


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


def standard_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The field schema without mlxmed's own keys (``unit``, ``tolerance``)."""
    out = {k: v for k, v in schema.items() if k not in ("unit", "tolerance")}
    if isinstance(out.get("items"), dict):
        out["items"] = standard_schema(out["items"])
    return out


def base_type(schema: Mapping[str, Any]) -> str:
    """The schema's type other than null (``[integer, 'null']`` -> ``integer``)."""
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    base = [t for t in types if t != "null"]
    return str(base[0]) if base else ""


def accepts_null(schema: Mapping[str, Any]) -> bool:
    types = schema.get("type")
    return "null" in (types if isinstance(types, list) else [types])


def coerce_cell(value: Any, schema: Mapping[str, Any], name: str) -> Any:
    """A value from its own CSV column (text) to the field's JSON type; JSONL values pass."""
    if not isinstance(value, str):
        return value
    base = base_type(schema)
    cell = value.strip()
    if cell == "" or (cell == "null" and accepts_null(schema)):
        return None if (accepts_null(schema) or base != "string") else value
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


def cell_value(cell: str) -> Any:
    """An output CSV cell back to its value: JSON for numbers, lists and null, else text."""
    if cell == "":
        return None
    try:
        return json.loads(cell)
    except ValueError:
        return cell
