"""Classification: one label per note, from a fixed set, each label with a one-line definition.

The answer is the label's name. Decoding scores every label in one pass over the note (see
:mod:`mlxmed.inference.labels`): the label a grammar-constrained greedy decoder would write,
with every label's probability.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from mlxmed.errors import MlxmedError
from mlxmed.evaluate.metrics import classification_metrics
from mlxmed.inference.labels import label_prediction
from mlxmed.tasks.base import ParsedAnswer, Task
from mlxmed.tasks.grammar import classification_grammar

if TYPE_CHECKING:
    from mlxmed.inference.predictor import Prediction, Predictor
    from mlxmed.models.chat_tokenizer import ChatTokenizer, Messages
    from mlxmed.tasks.spec import SpecReader

NO_ANSWER = "(none)"


@dataclass(frozen=True)
class Label:
    """One class of a classification task."""

    name: str
    definition: str = ""


@dataclass(frozen=True)
class ClassificationTask(Task):
    """Pick one of ``labels`` for each note; the gold label is in column ``label_field``."""

    kind: ClassVar[str] = "classification"
    kind_keys: ClassVar[tuple[str, ...]] = ("label_field", "labels")
    stratified_by: ClassVar[str] = "label"
    stratum_heading: ClassVar[str] = "Class"
    headline: ClassVar[str] = "macro_f1"
    balanced_sampling: ClassVar[bool] = True

    label_field: str = "label"
    labels: tuple[Label, ...] = ()

    @classmethod
    def parse_keys(cls, spec: SpecReader) -> dict[str, Any]:
        """This kind's keys of a task file, validated."""
        return {"label_field": spec.text("label_field", required=True),
                "labels": parse_labels(spec.data.get("labels"), spec.fail)}

    @property
    def label_names(self) -> list[str]:
        return [lab.name for lab in self.labels]

    def kind_dict(self) -> dict[str, Any]:
        return {"label_field": self.label_field,
                "labels": [{"name": lab.name, "definition": lab.definition}
                           for lab in self.labels]}

    def answer_parts(self) -> list[tuple[str, str]]:
        parts = [("labels heading", self.phrase("labels"))]
        parts += [(f"label {lab.name}", f"- {lab.name}: {lab.definition}" if lab.definition
                   else f"- {lab.name}") for lab in self.labels]
        return [*parts, ("answer hint", self.phrase("one_of_answer")
                         + ", ".join(self.label_names))]

    # ----- answers and gold values ---------------------------------------------------------
    def answer_for(self, gold: Any) -> str:
        if gold not in self.label_names:
            raise MlxmedError(f"{self.source}: {gold!r} is not a label of task '{self.name}'; "
                              f"use one of: {', '.join(self.label_names)}")
        return str(gold)

    def parse_answer(self, text: str) -> ParsedAnswer:
        stripped = text.strip()
        if stripped in self.label_names:
            return ParsedAnswer(stripped)
        shown = stripped if len(stripped) <= 60 else stripped[:57] + "..."
        return ParsedAnswer(error=f"answer {shown!r} is not one of the labels "
                                  f"({', '.join(self.label_names)})")

    def gold_columns(self) -> list[str]:
        return [self.label_field]

    def gold_of(self, record: Mapping[str, Any]) -> Any:
        key = self.label_field
        value = record.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise MlxmedError(f"field '{key}': missing label; fill it in with one of: "
                              f"{', '.join(self.label_names)}")
        label = str(value).strip()
        if label not in self.label_names:
            raise MlxmedError(f"field '{key}': unknown label {label!r}; allowed: "
                              f"{', '.join(self.label_names)}")
        return label

    def gold_cells(self, gold: Any) -> dict[str, Any]:
        return {self.label_field: gold}

    def answer_form(self) -> dict[str, Any]:
        return {"type": "choice", "choices": [{"value": lab.name, "description": lab.definition}
                                              for lab in self.labels]}

    def stratum(self, gold: Any) -> str:
        return str(gold)

    def strata_order(self, found: Sequence[str]) -> list[str]:
        """The strata in the task's label order."""
        return [name for name in self.label_names if name in found]

    def grammar(self) -> str:
        return classification_grammar(self.label_names)

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": self.label_names}

    # ----- decoding ------------------------------------------------------------------------
    def predict(self, predictor: Predictor, messages: Messages) -> Prediction:
        label_ids = predictor.label_ids(messages, self.label_names)
        logprobs = predictor.label_logprobs(messages, label_ids)
        return label_prediction(self.label_names, label_ids, logprobs)

    def answer_budget(self, chat: ChatTokenizer, max_tokens: int) -> int:
        return 8 + max(len(chat.encode(label)) for label in self.label_names)

    # ----- scores --------------------------------------------------------------------------
    def metric_names(self) -> list[str]:
        return ["accuracy", "micro_f1", "macro_f1", "per_class"]

    def metrics(self, gold: Sequence[Any], predicted: Sequence[Any]) -> dict[str, Any]:
        result = classification_metrics(self.label_names, gold, predicted)
        result.update(headline=result["macro_f1"], headline_name="macro_f1")
        return result

    def comparison(self, gold: Sequence[Any], predicted: Sequence[Any]) -> dict[str, Any]:
        from sklearn.metrics import confusion_matrix

        names = [*self.label_names, NO_ANSWER]
        matrix = confusion_matrix(list(gold), [p if p is not None else NO_ANSWER
                                               for p in predicted], labels=names)
        return {"confusion_matrix": {"labels": names, "matrix": matrix.tolist()}}

    def error_weight(self, gold: Any, predicted: Any, row: Mapping[str, Any]) -> float | None:
        if predicted == gold:
            return None
        return float(row.get("confidence") or 0)  # the most confidently wrong first

    # ----- output rows ---------------------------------------------------------------------
    def answer_columns(self) -> list[str]:
        return ["label"]

    def answer_cells(self, value: Any) -> dict[str, Any]:
        return {"label": value}

    def value_from_row(self, row: Mapping[str, Any]) -> Any:
        if row.get("status") != "ok":
            return None
        return row.get("label") or None

    def summary_key(self, value: Any) -> str | None:
        return str(value) if value else None


def parse_labels(raw: Any, fail: Callable[[str], MlxmedError]) -> tuple[Label, ...]:
    """The ``labels`` of a task file: at least two, each a name or {name, definition}."""
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
