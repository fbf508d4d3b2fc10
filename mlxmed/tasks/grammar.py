"""GBNF grammars for llama.cpp constrained decoding.

The grammars admit exactly the answer format of :meth:`TaskSpec.answer_for`:

* classification: one label name, nothing else;
* extraction: ``{"a": 1, "b": "x", "c": ["y", "z"], "d": null}`` -- keys in field order,
  ``", "`` between items, ``": "`` after keys, no other whitespace; integers respect
  ``minimum``/``maximum`` exactly; enums allow only their values; a ``uniqueItems`` list of
  enum values admits each value at most once, in enum order. Number ranges, string lengths and
  ``minItems``/``maxItems`` of such sets are checked by the parser, not the grammar.

llama-cpp-python ships a JSON-Schema converter, but it lets the model put optional spaces
between tokens and ignores integer ranges, so this module converts the small schema subset
that :func:`mlxmed.tasks.check_field_schema` allows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

#: longest integer part a number may have (``[1-9]`` plus 15 more digits)
MAX_DIGITS = 16

_STRING = r'"\"" ( [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\""'
_BOOLEAN = '"true" | "false"'


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal (quotes, backslashes and control characters escaped;
    other characters, including non-ASCII, kept as they are)."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\x{ord(char):02X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def classification_grammar(labels: Iterable[str]) -> str:
    """``root ::= ("A" | "B" | ...)``."""
    return "root ::= (" + " | ".join(gbnf_literal(label) for label in labels) + ")\n"


def extraction_grammar(fields: Mapping[str, Mapping[str, Any]]) -> str:
    """A grammar for one line of JSON holding every field, in order."""
    rules: dict[str, str] = {}
    parts = []
    for index, (name, schema) in enumerate(fields.items(), start=1):
        rule = f"f{index}-" + (re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-").lower() or "x")
        rules[rule] = _value(schema, rules, rule)
        key = ("" if index == 1 else ", ") + json.dumps(name, ensure_ascii=False) + ": "
        parts.append(f"{gbnf_literal(key)} {rule}")
    lines = ['root ::= "{" ' + " ".join(parts) + ' "}"']
    lines += [f"{name} ::= {body}" for name, body in rules.items()]
    if any("string" in body.split() for body in rules.values()):
        lines.append(f"string ::= {_STRING}")
    return "\n".join(lines) + "\n"


def _value(schema: Mapping[str, Any], rules: dict[str, str], rule: str) -> str:
    """The GBNF expression for one (possibly nullable) field or item value."""
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    base = next(t for t in types if t != "null")
    nullable = "null" in types
    if "enum" in schema:
        return " | ".join(gbnf_literal(json.dumps(v, ensure_ascii=False)) for v in schema["enum"])
    if base == "array" and is_set_field(schema):
        body = _ordered_subset(schema, rules, rule)
    elif base == "array":
        item_rule = f"{rule}-item"
        rules[item_rule] = _value(schema["items"], rules, item_rule)
        body = _array(item_rule, schema.get("minItems", 0), schema.get("maxItems"))
    elif base == "integer":
        body = integer_range(schema.get("minimum"), schema.get("maximum"))
    elif base == "number":
        lo = schema.get("minimum")
        sign = "" if lo is not None and lo >= 0 else '"-"? '
        body = f'{sign}("0" | [1-9] [0-9]{{0,{MAX_DIGITS - 1}}}) ("." [0-9]+)?'
    elif base == "boolean":
        body = _BOOLEAN
    else:
        body = "string"
    return f'{body} | "null"' if nullable else body


def is_set_field(schema: Mapping[str, Any]) -> bool:
    """A list of unique enum values: answers list them once each, in enum order."""
    items = schema.get("items")
    return bool(schema.get("uniqueItems")) and isinstance(items, Mapping) and "enum" in items


def _ordered_subset(schema: Mapping[str, Any], rules: dict[str, str], rule: str) -> str:
    """Lists of distinct enum values in enum order: ``s<i>`` starts with value i, ``t<i>``
    starts with value i or a later one (so no value can repeat and the model cannot loop)."""
    values = [gbnf_literal(json.dumps(v, ensure_ascii=False)) for v in schema["items"]["enum"]]
    count = len(values)
    for i, value in enumerate(values):
        rules[f"{rule}-s{i}"] = value if i == count - 1 else f'{value} (", " {rule}-t{i + 1})?'
    for i in range(count):
        rules[f"{rule}-t{i}"] = f"{rule}-s{i}" if i == count - 1 else \
            f"{rule}-s{i} | {rule}-t{i + 1}"
    filled = f'"[" {rule}-t0 "]"'
    return f'"[]" | {filled}' if schema.get("minItems", 0) == 0 else filled


def _array(item: str, lo: int, hi: int | None) -> str:
    if hi == 0:
        return '"[]"'
    more_lo = max(lo, 1) - 1
    if hi is None:
        more = f'("," " " {item})' + ("*" if more_lo == 0 else f"{{{more_lo},}}")
    else:
        more = f'("," " " {item}){{{more_lo},{hi - 1}}}'
    filled = f'"[" {item} {more} "]"'
    return f'"[]" | {filled}' if lo == 0 else filled


# ----- integer ranges ----------------------------------------------------------------------
def integer_range(lo: int | float | None, hi: int | float | None) -> str:
    """A GBNF expression for the JSON integers in [lo, hi] (None = unbounded, but at most
    ``MAX_DIGITS`` digits)."""
    lo_i = None if lo is None else int(lo)
    hi_i = None if hi is None else int(hi)
    alternatives: list[str] = []
    if lo_i is None or lo_i < 0:  # the negative part: "-" followed by |value| in a range
        neg_lo = 1 if hi_i is None or hi_i >= 0 else -hi_i
        neg_hi = None if lo_i is None else -lo_i
        alternatives += ['"-" ' + alt for alt in _nonnegative(neg_lo, neg_hi)]
    if hi_i is None or hi_i >= 0:
        alternatives += _nonnegative(max(lo_i or 0, 0), hi_i)
    if not alternatives:  # an empty range cannot pass check_field_schema; stay well-formed
        return '"0"'
    return " | ".join(f"({alt})" if " " in alt else alt for alt in alternatives)


def _nonnegative(lo: int, hi: int | None) -> list[str]:
    """Alternatives (GBNF sequences) matching the decimal integers in [lo, hi]."""
    out: list[str] = []
    lo_len = len(str(lo))
    top_len = MAX_DIGITS if hi is None else len(str(hi))
    for length in range(lo_len, top_len + 1):
        start = max(lo, 10 ** (length - 1) if length > 1 else 0)
        end = 10**length - 1 if hi is None else min(hi, 10**length - 1)
        if start > end:
            continue
        if hi is None and length > lo_len:  # every longer length is a full block
            return out + [f"[1-9] [0-9]{{{length - 1},{MAX_DIGITS - 1}}}"]
        out += [" ".join(_merge(atoms)) for atoms in _same_length(str(start), str(end))]
    return out


def _same_length(x: str, y: str) -> list[list[str]]:
    """Digit patterns for the numbers from x to y (same number of digits, x <= y)."""
    if not x:
        return [[]]
    if x[0] == y[0]:
        return [[x[0]] + rest for rest in _same_length(x[1:], y[1:])]
    n = len(x) - 1
    low_full, high_full = set(x[1:]) <= {"0"}, set(y[1:]) <= {"9"}
    first = int(x[0]) + (0 if low_full else 1)
    last = int(y[0]) - (0 if high_full else 1)
    patterns: list[list[str]] = []
    if not low_full:
        patterns += [[x[0]] + rest for rest in _same_length(x[1:], "9" * n)]
    if first <= last:
        head = str(first) if first == last else f"[{first}-{last}]"
        patterns.append([head] + ["[0-9]"] * n)
    if not high_full:
        patterns += [[y[0]] + rest for rest in _same_length("0" * n, y[1:])]
    return patterns


def _merge(atoms: list[str]) -> list[str]:
    """Join runs of literal digits into one string literal and runs of [0-9] into {n}."""
    out: list[str] = []
    i = 0
    while i < len(atoms):
        j = i
        if atoms[i].isdigit():
            while j < len(atoms) and atoms[j].isdigit():
                j += 1
            out.append('"' + "".join(atoms[i:j]) + '"')
        else:
            while j < len(atoms) and atoms[j] == atoms[i]:
                j += 1
            count = j - i
            out.append(atoms[i] if count == 1 else f"{atoms[i]}{{{count}}}")
        i = j
    return out
