"""Fuzzing the commands with generated task files, notes files and option values.

For every generated case the command ends the way a user can act on: exit code 0, or 1 with
exactly one error line on stderr that names the file, row, field or option (a mistyped option
or value included); never a traceback, never the "unexpected" last-defence message (which
would mean a bug); and every file that was in the working folder before is byte-identical
afterwards.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlxmed.cli import cli
from mlxmed.cli.common import run_safely

SMOKING = yaml.safe_load(Path("examples/smoking/task.yaml").read_text(encoding="utf-8"))
# FUZZ_EXAMPLES=400 for a deeper search (a few minutes); the default keeps `make test` quick
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """The console script's entry point, in process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["mlxmed", *args])
    code = run_safely(cli)
    out = capsys.readouterr()
    return code, out.out, out.err


def check_outcome(code: int, out: str, err: str, names: tuple[str, ...]) -> None:
    assert "Traceback" not in out + err
    assert "error: unexpected " not in err, err  # the last defence: a bug
    if code == 0:
        return
    assert code == 1, (code, err)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert any(name in lines[0] for name in names), lines[0]


def notes_csv(path: Path, rows: int = 24) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "text", "smoking_status"])
    labels = [label["name"] for label in SMOKING["labels"]]
    for i in range(rows):
        writer.writerow([f"n{i}", f"Note {i}: the patient quit smoking {i} years ago.",
                         labels[i % len(labels)]])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5000),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=8)


@st.composite
def task_specs(draw):
    """A task file: the smoking task with keys dropped, replaced by junk, or added."""
    spec = json.loads(json.dumps(SMOKING))
    for key in draw(st.lists(st.sampled_from(sorted(spec)), max_size=3, unique=True)):
        del spec[key]
    for key in draw(st.lists(st.sampled_from([*SMOKING, "fields", "gold_field", "extra"]),
                             max_size=3, unique=True)):
        spec[key] = draw(values)
    if draw(st.booleans()) and isinstance(spec.get("labels"), list):
        spec["labels"] = draw(st.lists(st.one_of(
            st.fixed_dictionaries({"name": scalars, "definition": scalars}), scalars),
            max_size=4))
    return spec


@FUZZ
@given(spec=task_specs(), as_text=st.booleans(), raw=st.text(max_size=200))
def test_generated_task_files(tmp_path_factory, monkeypatch, capsys, spec, as_text, raw):
    work = tmp_path_factory.mktemp("fuzz_task")
    task = work / "task.yaml"
    task.write_text(raw if as_text else yaml.safe_dump(spec, allow_unicode=True),
                    encoding="utf-8")
    notes = notes_csv(work / "notes.csv")
    before = digests(work)
    code, out, err = run(["data", str(task), str(notes), "--out", str(work / "out"),
                          "--sizes", "5"], monkeypatch, capsys)
    check_outcome(code, out, err, ("task.yaml", "notes.csv"))
    after = digests(work)
    assert {k: v for k, v in after.items() if not k.startswith("out/")} == before


cells = st.one_of(st.text(max_size=40), st.sampled_from(
    ["CURRENT SMOKER", "UNKNOWN", "", " ", "\x00", "\ufeff", "a,b", '"', "[/x]", "\r\n"]))


@FUZZ
@given(header=st.lists(st.sampled_from(["id", "text", "smoking_status", "extra", "", "text"]),
                       min_size=0, max_size=5),
       rows=st.lists(st.lists(cells, max_size=5), max_size=15),
       jsonl=st.booleans(), encoding=st.sampled_from(["utf-8", "cp1252", "utf-16"]))
def test_generated_notes_files(tmp_path_factory, monkeypatch, capsys, header, rows, jsonl,
                               encoding):
    work = tmp_path_factory.mktemp("fuzz_notes")
    task = work / "task.yaml"
    task.write_text(yaml.safe_dump(SMOKING), encoding="utf-8")
    if jsonl:
        notes = work / "notes.jsonl"
        text = "\n".join(json.dumps(dict(zip(header, row, strict=False))) if i % 3 else
                         "".join(row) for i, row in enumerate(rows))
    else:
        notes = work / "notes.csv"
        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *rows])
        text = buffer.getvalue()
    notes.write_bytes(text.encode(encoding, errors="replace"))
    before = digests(work)
    code, out, err = run(["data", str(task), str(notes), "--out", str(work / "out"),
                          "--sizes", "3"], monkeypatch, capsys)
    check_outcome(code, out, err, (notes.name, "notes", "task.yaml"))
    after = digests(work)
    assert {k: v for k, v in after.items() if not k.startswith("out/")} == before


option_values = st.one_of(st.integers(-3, 3000).map(str), st.text(max_size=6),
                          st.sampled_from(["0", "-1", "1e9", "nan", "", "1.5", "9" * 30]))


@FUZZ
@given(options=st.dictionaries(st.sampled_from(["--valid", "--test", "--seed", "--sizes",
                                                "--max-seq-length", "--encoding"]),
                               option_values, max_size=3))
