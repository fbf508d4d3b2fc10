"""An extraction task's answers as one byte-level regular expression: the same strings as its
GBNF grammar (:mod:`mlxmed.tasks.grammar`), for decoding in Python on any engine. A prefix of
an answer can be tested (``viable``), a whole answer recognised (``complete``), and the bytes
that must come next without a choice found (``forced``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from itertools import islice
from typing import Any

import regex

from mlxmed.tasks.grammar import MAX_DIGITS, integer_range, is_set_field

_STRING = rb'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"'


def _literal(value: Any) -> bytes:
    return regex.escape(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def _integer(lo: Any, hi: Any) -> bytes:
    """The GBNF integer range (literals, classes, repetitions) as a regex."""
    body = integer_range(lo, hi).replace('"', "").replace(" ", "")
    return body.encode("ascii")


def value_pattern(schema: Mapping[str, Any]) -> bytes:
    """The regex of one field's (or list item's) JSON value, as the grammar admits it."""
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    base = next(t for t in types if t != "null")
    if "enum" in schema:
        body = b"|".join(_literal(v) for v in schema["enum"])
        return b"(?:" + body + b")"
    if base == "array" and is_set_field(schema):
        values = [_literal(v) for v in schema["items"]["enum"]]
        starts = [values[i] + b"".join(b"(?:, " + v + b")?" for v in values[i + 1:])
                  for i in range(len(values))]
        body = rb"\[(?:" + b"|".join(starts) + rb")\]"
        if schema.get("minItems", 0) == 0:
            body = rb"\[\]|" + body
    elif base == "array":
        item = value_pattern(schema["items"])
        lo, hi = schema.get("minItems", 0), schema.get("maxItems")
        if hi == 0:
            body = rb"\[\]"
        else:
            more_lo = max(lo, 1) - 1
            more_hi = b"" if hi is None else str(hi - 1).encode()
            body = rb"\[" + item + b"(?:, " + item + b"){" + str(more_lo).encode() + b"," + \
                more_hi + rb"}\]"
            if lo == 0:
                body = rb"\[\]|" + body
    elif base == "integer":
        body = _integer(schema.get("minimum"), schema.get("maximum"))
    elif base == "number":
        lo = schema.get("minimum")
        sign = b"" if lo is not None and lo >= 0 else b"-?"
        body = sign + b"(?:0|[1-9][0-9]{0," + str(MAX_DIGITS - 1).encode() + \
            rb"})(?:\.[0-9]+)?"
    elif base == "boolean":
        body = b"true|false"
    else:
        body = _STRING
    if "null" in types:
        body = body + b"|null"
    return b"(?:" + body + b")"


class AnswerPattern:
    """One line of JSON with every field, in order, as the task's grammar admits it."""

    def __init__(self, fields: Mapping[str, Mapping[str, Any]]) -> None:
        self.names = list(fields)
        parts = []
        for index, (name, schema) in enumerate(fields.items()):
            key = ("" if index == 0 else ", ") + json.dumps(name, ensure_ascii=False) + ": "
            parts.append(regex.escape(key.encode("utf-8")))
            parts.append(b"(?P<f" + str(index).encode() + b">" + value_pattern(schema) + b")")
        self.regex = regex.compile(rb"\{" + b"".join(parts) + rb"\}")

    def viable(self, text: bytes) -> bool:
        """Whether ``text`` can be continued into an answer (or is one)."""
        return self.regex.fullmatch(text, partial=True) is not None

    def complete(self, text: bytes) -> bool:
        """Whether ``text`` is a whole answer."""
        return self.regex.fullmatch(text) is not None

    def forced(self, text: bytes, limit: int = 256) -> bytes:
        """The bytes that must follow ``text`` whatever is chosen (empty at a choice, or
        where the answer could end)."""
        out = b""
        while len(out) < limit and not self.complete(text + out):
            # the first two viable next bytes: a second one makes it a choice
            nexts = list(islice((byte for byte in range(256)
                                 if self.viable(text + out + bytes([byte]))), 2))
            if len(nexts) != 1:
                break
            out += bytes(nexts)
        return out

    def value_spans(self, text: bytes) -> dict[str, tuple[int, int]]:
        """Where each field's value sits in a whole answer (byte offsets)."""
        match = self.regex.fullmatch(text)
        if match is None:
            return {}
        return {name: match.span(f"f{index}") for index, name in enumerate(self.names)}

