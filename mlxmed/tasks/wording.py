"""The few words of scaffolding mlxmed puts around a task's own instruction, per language
(other languages fall back to English), and the one-line description of an extraction field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlxmed.tasks.values import accepts_null, base_type

PHRASES: dict[str, dict[str, str]] = {
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


def phrase(language: str, key: str) -> str:
    """The scaffolding phrase ``key`` in ``language`` (English when the language is unknown)."""
    return PHRASES.get(language, PHRASES["en"])[key]


def describe_field(schema: Mapping[str, Any], language: str) -> str:
    """What a field holds, in a few words: type, range, allowed values, unit, null."""
    def say(key: str) -> str:
        return phrase(language, key)

    base = base_type(schema)
    items = schema.get("items") or {}
    if base == "array" and "enum" in items:
        values = [json.dumps(v, ensure_ascii=False) for v in items["enum"] if v is not None]
        text = f"{say('list_of')}: {', '.join(values)}"
    elif base == "array":
        text = f"{say('list_of')} {describe_field(items, language)}"
    elif "enum" in schema:
        values = [json.dumps(v, ensure_ascii=False) for v in schema["enum"] if v is not None]
        text = f"{say('one_of')}: {', '.join(values)}"
    else:
        text = say(base) if base else ""
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is not None and hi is not None:
            text += f" {lo} {say('to')} {hi}"
        elif lo is not None:
            text += f", {say('min')} {lo}"
        elif hi is not None:
            text += f", {say('max')} {hi}"
    if schema.get("unit"):
        text += f", {say('unit')} {schema['unit']}"
    if accepts_null(schema):
        text += f", {say('or_null')}"
    return text
