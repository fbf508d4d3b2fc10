"""`mlxmed data`: validate labelled notes, split them and write mlx-lm training files.

Output directory layout::

    train.jsonl valid.jsonl test.jsonl         mlx-lm chat format, one line per note
    records/{train,valid,test}.jsonl           {"id", "text", "gold"} (text untruncated)
    subsets/train_<n>.jsonl + train_<n>_ids.txt nested learning-curve subsets of train
    summary.json                               counts, token lengths, long notes, hashes

Stratification: classification tasks stratify on the label; extraction tasks on a coarse key,
whether the gold answer states anything at all ("filled") or is all null/empty ("empty").
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlxmed import __version__
from mlxmed.atomic import atomic_dir, write_text
from mlxmed.chat import CHATML_TEMPLATE, render_chat
from mlxmed.errors import MlxmedError
from mlxmed.focus import focus_finds
from mlxmed.prompting import ChatTokenizer
from mlxmed.readers import ReadResult, not_utf8, read_notes
from mlxmed.splits import SPLITS, nested_subsets, stratified_split
from mlxmed.tasks import TaskSpec, load_task

DEFAULT_SIZES = (25, 50, 100, 200, 300)
TRUNCATION_MARKER = " […] "
MAX_SHOWN_PROBLEMS = 20
PERCENTILES = (50, 90, 95, 99)


class DataError(MlxmedError):
    """Several problems in the input, reported together (one per line)."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(format_problems(source, self.problems))


def format_problems(source: str, problems: Sequence[str], limit: int = MAX_SHOWN_PROBLEMS) -> str:
    """One line for a single problem; a header plus one line each (first ``limit``) for more."""
    if len(problems) == 1:
        return problems[0]
    lines = [f"{source}: {len(problems)} problems; fix them and run again:"]
    lines += [f"  {p}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  … and {len(problems) - limit} more")
    return "\n".join(lines)


@dataclass(frozen=True)
class Record:
    """A validated note: id, text, gold answer and its stratum."""

    id: str
    row: int
    where: str
    text: str
    gold: Any
    stratum: str


# ----- validation --------------------------------------------------------------------------
def required_columns(task: TaskSpec, with_gold: bool = True) -> list[str]:
    """Columns/keys that every CSV input needs for this task (notes to extract from need no
    gold answer: ``with_gold=False``)."""
    columns = [task.text_field]
    if task.id_field:
        columns.append(task.id_field)
    if with_gold and task.kind == "classification":
        columns.append(str(task.label_field))
    elif with_gold and task.gold_field:
        columns.append(task.gold_field)
    elif with_gold:
        columns += task.field_names
    return list(dict.fromkeys(columns))


def stratum_of(task: TaskSpec, gold: Any) -> str:
    """The split stratum: the label, or for extraction "filled"/"empty"."""
    if task.kind == "classification":
        return str(gold)
    return "filled" if any(v not in (None, [], "") for v in gold.values()) else "empty"


def validate_records(task: TaskSpec, read: ReadResult, with_gold: bool = True) -> list[Record]:
    """Check every record (text, id and, ``with_gold``, the gold answer); raise
    :class:`DataError` listing all problems."""
    problems = list(read.problems)
    records: list[Record] = []
    seen: dict[str, str] = {}
    for raw in read.records:
        row_problems = []
        text = raw.data.get(task.text_field)
        if text is None:
            row_problems.append(f"{raw.where}, field '{task.text_field}': missing note text; "
                                "add it or remove the row")
        elif not isinstance(text, str):
            row_problems.append(f"{raw.where}, field '{task.text_field}': the note must be "
                                f"text, got {type(text).__name__}")
        elif not text.strip():
            row_problems.append(f"{raw.where}, field '{task.text_field}': empty note text; "
                                "fill it in or remove the row")
        if raw.id is not None:
            note_id = raw.id
        elif task.id_field:
            value = raw.data.get(task.id_field)
            note_id = "" if value is None else str(value).strip()
            if not note_id:
                row_problems.append(f"{raw.where}, field '{task.id_field}': missing id; give "
                                    "every note a unique id")
        else:
            note_id = str(raw.row)
        if note_id and note_id in seen:
            id_name = task.id_field or "id"
            row_problems.append(f"{raw.where}, field '{id_name}': duplicate id {note_id!r} "
                                f"(first seen at {seen[note_id]}); make ids unique")
        elif note_id:
            seen[note_id] = raw.where
        gold = None
        if with_gold and not any(not_utf8(v) for v in raw.data.values()):  # reader reported
            try:
                gold = task.gold_of(raw.data)
            except MlxmedError as exc:
                row_problems.append(f"{raw.where}, {exc}")
        if row_problems:
            problems += row_problems
            continue
        text = str(text).replace("\r\n", "\n").replace("\r", "\n")
        stratum = stratum_of(task, gold) if with_gold else ""
        records.append(Record(note_id, raw.row, raw.where, text, gold, stratum))
    if problems:
        raise DataError(str(read.source), problems)
    if not records:
        raise MlxmedError(f"{read.source}: no notes found; add rows with a note and its label")
    return records