def test_generated_data_options(tmp_path_factory, monkeypatch, capsys, options):
    work = tmp_path_factory.mktemp("fuzz_data_options")
    task = work / "task.yaml"
    task.write_text(yaml.safe_dump(SMOKING), encoding="utf-8")
    notes = notes_csv(work / "notes.csv", rows=40)
    before = digests(work)
    args = ["data", str(task), str(notes), "--out", str(work / "out")]
    for key, value in options.items():
        args += [key, value]
    code, out, err = run(args, monkeypatch, capsys)
    check_outcome(code, out, err, (*options, "notes.csv", "task.yaml", "encoding"))
    after = digests(work)
    assert {k: v for k, v in after.items() if not k.startswith("out/")} == before


@pytest.fixture(scope="module")
def extract_inputs(tmp_path_factory, tiny_models):
    work = tmp_path_factory.mktemp("fuzz_extract_inputs")
    return notes_csv(work / "notes.csv", rows=3), tiny_models("llama", "Q8_0")


@FUZZ
@given(options=st.dictionaries(st.sampled_from(["--limit", "--threads", "--ctx"]),
                               option_values, max_size=2),
       resume=st.booleans())
def test_generated_extract_options(tmp_path_factory, monkeypatch, capsys, extract_inputs,
                                   options, resume):
    notes, model = extract_inputs
    work = tmp_path_factory.mktemp("fuzz_extract")
    existing = work / "results.csv"
    existing.write_text("not,an,output\n1,2")  # --resume must leave it alone
    before = digests(work) | digests(notes.parent)
    args = ["extract", "examples/smoking/task.yaml", str(notes), "--model", str(model),
            "--out", str(existing if resume else work / "new.csv")]
    for key, value in options.items():
        args += [key, value]
    if resume:
        args.append("--resume")
    code, out, err = run(args, monkeypatch, capsys)
    check_outcome(code, out, err, (*options, "results.csv", "--ctx", "notes.csv"))
    after = digests(work) | digests(notes.parent)
    assert {k: v for k, v in after.items() if "new.csv" not in k} == before  # and its marker


prediction_cells = st.one_of(st.text(max_size=20), st.sampled_from(
    ["smk-0001", "smk-0002", "UNKNOWN", "CURRENT SMOKER", "ok", "error", "0.9", "nan", "",
     "[/x]", "\x00"]))


@FUZZ
@given(header=st.lists(st.sampled_from(["id", "label", "confidence", "status", "error", "ms",
                                        "smoking_status", ""]), max_size=6),
       rows=st.lists(st.lists(prediction_cells, max_size=6), max_size=8),
       jsonl=st.booleans(), report=st.booleans())
def test_generated_prediction_files(tmp_path_factory, monkeypatch, capsys, header, rows, jsonl,
                                    report):
    work = tmp_path_factory.mktemp("fuzz_evaluate")
    gold = notes_csv(work / "gold.csv", rows=6)
    if jsonl:
        pred = work / "pred.jsonl"
        pred.write_text("\n".join(json.dumps(dict(zip(header, row, strict=False)))
                                  for row in rows), encoding="utf-8")
    else:
        pred = work / "pred.csv"
        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *rows])
        pred.write_text(buffer.getvalue(), encoding="utf-8")
    before = digests(work)
    args = ["evaluate", "examples/smoking/task.yaml", "--pred", str(pred), "--gold", str(gold)]
    if report:
        args += ["--report", str(work / "report")]
    code, out, err = run(args, monkeypatch, capsys)
    check_outcome(code, out, err, (pred.name, "gold.csv", "predictions"))
    after = digests(work)
    assert {k: v for k, v in after.items() if not k.startswith("report/")} == before


@FUZZ
@given(options=st.dictionaries(st.sampled_from(
    ["--iters", "--epochs", "--lr", "--rank", "--alpha", "--batch-size", "--layers",
     "--min-steps", "--patience", "--evals-per-epoch", "--val-limit", "--seed", "--bogus"]),
    option_values, max_size=3))
def test_generated_train_options(tmp_path_factory, monkeypatch, capsys, tiny_setup, options):
    """Every generated option set gets through to the settings the run would use (resolved
    against the real data folder; the training itself is replaced), or is one error line."""
    from mlxmed.cli import train as train_command

    from mlxmed.errors import MlxmedError
    from mlxmed.training.settings import resolve_settings

    def resolve_only(task, model_dir, data, run_dir, settings, **kwargs):
        resolved = resolve_settings(settings, model_dir, task, len(data.chats("train")))
        assert resolved.iters >= resolved.min_steps >= 0 and resolved.steps_per_eval >= 1
        raise MlxmedError(f"resolved to {resolved.iters} steps; training left out")

    monkeypatch.setattr(train_command, "train", resolve_only)
    root, model_dir = tiny_setup
    work = tmp_path_factory.mktemp("fuzz_train")
    before = digests(root)
    args = ["train", str(root / "task.yaml"), "--model", str(model_dir), "--data",
            str(root / "data"), "--out", str(work / "run")]
    for key, value in options.items():
        args += [key, value]
    code, out, err = run(args, monkeypatch, capsys)
    assert code == 1  # a bad option value, or the settings resolved: never training
    check_outcome(code, out, err, (*options, "training left out"))
    assert digests(root) == before and not (work / "run").exists()
