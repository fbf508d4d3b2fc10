"""`mlxmed data`: readers, validation errors, splits, subsets, long notes, outputs and the CLI."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from mlxmed.cli import cli
from mlxmed.cli.common import run_safely

from mlxmed.artifacts import PreparedData
from mlxmed.data import TokenCounter, fit_chat, fit_note, parse_sizes, prepare, run_data
from mlxmed.data.splits import nested_subsets, quota_allocations, stratified_split
from mlxmed.errors import MlxmedError
from mlxmed.inputs.readers import read_notes, sniff_delimiter
from mlxmed.inputs.records import DataError, format_problems, validate_records
from mlxmed.tasks import Task, load_task

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).parent.parent / "examples"
SMOKING = FIXTURES / "smoking_task.yaml"
CARDIO = FIXTURES / "cardio_task.yaml"
HEADER = "id,text,smoking_status\n"


def smoking() -> Task:
    return load_task(SMOKING)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def read(task: Task, path: Path, **kwargs):
    return read_notes(path, task.required_columns(), text_field=task.text_field,
                      id_field=task.id_field, **kwargs)


def problems_of(task: Task, path: Path, **kwargs) -> list[str]:
    with pytest.raises(DataError) as info:
        validate_records(task, read(task, path, **kwargs))
    return info.value.problems


def many_rows(n: int, labels: tuple[str, ...] = ("CURRENT SMOKER", "NON-SMOKER")) -> str:
    return HEADER + "".join(f"n{i},note number {i},{labels[i % len(labels)]}\n"
                            for i in range(1, n + 1))


# ----- readers -----------------------------------------------------------------------------
def test_csv_with_bom_semicolons_crlf_and_multiline_text(tmp_path: Path) -> None:
    text = ('\ufeffid;text;smoking_status\r\n'
            'a1;"Line one;\r\nline two with ""quotes""";NON-SMOKER\r\n'
            'a2;Plain note;CURRENT SMOKER\r\n')
    path = write(tmp_path / "notes.csv", text)
    records = validate_records(smoking(), read(smoking(), path))
    assert [r.id for r in records] == ["a1", "a2"]
    assert records[0].text == 'Line one;\nline two with "quotes"'
    assert records[1].gold == "CURRENT SMOKER"
    assert records[1].where == "notes.csv row 2 (line 4)"