# ----- token counting and long notes -------------------------------------------------------
class TokenCounter:
    """Counts tokens of rendered chats: exactly with a model's tokenizer, or estimated."""

    def __init__(self, model_dir: str | Path | None = None) -> None:
        self.model_dir = Path(model_dir) if model_dir else None
        self._chat: ChatTokenizer | None = None
        self.note = "estimated as characters / 4 (pass --model for exact counts)"
        if self.model_dir is None:
            return
        if not self.model_dir.is_dir():
            raise MlxmedError(f"{self.model_dir}: model folder not found; check --model")
        if not (self.model_dir / "tokenizer.json").is_file():
            self.note = (f"estimated as characters / 4: {self.model_dir} has no tokenizer.json "
                         "(convert the model with `mlxmed convert`)")
            return
        self._chat = ChatTokenizer(self.model_dir)
        self.note = f"counted with the tokenizer of {self.model_dir}"

    @property
    def exact(self) -> bool:
        return self._chat is not None

    def count(self, text: str) -> int:
        if self._chat is None:
            return math.ceil(len(text) / 4)
        return len(self._chat.encode(text))

    def render(self, messages: list[dict[str, str]]) -> str:
        if self._chat is None:
            return render_chat(CHATML_TEMPLATE, messages)
        return self._chat.render(messages)

    def chat_tokens(self, messages: list[dict[str, str]]) -> int:
        return self.count(self.render(messages))


def fit_note(text: str, budget: int, count_tokens: Callable[[str], int],
             policy: str = "truncate_middle", marker: str = TRUNCATION_MARKER) -> str:
    """Shorten ``text`` so that ``count_tokens`` of it is at most ``budget``.

    ``truncate_middle`` keeps the head and the tail with ``marker`` between them (a note's
    findings and its conclusion are usually at the ends); ``truncate_end`` keeps the head.
    Text that already fits is returned unchanged; a budget too small for even the marker
    raises ValueError.
    """
    if policy not in ("truncate_middle", "truncate_end"):
        raise ValueError(f"fit_note cannot apply policy {policy!r}")
    if count_tokens(text) <= budget:
        return text

    def cut(keep: int) -> str:
        if policy == "truncate_end":
            return text[:keep].rstrip() + marker.rstrip()
        head = (keep + 1) // 2
        tail = keep - head
        return text[:head].rstrip() + marker + (text[len(text) - tail:].lstrip() if tail else "")

    if count_tokens(cut(0)) > budget:
        raise ValueError(f"a budget of {budget} tokens leaves no room for the note")
    low, high = 0, len(text) - 1  # the most characters that still fit, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(cut(middle)) <= budget:
            low = middle
        else:
            high = middle - 1
    return cut(low)


@dataclass
class Example:
    """A record with its training chat and token counts."""

    record: Record
    messages: list[dict[str, str]]
    tokens: int  # the full chat before any truncation
    truncated: bool


