"""What every task kind shares: identity (the spec hash), the prompt layout, and the contract a
kind fulfils (answers, gold values, grammar, decoding, metrics, output columns).

Prompt layout (the same for every note up to the note itself, so the prefix can be KV-cached):

    system:    the system prompt
    user:      instruction
               <blank line>
               what the answer must be: labels with definitions, or fields  (the kind's part)
               <blank line>
               Note:        (with ``focus``: a line saying what the excerpt holds)
               <the note text, or its focus excerpt>              <- nothing after the note
    assistant: the kind's answer string
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from mlxmed.tasks.focus import Focus, focus_text
from mlxmed.tasks.wording import phrase

if TYPE_CHECKING:
    from mlxmed.inference.predictor import Prediction, Predictor
    from mlxmed.models.chat_tokenizer import ChatTokenizer, Messages

LONG_NOTE_POLICIES = ("truncate_middle", "truncate_end", "error")
DEFAULT_MAX_SEQ_LENGTH = 1024


@dataclass(frozen=True)
class ParsedAnswer:
    """A model answer parsed against the task: ``value`` if valid, else ``error`` says why."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Task:
    """A validated task (build one with :func:`mlxmed.tasks.load_task`); one subclass per kind."""

    kind: ClassVar[str]
    # the keys of a task file that only this kind has (the loader checks them)
    kind_keys: ClassVar[tuple[str, ...]] = ()
    # how `mlxmed data` stratifies the split, and the heading of its table of strata
    stratified_by: ClassVar[str] = ""
    stratum_heading: ClassVar[str] = ""
    # the headline metric of answered notes (it selects the best adapter unless the kind
    # validates with the gold answer fed in, see forced_validation)
    headline: ClassVar[str] = ""
    # whether training draws rare answers more often (see training.batches.epoch_order)
    balanced_sampling: ClassVar[bool] = False
    # validation notes training scores at each evaluation, unless the user sets how many
    validation_notes: ClassVar[int] = 100
    # whether training's validation metric reads the answers with the gold answer fed in
    # (see training.forced) instead of answering each note as `extract` does
    forced_validation: ClassVar[bool] = False

    name: str
    instruction: str
    text_field: str
    language: str = "en"
    system: str = ""
    id_field: str | None = None
    long_notes: str = "truncate_middle"
    max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH
    focus: Focus | None = None
    source: str = field(default="task spec", compare=False)

    # ----- identity ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data, defaults filled in (what the hash covers, and what
        :func:`mlxmed.tasks.task_from_dict` reads back)."""
        data: dict[str, Any] = {
            "name": self.name, "kind": self.kind, "language": self.language,
            "system": self.system, "instruction": self.instruction,
            "text_field": self.text_field, "id_field": self.id_field,
            "long_notes": self.long_notes, "max_seq_length": self.max_seq_length,
        }
        if self.focus is not None:
            data["focus"] = {"terms": list(self.focus.terms), "context": self.focus.context,
                             "head": self.focus.head}
        return {**data, **self.kind_dict()}

    def kind_dict(self) -> dict[str, Any]:
        """The kind's own keys of :meth:`to_dict`."""
        raise NotImplementedError

    def spec_hash(self) -> str:
        """sha256 of the canonical JSON of the spec (changes whenever the prompt could)."""
        data = self.to_dict()
        # the rendered scaffolding too, so a change of wording in mlxmed changes the hash
        data["prompt"] = [self.system_prompt(), self.user_prefix()]
        canonical = json.dumps(self.hashable(data), sort_keys=True, ensure_ascii=False,
                               separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def hashable(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with any order that matters made explicit (keys are sorted for the hash)."""
        return data

    # ----- prompt --------------------------------------------------------------------------
    def phrase(self, key: str) -> str:
        return phrase(self.language, key)

    def system_prompt(self) -> str:
        return self.system or self.phrase("system")

    def answer_parts(self) -> list[tuple[str, str]]:
        """(what it is, line) for each line that says what the answer must be."""
        raise NotImplementedError

    def answer_instructions(self) -> list[str]:
        """The lines that say what the answer must be (labels, or fields)."""
        return [line for _, line in self.answer_parts()]

    def prompt_parts(self) -> list[tuple[str, str]]:
        """(what it is, text) for every part of the prompt before the note, in order (to
        tell a user which part makes a prompt long)."""
        note = self._focus_phrase("focus_note", self.focus) if self.focus else self.phrase("note")
        return [("system prompt", self.system_prompt()), ("instruction", self.instruction),
                *self.answer_parts(), ("note heading", note)]

    def user_prefix(self) -> str:
        """Everything of the user message that precedes the note (identical for every note)."""
        note = self._focus_phrase("focus_note", self.focus) if self.focus else self.phrase("note")
        parts = [self.instruction.strip(), "", *self.answer_instructions(), "", note, ""]
        return "\n".join(parts)

    def _focus_phrase(self, key: str, focus: Focus) -> str:
        terms = ", ".join(f"{term}…" for term in focus.terms)
        head = self.phrase("focus_head").format(head=focus.head) if focus.head else ""
        return self.phrase(key).format(terms=terms, context=focus.context, head=head)

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

    # ----- answers and gold values (the kind's contract) -----------------------------------
    def answer_for(self, gold: Any) -> str:
        """The exact assistant answer for a gold value."""
        raise NotImplementedError

    def parse_answer(self, text: str) -> ParsedAnswer:
        """Parse a model answer; never raises (errors are reported in the result)."""
        raise NotImplementedError

    def gold_columns(self) -> list[str]:
        """The columns/keys an input record needs for its gold answer."""
        raise NotImplementedError

    def gold_of(self, record: Mapping[str, Any]) -> Any:
        """The gold value of one input record (a CSV row or a JSONL object), validated.

        Raises :class:`MlxmedError` naming the field; callers add the file and row.
        """
        raise NotImplementedError

    def gold_cells(self, gold: Any) -> dict[str, Any]:
        """The record keys that hold ``gold`` as an input file would (the inverse of
        :meth:`gold_of`), as JSON values."""
        raise NotImplementedError

    def answer_form(self) -> dict[str, Any]:
        """What a person fills in for one answer, as plain data: ``{"type": "choice",
        "choices": [{"value", "description"}]}`` or ``{"type": "fields", "fields": [...]}``
        (each field: name, widget, choices, bounds, unit, nullable, description)."""
        raise NotImplementedError

    def stratum(self, gold: Any) -> str:
        """The split stratum of a gold value."""
        raise NotImplementedError

    def grammar(self) -> str:
        """A GBNF grammar that admits exactly the answers :meth:`answer_for` can produce."""
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of one answer."""
        raise NotImplementedError

    def required_columns(self, with_gold: bool = True) -> list[str]:
        """Columns/keys every input record needs (notes to extract from need no gold)."""
        columns = [self.text_field, *([self.id_field] if self.id_field else [])]
        if with_gold:
            columns += self.gold_columns()
        return list(dict.fromkeys(columns))

    # ----- decoding ------------------------------------------------------------------------
    def predict(self, predictor: Predictor, messages: Messages) -> Prediction:
        """Answer one prompt with ``predictor``'s engine, the way this kind decodes."""
        raise NotImplementedError

    def answer_budget(self, chat: ChatTokenizer, max_tokens: int) -> int:
        """Tokens to keep free for the answer after the prompt."""
        raise NotImplementedError

    # ----- scores --------------------------------------------------------------------------
    def metric_names(self) -> list[str]:
        """Names of the metrics reported for this kind of task."""
        raise NotImplementedError

    def metrics(self, gold: Sequence[Any], predicted: Sequence[Any]) -> dict[str, Any]:
        """The kind's metrics, plus ``headline`` / ``headline_name`` (what selects the best
        adapter) and ``invalid`` (predictions that are missing or invalid)."""
        raise NotImplementedError

    def comparison(self, gold: Sequence[Any], predicted: Sequence[Any]) -> dict[str, Any]:
        """What `evaluate` adds to its report beyond the metrics (e.g. a confusion matrix)."""
        return {}

    def error_weight(self, gold: Any, predicted: Any, row: Mapping[str, Any]) -> float | None:
        """How bad a wrong answer is (larger first in the report); None when it is right."""
        raise NotImplementedError

    def split_counts(self, golds: Sequence[Any]) -> dict[str, int] | None:
        """Per-part counts of gold values that `data`'s summary shows, if the kind has any."""
        return None

    # ----- output rows ---------------------------------------------------------------------
    def answer_columns(self) -> list[str]:
        """The output columns that hold the answer."""
        raise NotImplementedError

    def output_columns(self, include_text: bool) -> list[str]:
        columns = ["id", *self.answer_columns(), "confidence", *self.confidence_columns(),
                   "status", "error", "ms"]
        return [*columns, "text"] if include_text else columns

    def confidence_columns(self) -> list[str]:
        """Output columns for confidences beyond the overall one."""
        return []

    def confidence_cells(self, prediction: Prediction) -> dict[str, Any]:
        """The confidence of an answer as output row cells (rounded probabilities)."""
        return {"confidence": round(prediction.confidence, 4)
                if prediction.confidence is not None else None}

    def answer_cells(self, value: Any) -> dict[str, Any]:
        """An answer as output row cells."""
        raise NotImplementedError

    def value_from_row(self, row: Mapping[str, Any]) -> Any:
        """The answer in an output row (CSV cells are text), or None if it has none."""
        raise NotImplementedError

    def value_problem(self, value: Any) -> str | None:
        """Why ``value`` is not an answer this task can give (None if it is one)."""
        from mlxmed.errors import MlxmedError

        try:
            parsed = self.parse_answer(self.answer_for(value))
        except (MlxmedError, TypeError, AttributeError) as exc:
            return str(exc)
        return parsed.error

    def summary_key(self, value: Any) -> str | None:
        """What `extract` counts its answers by (None: nothing to count)."""
        return None