def test_tsv_and_sniffing(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.tsv", "id\ttext\tsmoking_status\nx\tA, b; c\tNON-SMOKER\n")
    assert validate_records(smoking(), read(smoking(), path))[0].text == "A, b; c"
    assert sniff_delimiter("a\tb\tc\nx,y") == "\t"
    assert sniff_delimiter("a;b;c") == ";"
    assert sniff_delimiter("single") == ","


def test_jsonl_input_and_default_ids(tmp_path: Path) -> None:
    task = load_task(CARDIO)
    rows = [{"text": "LVEF 40 %.", "gold": {"lv_ef": 40, "rhythm": None, "diagnoses": []}},
            {"text": "SR.", "gold": {"lv_ef": None, "rhythm": "Sinusrhythmus",
                                     "diagnoses": ["KHK"]}}]
    path = write(tmp_path / "r.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    spec = replace(task, id_field=None)
    records = validate_records(spec, read(spec, path))
    assert [r.id for r in records] == ["1", "2"]
    assert records[1].gold["diagnoses"] == ["KHK"]
    assert records[0].stratum == "filled"


def test_folder_of_txt_notes_with_labels_csv(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    write(folder / "p1.txt", "First note.\r\nSmokes.")
    write(folder / "p2.txt", "Second note.")
    write(folder / "labels.csv", "id,smoking_status\np1,CURRENT SMOKER\np2,NON-SMOKER\n")
    read_result = read(smoking(), folder)
    records = validate_records(smoking(), read_result)
    assert {r.id: r.text for r in records} == {"p1": "First note.\nSmokes.", "p2": "Second note."}
    assert read_result.format == "folder" and len(read_result.sha256) == 64
    # labels.csv next to the folder works too, and so does an explicit --labels-csv
    (folder / "labels.csv").rename(tmp_path / "labels.csv")
    assert len(validate_records(smoking(), read(smoking(), folder))) == 2
    other = (tmp_path / "labels.csv").rename(tmp_path / "mine.csv")
    assert len(validate_records(smoking(), read(smoking(), folder, labels_csv=other))) == 2
    with pytest.raises(MlxmedError, match="no labels.csv"):
        read(smoking(), folder)


def test_folder_problems_name_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    write(folder / "p1.txt", "First note.")
    write(folder / "extra.txt", "Nobody labelled me.")
    write(folder / "labels.csv", "id,smoking_status\np1,NON-SMOKER\np9,NON-SMOKER\n")
    problems = problems_of(smoking(), folder)
    assert any("labels.csv row 2, field 'id': no file p9.txt" in p for p in problems)
    assert any("extra.txt: no row with id 'extra'" in p for p in problems)


# ----- validation errors: one test each ----------------------------------------------------
def test_unknown_label(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.csv", HEADER + "a,ok,NON-SMOKER\nb,x,Smoker\n")
    assert problems_of(smoking(), path) == [
        "notes.csv row 2, field 'smoking_status': unknown label 'Smoker'; allowed: "
        "CURRENT SMOKER, PAST SMOKER, NON-SMOKER, UNKNOWN"]


def test_empty_text(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.csv", HEADER + "a,  ,NON-SMOKER\n")
    [problem] = problems_of(smoking(), path)
    assert problem.startswith("notes.csv row 1, field 'text': empty note text")


def test_missing_text_in_jsonl(tmp_path: Path) -> None:
    path = write(tmp_path / "n.jsonl", '{"id": 1, "smoking_status": "UNKNOWN"}\n')
    [problem] = problems_of(smoking(), path)
    assert problem.startswith("n.jsonl row 1, field 'text': missing note text")


def test_duplicate_id(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.csv", HEADER + "a,x,UNKNOWN\nb,y,UNKNOWN\na,z,UNKNOWN\n")
    [problem] = problems_of(smoking(), path)
    assert problem.startswith("notes.csv row 3, field 'id': duplicate id 'a' (first seen at "
                              "notes.csv row 1)")


def test_missing_id(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.csv", HEADER + ",x,UNKNOWN\n")
    assert "row 1, field 'id': missing id" in problems_of(smoking(), path)[0]


def test_ragged_row(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.csv", HEADER + "a,x,UNKNOWN\nb,one, two,UNKNOWN\n")
    [problem] = problems_of(smoking(), path)
    assert problem.startswith("notes.csv row 2: has 4 cells but the header has 3")


def test_trailing_empty_cells_are_not_ragged(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.csv", HEADER + "a,x,UNKNOWN,,\n")
    assert len(validate_records(smoking(), read(smoking(), path))) == 1


def test_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.csv", "id;note;smoking_status\na;x;UNKNOWN\n")
    with pytest.raises(MlxmedError, match=r"header: missing column\(s\) 'text' \(semicolon"):
        read(smoking(), path)


def test_missing_gold_field(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", '{"id": "r1", "text": "LVEF 50 %"}\n')
    [problem] = problems_of(load_task(CARDIO), path)
    assert problem.startswith("r.jsonl row 1, field 'gold': missing gold object")


def test_gold_not_valid_against_the_schema(tmp_path: Path) -> None:
    gold = {"lv_ef": 120, "rhythm": None, "diagnoses": []}
    path = write(tmp_path / "r.jsonl", json.dumps({"id": "r1", "text": "x", "gold": gold}))
    [problem] = problems_of(load_task(CARDIO), path)
    assert problem.startswith("r.jsonl row 1, field 'gold': lv_ef: 120 is greater than")


def test_gold_with_unknown_enum_value(tmp_path: Path) -> None:
    gold = {"lv_ef": 50, "rhythm": "VT", "diagnoses": []}
    path = write(tmp_path / "r.jsonl", json.dumps({"id": "r1", "text": "x", "gold": gold}))
    assert "rhythm" in problems_of(load_task(CARDIO), path)[0]


def test_bad_json_line(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", '{"id": "r1", "text": "x"\n')
    assert problems_of(load_task(CARDIO), path)[0].startswith("r.jsonl row 1: not valid JSON")


def test_not_utf8_names_row_and_field_and_suggests_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.csv", HEADER + "a,ok,UNKNOWN\nb,Gr\u00f6\u00dfe,UNKNOWN\n",
                 encoding="cp1252")
    [problem] = problems_of(smoking(), path)
    assert problem.startswith("notes.csv row 2, field 'text': byte 0xF6 is not UTF-8")
    assert "--encoding cp1252" in problem
    records = validate_records(smoking(), read(smoking(), path, encoding="cp1252"))
    assert records[1].text == "Größe"


def test_unknown_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.csv", HEADER + "a,ok,UNKNOWN\n")
    with pytest.raises(MlxmedError, match="unknown encoding"):
        read(smoking(), path, encoding="klingon")


def test_many_problems_are_reported_together(tmp_path: Path) -> None:
    rows = "".join(f"n{i},text,BAD\n" for i in range(1, 26))
    path = write(tmp_path / "notes.csv", HEADER + rows)
    with pytest.raises(DataError) as info:
        validate_records(smoking(), read(smoking(), path))
    lines = str(info.value).splitlines()
    assert lines[0].endswith("25 problems; fix them and run again:")
    assert len(lines) == 22 and lines[-1] == "  … and 5 more"
    assert "row 20," in lines[20]


def test_format_problems_single_problem_is_one_line() -> None:
    assert format_problems("f", ["only one"]) == "only one"


# ----- splits ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_stratified_split_keeps_class_proportions(seed: int) -> None:
    keys = ["a"] * 200 + ["b"] * 70 + ["c"] * 25 + ["d"] * 5
    split = stratified_split(keys, 0.15, 0.15, seed)
    assert sorted(i for s in split.values() for i in s) == list(range(len(keys)))
    totals = Counter(keys)
    for name, fraction in (("valid", 0.15), ("test", 0.15), ("train", 0.7)):
        counts = Counter(keys[i] for i in split[name])
        for key, total in totals.items():
            assert abs(counts[key] - fraction * total) < 1.5, (name, key, counts)
    assert len(split["valid"]) == len(split["test"]) == 45


def test_tiny_classes_never_crash_and_stay_in_train() -> None:
    keys = ["a"] * 10 + ["single"] + ["pair"] * 2
    split = stratified_split(keys, 0.2, 0.2, 3)
    train = [keys[i] for i in split["train"]]
    assert "single" in train and "pair" in train
    assert sum(len(s) for s in split.values()) == len(keys)


def test_split_is_deterministic_and_depends_on_the_seed() -> None:
    keys = ["a", "b", "c"] * 30
    assert stratified_split(keys, 0.2, 0.1, 5) == stratified_split(keys, 0.2, 0.1, 5)
    assert stratified_split(keys, 0.2, 0.1, 5) != stratified_split(keys, 0.2, 0.1, 6)


@given(st.lists(st.integers(1, 80), min_size=1, max_size=6), st.integers(0, 2**31),
       st.lists(st.integers(1, 300), min_size=1, max_size=6))
@settings(max_examples=60, deadline=None, database=None)
def test_nested_subsets_are_nested_and_proportional(sizes_per_class: list[int], seed: int,
                                                    sizes: list[int]) -> None:
    keys = [f"k{c}" for c, n in enumerate(sizes_per_class) for _ in range(n)]
    subsets = nested_subsets(keys, sizes, seed)
    assert sorted(subsets) == sorted({n for n in sizes if n <= len(keys)})
    totals = Counter(keys)
    previous: set[int] = set()
    for n in sorted(subsets):
        chosen = set(subsets[n])
        assert len(chosen) == len(subsets[n]) == n
        assert previous <= chosen
        previous = chosen
        counts = Counter(keys[i] for i in chosen)
        for key, total in totals.items():
            assert abs(counts[key] - n * total / len(keys)) < 1, (n, key)
    assert nested_subsets(keys, sizes, seed) == subsets


def test_quota_allocations_are_monotone() -> None:
    rows = quota_allocations([5, 3, 2], 10)
    assert rows[10] == [5, 3, 2]
    assert all(a <= b for r1, r2 in zip(rows, rows[1:], strict=False)
               for a, b in zip(r1, r2, strict=True))


def test_parse_sizes() -> None:
    assert parse_sizes("50, 25,100,25") == [25, 50, 100]
    with pytest.raises(MlxmedError, match="--sizes"):
        parse_sizes("25,lots")
    with pytest.raises(MlxmedError, match="positive"):
        parse_sizes("0,5")


# ----- long notes --------------------------------------------------------------------------
def words(text: str) -> int:
    return len(text.split())


def test_fit_note_truncate_middle_keeps_head_and_tail() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    short = fit_note(text, 21, words)
    assert words(short) <= 21 and " […] " in short
    assert short.startswith("w0 w1 ") and short.endswith(" w98 w99")
    assert fit_note(text, 200, words) == text


def test_fit_note_truncate_end_keeps_head() -> None:
    text = "abcdefghij" * 10
    short = fit_note(text, 10, lambda s: math.ceil(len(s) / 4), policy="truncate_end")
    assert math.ceil(len(short) / 4) <= 10 and text.startswith(short.removesuffix(" […]"))
    with pytest.raises(ValueError):
        fit_note(text, 10, len, policy="error")
    with pytest.raises(ValueError, match="no room"):
        fit_note(text, 1, len)


def long_notes_csv(tmp_path: Path) -> Path:
    rows = [f"s{i},{'short note ' * 3},UNKNOWN" for i in range(12)]
    rows += [f"l{i},{'very long note text ' * 200}END,NON-SMOKER" for i in range(3)]
    return write(tmp_path / "notes.csv", HEADER + "\n".join(rows) + "\n")


def test_long_notes_are_truncated_and_counted(tmp_path: Path) -> None:
    path = long_notes_csv(tmp_path)
    counter = TokenCounter()
    prepared = prepare(smoking(), read(smoking(), path), sizes=(), counter=counter)
    long_notes = prepared.summary["long_notes"]
    assert long_notes["total"] == 3 and long_notes["policy"] == "truncate_middle"
    for examples in prepared.splits.values():
        for example in examples:
            assert counter.chat_tokens(example.messages) <= 256
            if example.record.id.startswith("l"):
                assert example.truncated and example.tokens > 256
                assert example.messages[1]["content"].endswith("text END")
                assert " […] " in example.messages[1]["content"]
    assert any("shortened" in note for note in prepared.summary["notes"])


def test_long_notes_error_policy_names_the_rows(tmp_path: Path) -> None:
    task = smoking()
    task = replace(task, long_notes="error")
    with pytest.raises(DataError) as info:
        prepare(task, read(task, long_notes_csv(tmp_path)), sizes=())
    assert len(info.value.problems) == 3
    assert all("over the limit of 256" in p and "row 1" in p for p in info.value.problems)


def test_fit_chat_for_inference_leaves_room() -> None:
    task = smoking()
    counter = TokenCounter()
    note = "x " * 2000 + "the end"
    messages, tokens, truncated = fit_chat(task, note, None, counter, 300, "n1")
    assert truncated and tokens > 300 and len(messages) == 2
    assert counter.chat_tokens(messages) <= 300
    assert messages[1]["content"].endswith("x the end")
    with pytest.raises(MlxmedError, match="n1: the prompt without the note already needs"):
        fit_chat(task, note, None, counter, 60, "n1")


def test_prompt_longer_than_the_limit_is_one_error(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.csv", many_rows(20))
    with pytest.raises(MlxmedError, match="smoking_task.yaml: the prompt without any note") as info:
        prepare(smoking(), read(smoking(), path), sizes=(), max_seq_length=40)
    assert "\n" not in str(info.value)


def make_model(tmp_path: Path) -> Path:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    model = tmp_path / "model"
    model.mkdir()
    tokenizer = Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(model / "tokenizer.json"))
    template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    (model / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}))
    return model


def test_token_counts_with_a_model_tokenizer(tmp_path: Path) -> None:
    counter = TokenCounter(make_model(tmp_path))
    assert counter.exact and counter.count("two words") == 2
    path = write(tmp_path / "notes.csv", many_rows(20))
    prepared = prepare(smoking(), read(smoking(), path), sizes=(), counter=counter)
    example = prepared.splits["train"][0]
    rendered = "".join(m["content"] + "\n" for m in example.messages)
    assert example.tokens == counter.count(rendered)
    tokens = prepared.summary["tokens"]
    assert tokens["method"] == "tokenizer"
    assert tokens["percentiles"]["train"]["max"] == max(e.tokens
                                                         for e in prepared.splits["train"])


def test_estimated_token_counts_are_labelled(tmp_path: Path) -> None:
    prepared = prepare(smoking(), read(smoking(), write(tmp_path / "n.csv", many_rows(20))),
                       sizes=())
    assert prepared.summary["tokens"]["method"] == "estimate"
    assert "estimated" in prepared.summary["tokens"]["note"]
    assert TokenCounter(tmp_path).note.startswith("estimated")  # a folder without tokenizer


# ----- outputs -----------------------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepared = run_data(load_task(SMOKING), FIXTURES / "notes.csv", out, sizes=(5, 10, 20, 100))
    train = read_jsonl(out / "train.jsonl")
    records = read_jsonl(out / "records/train.jsonl")
    assert len(train) == len(records) == 26
    task = smoking()
    for chat, record in zip(train, records, strict=True):
        assert [m["role"] for m in chat["messages"]] == ["system", "user", "assistant"]
        assert chat["messages"][2]["content"] == record["gold"]
        assert chat["messages"][1]["content"] == task.user_message(record["text"])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["subsets"]["written"] == [5, 10, 20]
    assert summary["subsets"]["skipped"] == [100]
    assert summary["task"]["hash"] == task.spec_hash()
    assert summary["counts"]["total"] == dict(Counter(
        r["gold"] for s in ("train", "valid", "test")
        for r in read_jsonl(out / f"records/{s}.jsonl")))
    assert summary == prepared.summary
    train_ids = [r["id"] for r in records]
    subset_ids = {}
    for n in (5, 10, 20):
        ids = (out / f"subsets/train_{n}_ids.txt").read_text().split()
        assert len(read_jsonl(out / f"subsets/train_{n}.jsonl")) == len(ids) == n
        assert set(ids) <= set(train_ids)
        subset_ids[n] = set(ids)
    assert subset_ids[5] <= subset_ids[10] <= subset_ids[20]
    assert sorted(p.name for p in out.iterdir()) == ["records", "subsets", "summary.json",
                                                      "test.jsonl", "train.jsonl", "valid.jsonl"]


def test_outputs_are_deterministic(tmp_path: Path) -> None:
    def files(out: Path) -> dict[str, bytes]:
        return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    run_data(load_task(CARDIO), FIXTURES / "reports.jsonl", tmp_path / "a", seed=4, sizes=(5,))
    run_data(load_task(CARDIO), FIXTURES / "reports.jsonl", tmp_path / "b", seed=4, sizes=(5,))
    run_data(load_task(CARDIO), FIXTURES / "reports.jsonl", tmp_path / "c", seed=5, sizes=(5,))
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a")["train.jsonl"] != files(tmp_path / "c")["train.jsonl"]


def test_nothing_is_written_on_error(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.csv", many_rows(20) + "bad,x,NOPE\n")
    out = tmp_path / "out"
    with pytest.raises(DataError):
        run_data(load_task(SMOKING), path, out)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["notes.csv"]


def test_non_empty_out_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(MlxmedError, match="not empty.*--force"):
        run_data(load_task(SMOKING), FIXTURES / "notes.csv", out)
    # --force replaces only a data folder mlxmed wrote: a user's file is never deleted
    with pytest.raises(MlxmedError, match="holds files mlxmed did not write"):
        run_data(load_task(SMOKING), FIXTURES / "notes.csv", out, force=True, sizes=())
    assert (out / "keep.txt").read_text() == "mine" and len(list(out.iterdir())) == 1
    (out / "keep.txt").unlink()
    run_data(load_task(SMOKING), FIXTURES / "notes.csv", out, sizes=(5,))
    run_data(load_task(SMOKING), FIXTURES / "notes.csv", out, force=True, sizes=())
    assert (out / "train.jsonl").exists() and not (out / "subsets" / "train_5.jsonl").exists()
    (out / "mine.txt").write_text("mine")  # a file added to mlxmed's folder is kept too
    with pytest.raises(MlxmedError, match="1 file.*mlxmed did not write.*mine.txt"):
        run_data(load_task(SMOKING), FIXTURES / "notes.csv", out, force=True, sizes=())
    assert (out / "mine.txt").read_text() == "mine"


def test_empty_existing_out_is_fine(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    run_data(load_task(SMOKING), FIXTURES / "notes.csv", tmp_path / "out", sizes=())
    assert (tmp_path / "out" / "summary.json").exists()


@pytest.mark.parametrize(("valid", "test", "message"), [
    (1.5, 0.1, "--valid"), (0.1, -0.1, "--test"), (0.5, 0.45, "almost nothing")])
def test_bad_fractions(tmp_path: Path, valid: float, test: float, message: str) -> None:
    with pytest.raises(MlxmedError, match=message):
        run_data(load_task(SMOKING), FIXTURES / "notes.csv", tmp_path / "o", valid=valid, test=test)


def test_too_few_notes(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.csv", many_rows(2))
    with pytest.raises(MlxmedError, match="too few"):
        run_data(load_task(SMOKING), path, tmp_path / "o")


# ----- the CLI -----------------------------------------------------------------------------
def test_cli_success(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["data", str(SMOKING), str(FIXTURES / "notes.csv"),
                                      "--out", str(out), "--sizes", "5,10,50", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "CURRENT SMOKER" in result.output and "p95" in result.output
    assert "50 skipped" in result.output and str(out) in result.output.replace("\n", "")
    assert json.loads((out / "summary.json").read_text())["seed"] == 2


def test_cli_with_a_converted_model(tmp_path: Path, tiny_models) -> None:
    model = tiny_models("llama", kind="hf")
    # note text is data: a control token written in a note is plain text, not one token
    assert TokenCounter(model).count("<|im_start|>") > 1
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["data", str(CARDIO), str(FIXTURES / "reports.jsonl"),
                                      "--out", str(out), "--model", str(model),
                                      "--max-seq-length", "470", "--sizes", "5"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tokens"]["method"] == "tokenizer"
    assert summary["long_notes"]["max_seq_length"] == 470
    assert summary["long_notes"]["total"] > 0 and "Notes over max_seq_length 470" in result.output
    counter = TokenCounter(model)
    for line in read_jsonl(out / "train.jsonl"):
        assert counter.chat_tokens(line["messages"]) <= 470


def test_cli_error_is_one_line_and_non_zero(tmp_path: Path, monkeypatch, capsys) -> None:
    path = write(tmp_path / "notes.csv", HEADER + "a,x,UNKNOWN\nb,y,MAYBE\n")
    monkeypatch.setattr(sys, "argv", ["mlxmed", "data", str(SMOKING), str(path),
                                      "--out", str(tmp_path / "out")])
    assert run_safely(cli) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "notes.csv row 2, field 'smoking_status': unknown label 'MAYBE'" in err
    assert not (tmp_path / "out").exists()


def test_cli_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["data", str(SMOKING), str(FIXTURES / "notes.csv")])
    assert result.exit_code == 2 and "--out" in result.output


# ----- the demo datasets -------------------------------------------------------------------
DEMOS = [("smoking", "notes.csv"), ("cardio_de", "reports.jsonl")]


@pytest.mark.parametrize(("folder", "data_file"), DEMOS)
def test_demo_gold_round_trips(folder: str, data_file: str) -> None:
    task_path, data_path = EXAMPLES / folder / "task.yaml", EXAMPLES / folder / data_file
    if not (task_path.exists() and data_path.exists()):
        pytest.skip(f"{task_path} or {data_path} not generated yet")
    task = load_task(task_path)
    records = validate_records(task, read(task, data_path))
    grammar_ok = _grammar_checker(task)
    for record in records:
        answer = task.answer_for(record.gold)
        parsed = task.parse_answer(answer)
        assert parsed.ok, (record.where, parsed.error)
        assert parsed.value == record.gold, record.where
        assert grammar_ok(answer), (record.where, answer)


def _grammar_checker(task: Task):
    from gbnf import Grammar

    return Grammar(task.grammar()).matches


def test_data_prepared_for_another_version_of_the_task_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    run_data(load_task(SMOKING), FIXTURES / "notes.csv", out, sizes=(5,))
    task = smoking()
    PreparedData.open(out).check_for(task)  # the same task: fine
    changed = replace(task, instruction=task.instruction + " Be brief.")
    with pytest.raises(MlxmedError, match=r"prepared for a different version of .*run "
                                          r"`mlxmed data` again"):
        PreparedData.open(out).check_for(changed)
    PreparedData(tmp_path).check_for(changed)  # a folder without summary.json is not judged