def fit_chat(task: TaskSpec, text: str, answer: str | None, counter: TokenCounter,
             max_tokens: int, where: str = "note") -> tuple[list[dict[str, str]], int, bool]:
    """The chat for ``text`` (with ``answer`` for training, without for inference), its note
    shortened per ``task.long_notes`` so the rendered chat has at most ``max_tokens`` tokens.

    Returns (messages, tokens of the full chat before shortening, whether it was shortened).
    For inference pass ``max_tokens`` = context size minus the tokens reserved for the answer.
    """
    text = task.note_text(text)
    messages = task.messages(text, answer)
    tokens = counter.chat_tokens(messages)
    if tokens <= max_tokens:
        return messages, tokens, False
    if task.long_notes == "error":
        raise MlxmedError(f"{where}: the note makes a {tokens}-token chat, over the limit of "
                          f"{max_tokens}; shorten it, raise max_seq_length or set long_notes: "
                          "truncate_middle in the task")
    overhead = tokens - counter.count(text)
    too_long = MlxmedError(f"{where}: the prompt without the note already needs {overhead} of "
                           f"{max_tokens} tokens; shorten the instruction/definitions or raise "
                           "max_seq_length")
    budget = max_tokens - overhead
    for _ in range(8):
        if budget < 8:
            raise too_long
        try:
            short = fit_note(text, budget, counter.count, task.long_notes)
        except ValueError as exc:
            raise too_long from exc
        messages = task.messages(short, answer)
        excess = counter.chat_tokens(messages) - max_tokens
        if excess <= 0:
            return messages, tokens, True
        budget -= excess
    raise MlxmedError(f"{where}: could not fit the note into {max_tokens} tokens; raise "
                      "max_seq_length")


def build_example(task: TaskSpec, record: Record, counter: TokenCounter,
                  max_seq_length: int) -> Example:
    """The training chat of one note, fitted to ``max_seq_length`` (see :func:`fit_chat`)."""
    messages, tokens, truncated = fit_chat(task, record.text, task.answer_for(record.gold),
                                           counter, max_seq_length, record.where)
    return Example(record, messages, tokens, truncated)


# ----- the whole step ----------------------------------------------------------------------
@dataclass
class Prepared:
    """Everything ``mlxmed data`` writes, in memory."""

    task: TaskSpec
    splits: dict[str, list[Example]]
    subsets: dict[int, list[Example]]
    summary: dict[str, Any] = field(default_factory=dict)


def parse_sizes(text: str, allow_zero: bool = False) -> list[int]:
    """``"25,50,100"`` -> ``[25, 50, 100]`` (0 allowed for a curve's zero-shot point)."""
    try:
        sizes = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError as exc:
        raise MlxmedError(f"--sizes {text!r}: give whole numbers separated by commas, e.g. "
                          "25,50,100") from exc
    if any(n < 0 or (n == 0 and not allow_zero) for n in sizes):
        raise MlxmedError(f"--sizes {text!r}: sizes must be positive")
    return sorted(set(sizes))


def _check_fractions(valid: float, test: float) -> None:
    for name, value in (("--valid", valid), ("--test", test)):
        if not 0 <= value < 1:
            raise MlxmedError(f"{name} {value}: give a fraction between 0 and 1, e.g. 0.15")
    if valid + test >= 0.9:
        raise MlxmedError(f"--valid {valid} + --test {test} leave almost nothing for training; "
                          "use smaller fractions")


def _percentiles(values: Sequence[int]) -> dict[str, int]:
    if not values:
        return {}
    out = {f"p{p}": math.ceil(float(np.percentile(values, p))) for p in PERCENTILES}
    out["max"] = int(max(values))
    return out


def prepare(task: TaskSpec, read: ReadResult, *, valid: float = 0.15, test: float = 0.15,
            seed: int = 0, sizes: Sequence[int] = DEFAULT_SIZES,
            counter: TokenCounter | None = None,
            max_seq_length: int | None = None) -> Prepared:
    """Validate, split, build chats and subsets; raises before anything is written."""
    _check_fractions(valid, test)
    counter = counter or TokenCounter()
    max_len = max_seq_length or task.max_seq_length
    records = validate_records(task, read)
    index = stratified_split([r.stratum for r in records], valid, test, seed)
    if not index["train"] or (valid > 0 and not index["valid"]) or \
            (test > 0 and not index["test"]):
        raise MlxmedError(f"{read.source}: only {len(records)} notes, too few for the "
                          f"--valid/--test fractions; add notes or lower the fractions")
    bare = counter.chat_tokens(task.messages("", task.answer_for(records[0].gold)))
    if bare >= max_len:
        raise MlxmedError(f"{task.source}: the prompt without any note already needs {bare} of "
                          f"max_seq_length {max_len} tokens; shorten the instruction/"
                          "definitions or raise max_seq_length")
    problems: list[str] = []
    examples: dict[str, list[Example]] = {}
    for split in SPLITS:
        examples[split] = []
        for i in index[split]:
            try:
                examples[split].append(build_example(task, records[i], counter, max_len))
            except MlxmedError as exc:
                problems.append(str(exc))
    if problems:
        raise DataError(str(read.source), problems)
    train = examples["train"]
    chosen = nested_subsets([e.record.stratum for e in train], sizes, seed)
    subsets = {n: [train[i] for i in idx] for n, idx in chosen.items()}
    prepared = Prepared(task, examples, subsets)
    prepared.summary = _summary(prepared, read, counter, max_len, valid, test, seed, sizes)
    return prepared


