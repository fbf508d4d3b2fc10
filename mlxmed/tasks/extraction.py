"""Extraction: one JSON object per note, a field per thing to pull out (numbers with units and
ranges, enums, text, lists of normalised entities; null when the note does not state it).

The answer is one line of JSON with the fields in task order (:func:`format_json`); decoding is
greedy under a GBNF grammar that admits exactly such lines.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from mlxmed.errors import MlxmedError
from mlxmed.evaluate.metrics import (
    MISSING,
    enum_confusion,
    extraction_metrics,
    field_counts,
)
from mlxmed.tasks.base import ParsedAnswer, Task
from mlxmed.tasks.field_schema import field_form, parse_fields
from mlxmed.tasks.grammar import extraction_grammar
from mlxmed.tasks.pattern import AnswerPattern
from mlxmed.tasks.values import (
    accepts_null,
    canonical,
    cell_value,
    coerce_cell,
    format_json,
    schema_problem,
    standard_schema,
)
from mlxmed.tasks.wording import describe_field

if TYPE_CHECKING:
    from mlxmed.inference.predictor import Prediction, Predictor
    from mlxmed.models.chat_tokenizer import ChatTokenizer, Messages
    from mlxmed.tasks.spec import SpecReader


@dataclass(frozen=True)
class ExtractionTask(Task):
    """Fill ``fields`` (JSON Schema per field) for each note; the gold object is in
    ``gold_field`` (JSON) or, without it, in one column per field."""

    kind: ClassVar[str] = "extraction"
    kind_keys: ClassVar[tuple[str, ...]] = ("gold_field", "fields")
    stratified_by: ClassVar[str] = "filled/empty gold answer"
    stratum_heading: ClassVar[str] = "Gold answer"
    headline: ClassVar[str] = "field_f1"
    # decoding each validation note at every evaluation took 12-18 s a cardiology report in
    # MLX on 2 CPU cores; read with the gold answer fed in, a note costs one pass
    forced_validation: ClassVar[bool] = True

    gold_field: str | None = None
    fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def parse_keys(cls, spec: SpecReader) -> dict[str, Any]:
        """This kind's keys of a task file, validated."""
        return {"gold_field": spec.text("gold_field"),
                "fields": parse_fields(spec.data.get("fields"), spec.fail)}

    @property
    def field_names(self) -> list[str]:
        return list(self.fields)

    @property
    def tolerances(self) -> dict[str, float]:
        """Each numeric field's evaluation tolerance (``tolerance`` in its schema)."""
        return {name: float(schema["tolerance"]) for name, schema in self.fields.items()
                if "tolerance" in schema}

    def kind_dict(self) -> dict[str, Any]:
        return {"gold_field": self.gold_field,
                "fields": {k: dict(v) for k, v in self.fields.items()}}

    def hashable(self, data: dict[str, Any]) -> dict[str, Any]:
        # field order is part of the prompt and the answer: keep it through the key sort;
        # a tolerance only changes how answers are scored, not what the model was taught
        return {**data, "fields": [[name, {k: v for k, v in schema.items() if k != "tolerance"}]
                                   for name, schema in data["fields"].items()]}

    def answer_parts(self) -> list[tuple[str, str]]:
        parts = [("fields heading", self.phrase("fields"))]
        for name, schema in self.fields.items():
            line = f"- {name} ({describe_field(schema, self.language)})"
            if schema.get("description"):
                line += f": {schema['description']}"
            parts.append((f"field {name}", line))
        if any(accepts_null(s) for s in self.fields.values()):
            parts.append(("null hint", self.phrase("null_hint")))
        return [*parts, ("answer hint", self.phrase("json_hint"))]

    # ----- answers and gold values ---------------------------------------------------------
    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of one answer (all fields required, nothing extra)."""
        return {
            "type": "object",
            "properties": {k: standard_schema(v) for k, v in self.fields.items()},
            "required": list(self.fields),
            "additionalProperties": False,
        }

    def answer_for(self, gold: Any) -> str:
        missing = [k for k in self.fields if k not in gold]
        if missing:
            raise MlxmedError(f"{self.source}: gold value lacks field(s) {', '.join(missing)}; "
                              "give every field (null when not stated)")
        return format_json({k: canonical(gold[k], s) for k, s in self.fields.items()})

    def value_spans(self, answer: str) -> dict[str, tuple[int, int]]:
        """Each field's value in a canonical answer (:meth:`answer_for`) as a UTF-8 byte span
        that includes the byte closing the value (``,`` or ``}``), so a value the model would
        run on (``12`` for ``1``) does not count as right."""
        decoder = json.JSONDecoder()
        spans, position = {}, 0
        for name in self.fields:
            key = json.dumps(name, ensure_ascii=False) + ": "
            start = answer.index(key, position) + len(key)
            end = decoder.raw_decode(answer, start)[1]
            spans[name] = (len(answer[:start].encode()), len(answer[:end].encode()) + 1)
            position = end
        return spans

    def parse_answer(self, text: str) -> ParsedAnswer:
        try:
            value = json.loads(text.strip())
        except ValueError as exc:
            return ParsedAnswer(error=f"answer is not valid JSON ({exc})")
        problem = schema_problem(self.json_schema(), value)
        if problem:
            return ParsedAnswer(error=f"answer does not match the schema: {problem}")
        return ParsedAnswer({k: canonical(value[k], s) for k, s in self.fields.items()})

    def gold_columns(self) -> list[str]:
        return [self.gold_field] if self.gold_field else self.field_names

    def gold_of(self, record: Mapping[str, Any]) -> Any:
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
                gold[name] = coerce_cell(record[name], schema, name)
        if not isinstance(gold, dict):
            raise MlxmedError(f"field '{self.gold_field}': gold must be a JSON object, "
                              f"got {type(gold).__name__}")
        problem = schema_problem(self.json_schema(), gold)
        if problem:
            where = f"field '{self.gold_field}'" if self.gold_field else "gold"
            raise MlxmedError(f"{where}: {problem}; correct the gold value")
        return {k: canonical(gold[k], s) for k, s in self.fields.items()}

    def gold_cells(self, gold: Any) -> dict[str, Any]:
        if self.gold_field:
            return {self.gold_field: dict(gold)}
        return {name: gold.get(name) for name in self.field_names}

    def answer_form(self) -> dict[str, Any]:
        return {"type": "fields", "fields": [field_form(name, schema)
                                             for name, schema in self.fields.items()]}

    def stratum(self, gold: Any) -> str:
        """Whether the gold answer states anything at all ("filled") or is all null/empty."""
        return "filled" if any(v not in (None, [], "") for v in gold.values()) else "empty"

    def strata_order(self, found: Sequence[str]) -> list[str]:
        return list(found)

    def grammar(self) -> str:
        return extraction_grammar(self.fields)

    # ----- decoding ------------------------------------------------------------------------
    @cached_property
    def answer_pattern(self) -> AnswerPattern:
        """The answers of this task as a byte pattern (the grammar's language)."""
        return AnswerPattern(self.fields)

    def predict(self, predictor: Predictor, messages: Messages) -> Prediction:
        from mlxmed.inference.predictor import Prediction

        decoded = predictor.schema_answer(messages, self.answer_pattern)
        parsed = self.parse_answer(decoded.text)
        if not decoded.complete:
            return Prediction(None, decoded.text, None,
                              f"the answer was cut at {predictor.max_tokens} tokens")
        fields = decoded.field_confidence
        known = [c for c in fields.values() if c is not None]
        return Prediction(parsed.value if parsed.ok else None, decoded.text,
                          min(known) if known and parsed.ok else None, parsed.error,
                          field_confidence=fields if parsed.ok else None)

    def answer_budget(self, chat: ChatTokenizer, max_tokens: int) -> int:
        return max_tokens

    # ----- scores --------------------------------------------------------------------------
    def metric_names(self) -> list[str]:
        return ["field_precision", "field_recall", "field_f1", "exact_match", "invalid_rate",
                "per_field"]

    def metrics(self, gold: Sequence[Any], predicted: Sequence[Any]) -> dict[str, Any]:
        result = extraction_metrics(self.field_names, gold, predicted, self.tolerances)
        result.update(headline=result["field_f1"], headline_name="field_f1")
        return result

    def comparison(self, gold: Sequence[Any], predicted: Sequence[Any]) -> dict[str, Any]:
        """A confusion matrix for each single-value enum field."""
        matrices = {}
        for name, schema in self.fields.items():
            values = schema.get("enum")
            if values is None:
                continue
            matrices[name] = enum_confusion(values, [g.get(name) for g in gold],
                                            [MISSING if p is None else p.get(name)
                                             for p in predicted])
        return {"field_confusion": matrices} if matrices else {}

    def error_weight(self, gold: Any, predicted: Any, row: Mapping[str, Any]) -> float | None:
        wrong = sum(sum(field_counts(gold.get(n), (predicted or {}).get(n),
                                     self.tolerances.get(n, 0.0))[1:])
                    for n in self.field_names)
        if predicted is not None and wrong == 0:
            return None
        return wrong  # the most fields wrong first

    def split_counts(self, golds: Sequence[Any]) -> dict[str, int] | None:
        """How many notes state each field."""
        return {f: sum(g[f] not in (None, []) for g in golds) for f in self.field_names}

    # ----- output rows ---------------------------------------------------------------------
    def answer_columns(self) -> list[str]:
        return self.field_names

    def answer_cells(self, value: Any) -> dict[str, Any]:
        return {name: value.get(name) for name in self.field_names}

    def confidence_columns(self) -> list[str]:
        return [f"{name}_confidence" for name in self.field_names]

    def confidence_cells(self, prediction: Prediction) -> dict[str, Any]:
        """The weakest field's confidence, and each field's (the probability the model gives
        the value it chose; 1.0 where the answer's form left no choice)."""
        fields = prediction.field_confidence or {}
        cells = super().confidence_cells(prediction)
        for name in self.field_names:
            value = fields.get(name)
            cells[f"{name}_confidence"] = round(value, 4) if value is not None else None
        return cells

    def value_from_row(self, row: Mapping[str, Any]) -> Any:
        if row.get("status") != "ok":
            return None
        value = {}
        for name in self.field_names:
            cell = row.get(name)
            value[name] = cell_value(cell) if isinstance(cell, str) else cell
        return value
