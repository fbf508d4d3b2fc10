"""`mlxmed data`: validate labelled notes, split them and write a data folder (the layout is
:class:`mlxmed.artifacts.PreparedData`'s).

Stratification: each task kind says what it stratifies on (classification: the label;
extraction: whether the gold answer states anything at all).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlxmed import __version__
from mlxmed.artifacts.model_dir import ModelDir
from mlxmed.artifacts.ownership import refuse_input_as_output
from mlxmed.artifacts.prepared import SPLITS, PreparedData
from mlxmed.data.fitting import Example, TokenCounter, build_example, prompt_costs
from mlxmed.data.splits import nested_subsets, stratified_split
from mlxmed.errors import MlxmedError
from mlxmed.inputs.ocr import ocr_languages
from mlxmed.inputs.readers import ReadResult, read_notes
from mlxmed.inputs.records import DataError, validate_records
from mlxmed.tasks import Task, task_file
from mlxmed.tasks.focus import focus_finds

DEFAULT_SIZES = (25, 50, 100, 200, 300)
PERCENTILES = (50, 90, 95, 99)


@dataclass
class Prepared:
    """Everything ``mlxmed data`` writes, in memory."""

    task: Task
    splits: dict[str, list[Example]]
    subsets: dict[int, list[Example]]
    summary: dict[str, Any] = field(default_factory=dict)
    folder: PreparedData | None = None  # where it was written


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


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise MlxmedError(f"--seed {seed!r}: give a whole number >= 0")


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


def prepare(task: Task, read: ReadResult, *, valid: float = 0.15, test: float = 0.15,
            seed: int = 0, sizes: Sequence[int] = DEFAULT_SIZES,
            counter: TokenCounter | None = None,
            max_seq_length: int | None = None) -> Prepared:
    """Validate, split, build chats and subsets; raises before anything is written."""
    _check_fractions(valid, test)
    _check_seed(seed)
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
        longest = ", ".join(f"{name} {tokens}" for name, tokens in
                            sorted(prompt_costs(task, counter), key=lambda p: -p[1])[:4])
        raise MlxmedError(f"{task.source}: the prompt without any note already needs {bare} of "
                          f"max_seq_length {max_len} tokens (the longest parts: {longest}); "
                          "shorten those parts or raise max_seq_length")
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
    strata = task.strata_order(list(dict.fromkeys(e.record.stratum for s in SPLITS
                                                  for e in splits[s])))
    counts = {split: _count_by(strata, splits[split]) for split in SPLITS}
    counts["total"] = {key: sum(counts[s][key] for s in SPLITS) for key in strata}
    skipped = [n for n in sorted(set(sizes)) if n not in prepared.subsets]
    notes = []
    notes += input_notes(read)
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
                  "formats": read.formats, "sheet": read.sheet,
                  "skipped_files": read.skipped,
                  "left_out": [{"file": i.file, "reason": i.reason} for i in read.left_out],
                  "ocr": read.ocr},
        "seed": seed,
        "fractions": {"valid": valid, "test": test},
        "stratified_by": task.stratified_by,
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
            # the prompt before the note: shared by every note (computed once per training
            # batch, kept in llama.cpp's cache between notes)
            "prompt": counter.chat_tokens(task.messages("")),
            "prompt_parts": dict(prompt_costs(task, counter)),
        },
        "long_notes": {"policy": task.long_notes, "max_seq_length": max_len,
                       "affected": affected, "total": sum(affected.values())},
        "focus_not_found": unfocused,
        "notes": notes,
    }
    field_counts = {s: task.split_counts([e.record.gold for e in splits[s]]) for s in SPLITS}
    if any(counts is not None for counts in field_counts.values()):
        summary["field_counts"] = field_counts
    return summary


def input_notes(read: ReadResult, shown: int = 10) -> list[str]:
    """Summary lines about the input itself: files left out (and why), notes read by OCR."""
    notes = []
    if read.left_out:
        listed = "; ".join(f"{item.file} ({item.reason})" for item in read.left_out[:shown])
        more = f"; and {len(read.left_out) - shown} more" if len(read.left_out) > shown else ""
        notes.append(f"{len(read.left_out)} file(s) in the folder were left out: {listed}{more}")
    if read.ocr:
        listed = ", ".join(read.ocr[:shown]) + (", ..." if len(read.ocr) > shown else "")
        notes.append(f"{len(read.ocr)} note(s) were read by OCR, which makes mistakes; check "
                     f"them: {listed}")
    return notes


def _count_by(strata: Sequence[str], examples: Sequence[Example]) -> dict[str, int]:
    found = Counter(e.record.stratum for e in examples)
    return {key: found.get(key, 0) for key in strata}


def output_files(prepared: Prepared) -> dict[str, str]:
    """Relative path -> file content for everything ``mlxmed data`` writes."""
    def pairs(examples: list[Example]) -> list:
        return [(e.messages, {"id": e.record.id, "text": e.record.text, "gold": e.record.gold})
                for e in examples]

    return PreparedData.layout({s: pairs(ex) for s, ex in prepared.splits.items()},
                               {n: pairs(ex) for n, ex in prepared.subsets.items()},
                               prepared.summary)


def run_data(task: Task, input_path: str | Path, out: str | Path, *,
             valid: float = 0.15, test: float = 0.15, seed: int = 0,
             sizes: Sequence[int] = DEFAULT_SIZES, model_dir: ModelDir | Path | None = None,
             max_seq_length: int | None = None, labels_csv: str | Path | None = None,
             encoding: str | None = None, sheet: str | None = None, ocr: bool = False,
             force: bool = False) -> Prepared:
    """The whole `mlxmed data` step: read the notes, validate, split, write ``out``. Nothing
    is written on error. ``model_dir`` counts tokens with that model's tokenizer and chat
    template (estimated without one). ``sheet`` picks the sheet of an Excel input; ``ocr``
    reads scanned PDFs of a notes folder by OCR. The written folder is ``Prepared.folder``."""
    _check_fractions(valid, test)
    out = Path(out)
    # before the slow part: never write over the inputs, or a folder mlxmed did not write
    refuse_input_as_output(out, [input_path, labels_csv, task_file(task)])
    PreparedData.check_writable(out, force)
    if max_seq_length is not None and max_seq_length < 32:
        raise MlxmedError(f"--max-seq-length {max_seq_length}: give at least 32 tokens")
    counter = TokenCounter(model_dir)
    read = read_notes(input_path, task.required_columns(), labels_csv=labels_csv,
                      encoding=encoding, text_field=task.text_field, id_field=task.id_field,
                      sheet=sheet, ocr=ocr_languages(task.language) if ocr else None)
    prepared = prepare(task, read, valid=valid, test=test, seed=seed, sizes=sizes,
                       counter=counter, max_seq_length=max_seq_length)
    prepared.folder = PreparedData.write(output_files(prepared), out, force=force)
    return prepared