def _unfocused_counts(prepared: Prepared) -> dict[str, int] | None:
    """With a focus in the task: how many notes have no sentence with a focus term, per
    stratum (the gold label, or filled/empty gold for extraction)."""
    task = prepared.task
    if task.focus is None:
        return None
    counts: Counter[str] = Counter()
    for split in SPLITS:
        for example in prepared.splits[split]:
            if not focus_finds(example.record.text, task.focus):
                counts[example.record.stratum] += 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def _summary(prepared: Prepared, read: ReadResult, counter: TokenCounter, max_len: int,
             valid: float, test: float, seed: int, sizes: Sequence[int]) -> dict[str, Any]:
    task, splits = prepared.task, prepared.splits
    strata = list(dict.fromkeys(e.record.stratum for s in SPLITS for e in splits[s]))
    if task.kind == "classification":
        strata = [name for name in task.label_names if name in strata]
    counts = {split: _count_by(strata, splits[split]) for split in SPLITS}
    counts["total"] = {key: sum(counts[s][key] for s in SPLITS) for key in strata}
    skipped = [n for n in sorted(set(sizes)) if n not in prepared.subsets]
    notes = []
    if read.skipped:
        shown = ", ".join(read.skipped[:5]) + (", ..." if len(read.skipped) > 5 else "")
        notes.append(f"{len(read.skipped)} file(s) in the folder are not .txt notes and were "
                     f"left out: {shown}")
    if skipped:
        notes.append(f"subset sizes {', '.join(map(str, skipped))} skipped: the train split "
                     f"has only {len(splits['train'])} notes")
    rare = [key for key in strata if counts["total"][key] < 3]
    if rare:
        notes.append(f"class(es) with fewer than 3 notes cannot appear in every split: "
                     f"{', '.join(rare)}")
    if not counter.exact:
        notes.append(f"token lengths are {counter.note}")
    unfocused = _unfocused_counts(prepared)
    if unfocused:
        notes.append("notes with no sentence that mentions a focus term, by gold answer: "
                     + ", ".join(f"{key} {count}" for key, count in unfocused.items())
                     + " (a label that needs a mention here means a term is missing)")
    affected = {s: sum(e.truncated for e in splits[s]) for s in SPLITS}
    if sum(affected.values()):
        notes.append(f"{sum(affected.values())} note(s) longer than max_seq_length {max_len} "
                     f"were shortened ({task.long_notes})")
    summary: dict[str, Any] = {
        "mlxmed_version": __version__,
        "task": {"name": task.name, "kind": task.kind, "hash": task.spec_hash(),
                 "file": task.source},
        "input": {"path": str(read.source), "format": read.format, "sha256": read.sha256,
                  "notes": sum(len(splits[s]) for s in SPLITS),
                  "skipped_files": read.skipped},
        "seed": seed,
        "fractions": {"valid": valid, "test": test},
        "stratified_by": "label" if task.kind == "classification"
        else "filled/empty gold answer",
        "counts": counts,
        "subsets": {
            "requested": sorted(set(sizes)), "written": sorted(prepared.subsets),
            "skipped": skipped,
            "counts": {str(n): _count_by(strata, ex) for n, ex in sorted(prepared.subsets.items())},
        },
        "tokens": {
            "method": "tokenizer" if counter.exact else "estimate",
            "note": counter.note,
            "counted": "the full training chat (system, user with note, answer) rendered with "
                       "the chat template, before any truncation",
            "model": str(counter.model_dir) if counter.model_dir else None,
            "percentiles": {s: _percentiles([e.tokens for e in splits[s]]) for s in SPLITS},
        },
        "long_notes": {"policy": task.long_notes, "max_seq_length": max_len,
                       "affected": affected, "total": sum(affected.values())},
        "focus_not_found": unfocused,
        "notes": notes,
    }
    if task.kind == "extraction":
        summary["field_counts"] = {
            s: {f: sum(e.record.gold[f] not in (None, []) for e in splits[s])
                for f in task.field_names} for s in SPLITS}
    return summary


def _count_by(strata: Sequence[str], examples: Sequence[Example]) -> dict[str, int]:
    found = Counter(e.record.stratum for e in examples)
    return {key: found.get(key, 0) for key in strata}


def _jsonl(rows: Sequence[Any]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def output_files(prepared: Prepared) -> dict[str, str]:
    """Relative path -> file content for everything ``mlxmed data`` writes."""
    files: dict[str, str] = {}
    for split, examples in prepared.splits.items():
        files[f"{split}.jsonl"] = _jsonl([{"messages": e.messages} for e in examples])
        files[f"records/{split}.jsonl"] = _jsonl(
            [{"id": e.record.id, "text": e.record.text, "gold": e.record.gold} for e in examples])
    for n, examples in sorted(prepared.subsets.items()):
        files[f"subsets/train_{n}.jsonl"] = _jsonl([{"messages": e.messages} for e in examples])
        files[f"subsets/train_{n}_ids.txt"] = "".join(f"{e.record.id}\n" for e in examples)
    prepared.summary["files"] = sorted([*files, "summary.json"])
    files["summary.json"] = json.dumps(prepared.summary, ensure_ascii=False, indent=2) + "\n"
    return files


def write_prepared(prepared: Prepared, out: str | Path, force: bool = False) -> Path:
    """Write all outputs into ``out`` at once (a non-empty ``out`` needs ``force``)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MlxmedError(f"{out}: exists and is not a folder; choose another --out")
    non_empty = out.is_dir() and any(out.iterdir())
    if non_empty and not force:
        raise MlxmedError(f"{out}: folder is not empty; choose another --out or pass --force "
                          "to replace it")
    files = output_files(prepared)
    with atomic_dir(out, overwrite=True) as tmp:
        for relative, content in files.items():
            write_text(tmp / relative, content)
    return out


def run_data(task_path: str | Path, input_path: str | Path, out: str | Path, *,
             valid: float = 0.15, test: float = 0.15, seed: int = 0,
             sizes: Sequence[int] = DEFAULT_SIZES, model_dir: str | Path | None = None,
             max_seq_length: int | None = None, labels_csv: str | Path | None = None,
             encoding: str | None = None, force: bool = False) -> Prepared:
    """The whole `mlxmed data` step: read, validate, split, write. Nothing is written on error."""
    _check_fractions(valid, test)
    task = load_task(task_path)
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not force:  # fail before the slow part
        raise MlxmedError(f"{out}: folder is not empty; choose another --out or pass --force "
                          "to replace it")
    if max_seq_length is not None and max_seq_length < 32:
        raise MlxmedError(f"--max-seq-length {max_seq_length}: give at least 32 tokens")
    counter = TokenCounter(model_dir)
    read = read_notes(input_path, required_columns(task), labels_csv=labels_csv,
                      encoding=encoding, text_field=task.text_field, id_field=task.id_field)
    prepared = prepare(task, read, valid=valid, test=test, seed=seed, sizes=sizes,
                       counter=counter, max_seq_length=max_seq_length)
    write_prepared(prepared, out, force=force)
    return prepared


def prepared_task_hash(data_dir: str | Path) -> str | None:
    """The spec hash of the task a data folder was prepared for (None if it does not say)."""
    try:
        summary = json.loads((Path(data_dir) / "summary.json").read_text(encoding="utf-8"))
        return summary["task"]["hash"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_prepared_for(task: TaskSpec, data_dir: str | Path) -> None:
    """Refuse a data folder prepared from another version of the task: its chats hold the old
    prompt, so training or scoring on them would not match what `extract` asks."""
    prepared = prepared_task_hash(data_dir)
    if prepared is not None and prepared != task.spec_hash():
        raise MlxmedError(f"{data_dir}: prepared for a different version of {task.source} (the "
                          "prompt, labels or focus changed since); run `mlxmed data` again")
