"""Results where clinicians use them: an Excel workbook with the rows of the CSV output (built
from a row journal, resumable after a kill) and an Ollama Modelfile whose template renders a
chat exactly as the GGUF's own chat template does."""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from test_bad_input import assert_one_line_error, leftovers, run_cli

import mlxmed
from mlxmed.errors import MlxmedError
from mlxmed.evaluate.compare import evaluate
from mlxmed.export.ollama import chat_pieces, modelfile_text, write_modelfile
from mlxmed.extract import done_ids, iter_rows, run_extract
from mlxmed.extract.workbook import LOW_CONFIDENCE, LOW_FILL, journal_path
from mlxmed.models.chat_template import render_chat
from mlxmed.models.gguf_import import read_gguf_metadata
from mlxmed.tasks import load_task

TASK = "examples/smoking/task.yaml"
LABELS = ["CURRENT SMOKER", "PAST SMOKER", "NON-SMOKER", "UNKNOWN"]


@pytest.fixture(scope="module")
def notes(tmp_path_factory):
    """40 short notes with gold labels; one starts like a spreadsheet formula, one holds a
    control character that Excel cannot store."""
    path = tmp_path_factory.mktemp("outputs") / "notes.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "smoking_status"])
        for i in range(40):
            text = f"Note {i}. Patient quit smoking {i % 7 + 1} years ago. BP 120/80."
            if i == 3:
                text = '=HYPERLINK("http://example.invalid","click") smokes daily'
            if i == 4:
                text = "Page one.\x0cPage two: never smoked."
            writer.writerow([f"n{i:02d}", text, LABELS[i % 4]])
    return path


@pytest.fixture(scope="module")
def model(tiny_models):
    return tiny_models("llama", "Q8_0")


def workbook(path):
    from openpyxl import load_workbook

    return load_workbook(path)


def without_ms(rows):
    return [{k: v for k, v in row.items() if k != "ms"} for row in rows]


def same_cell(xlsx_value, csv_text: str) -> bool:
    """An Excel cell against the CSV cell of the same row and column."""
    if xlsx_value is None:
        return csv_text == ""
    if isinstance(xlsx_value, int | float):
        return float(csv_text) == xlsx_value
    return str(xlsx_value) == csv_text


# ----- the Excel output ------------------------------------------------------------------
def test_the_workbook_has_the_rows_of_the_csv_output(notes, model, tmp_path):
    task = load_task(TASK)
    csv_out, xlsx_out = tmp_path / "results.csv", tmp_path / "results.xlsx"
    run_extract(task, model, notes, csv_out, n_ctx=1024, include_text=True)
    summary = run_extract(task, model, notes, xlsx_out, n_ctx=1024, include_text=True)
    with csv_out.open(newline="", encoding="utf-8") as handle:
        csv_rows = list(csv.reader(handle))
    sheet = workbook(xlsx_out)["results"]
    xlsx_rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert xlsx_rows[0] == csv_rows[0] == task.output_columns(True)
    assert len(xlsx_rows) == len(csv_rows) == 41
    ms = csv_rows[0].index("ms")
    text = csv_rows[0].index("text")
    for xlsx_row, csv_row in zip(xlsx_rows[1:], csv_rows[1:], strict=True):
        for index, (ours, theirs) in enumerate(zip(xlsx_row, csv_row, strict=True)):
            if index == ms:
                assert isinstance(ours, int)
            elif index == text and "\x0c" in theirs:
                assert ours == theirs.replace("\x0c", "")  # Excel cannot hold control chars
            else:
                assert same_cell(ours, theirs), (csv_row[0], csv_rows[0][index], ours, theirs)
    confidence = csv_rows[0].index("confidence")
    low = 0
    for row in list(sheet.iter_rows())[1:]:
        assert row[confidence].data_type == "n"
        filled = row[0].fill.fgColor.rgb.endswith(LOW_FILL)
        assert filled == (row[confidence].value < LOW_CONFIDENCE)
        low += filled
    assert summary.low_confidence == low
    formula = next(row for row in sheet.iter_rows() if row[0].value == "n03")
    assert formula[text].data_type == "s" and formula[text].value.startswith("=HYPERLINK")
    settings = {row[0].value: row[1].value for row in workbook(xlsx_out)["settings"].iter_rows()}
    assert settings["task"] == "smoking_status"
    assert settings["task spec hash"] == task.spec_hash()
    assert settings["model file"] == str(model.resolve())
    assert settings["mlxmed version"] == mlxmed.__version__
    assert dt.datetime.fromisoformat(settings["finished"]).tzinfo is not None
    assert settings["rows"] == settings["notes in input"] == 40
    assert settings["note text included (--include-text)"] == "True"
    assert settings["context size in tokens (--ctx)"] == 1024
    assert not journal_path(xlsx_out).exists() and leftovers(tmp_path) == []


def test_evaluate_reads_a_workbook_like_the_csv(notes, model, tmp_path):
    task = load_task(TASK)
    run_extract(task, model, notes, tmp_path / "p.csv", n_ctx=1024)
    run_extract(task, model, notes, tmp_path / "p.xlsx", n_ctx=1024)
    from_csv = evaluate(task, tmp_path / "p.csv", notes)
    from_xlsx = evaluate(task, tmp_path / "p.xlsx", notes)
    assert from_xlsx["metrics"] == from_csv["metrics"]
    assert from_xlsx["invalid_outputs"] == from_csv["invalid_outputs"] == 0


def test_an_existing_workbook_needs_resume_and_a_finished_one_can_grow(notes, model, tmp_path):
    task = load_task(TASK)
    out = tmp_path / "r.xlsx"
    run_extract(task, model, notes, out, n_ctx=1024, limit=10)
    with pytest.raises(MlxmedError, match="already exists; pass --resume"):
        run_extract(task, model, notes, out, n_ctx=1024)
    summary = run_extract(task, model, notes, out, n_ctx=1024, resume=True)
    assert summary.done_before == 10 and summary.written == 30
    reference = tmp_path / "reference.xlsx"
    run_extract(task, model, notes, reference, n_ctx=1024)
    assert without_ms(iter_rows(out)) == without_ms(iter_rows(reference))
    with pytest.raises(MlxmedError, match=r"the output must be a \.csv, \.jsonl or \.xlsx"):
        run_extract(task, model, notes, tmp_path / "r.xls", n_ctx=1024)


def test_a_killed_workbook_extraction_resumes_without_losing_or_repeating_rows(notes, model,
                                                                              tmp_path):
    reference = tmp_path / "reference.xlsx"
    run_extract(load_task(TASK), model, notes, reference, n_ctx=1024)
    out = tmp_path / "killed.xlsx"
    journal = journal_path(out)
    command = [sys.executable, "-m", "mlxmed", "extract", TASK, str(notes), "--model",
               str(model), "--out", str(out), "--ctx", "1024"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ})
    deadline = time.time() + 300
    while time.time() < deadline and (not journal.exists() or len(done_ids(journal)) < 8):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = len(done_ids(journal))
    assert 8 <= before < 40, before
    assert not out.exists()  # the workbook is only built at the end
    result = subprocess.run(command + ["--resume"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"Resuming: {before} of 40" in result.stdout
    assert without_ms(iter_rows(out)) == without_ms(iter_rows(reference))
    assert not journal.exists() and leftovers(tmp_path) == []


# ----- the Ollama Modelfile -----------------------------------------------------------------
ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


def go_render(template: str, data: dict) -> str:
    """A tiny renderer for the Go text/template subset a Modelfile uses here: text,
    ``{{ .Field }}``, ``{{ range .Field }}``, ``{{ if eq .Field "x" }}`` / ``{{ else if ... }}``
    / ``{{ else }}`` / ``{{ end }}`` (trim markers are refused, the emitted template has none)."""
    tokens, position = [], 0
    for match in ACTION.finditer(template):
        assert not match.group(1) and not match.group(3), "no trim markers expected"
        tokens += [("text", template[position:match.start()]), ("action", match.group(2))]
        position = match.end()
    tokens.append(("text", template[position:]))
    stream = iter(tokens)

    def block():
        nodes = []
        for kind, value in stream:
            if kind == "text":
                nodes.append(("text", value))
            elif value == "end" or value.startswith("else"):
                return nodes, value
            elif value.startswith("range "):
                body, end = block()
                assert end == "end"
                nodes.append(("range", value[6:], body))
            elif value.startswith("if "):
                branches, condition = [], value[3:]
                while True:
                    body, end = block()
                    branches.append((condition, body))
                    if end == "end":
                        break
                    condition = end[8:] if end.startswith("else if ") else "true"
                nodes.append(("if", branches))
            else:
                nodes.append(("value", value))
        return nodes, None

    def truth(condition: str, dot: dict) -> bool:
        if condition == "true":
            return True
        field, expected = re.fullmatch(r'eq \.(\w+) "([^"]*)"', condition).groups()
        return dot[field] == expected

    def run(nodes, dot, out):
        for node in nodes:
            if node[0] == "text":
                out.append(node[1])
            elif node[0] == "value":
                out.append(str(dot[node[1].removeprefix(".")]))
            elif node[0] == "range":
                for item in dot[node[1].removeprefix(".")]:
                    run(node[2], item, out)
            else:
                for condition, body in node[1]:
                    if truth(condition, dot):
                        run(body, dot, out)
                        break

    nodes, end = block()
    assert end is None
    out: list[str] = []
    run(nodes, data, out)
    return "".join(out)


def parse_modelfile(text: str) -> dict:
    """FROM, TEMPLATE, SYSTEM and the PARAMETERs of a Modelfile (comments skipped)."""
    found: dict = {"PARAMETER": []}
    for match in re.finditer(r'^(FROM|TEMPLATE|SYSTEM|PARAMETER) (?:"""(.*?)"""|([^\n]*))$', text,
                             re.S | re.M):
        key, value = match.group(1), match.group(2) if match.group(2) is not None \
            else match.group(3)
        if key == "PARAMETER":
            found[key].append(value)
        else:
            found[key] = value
    return found


def check_modelfile(text: str, gguf, task, meta: dict | None = None) -> dict:
    parsed = parse_modelfile(text)
    meta = meta or read_gguf_metadata(gguf)
    tokens = meta["tokenizer.ggml.tokens"]
    eos = tokens[meta["tokenizer.ggml.eos_token_id"]]
    assert parsed["FROM"] == f"./{gguf.name}"
    assert parsed["SYSTEM"] == task.system_prompt()
    assert f'stop "{eos}"' in parsed["PARAMETER"] and "temperature 0" in parsed["PARAMETER"]
    template = meta["tokenizer.chat_template"]
    bos = tokens[meta["tokenizer.ggml.bos_token_id"]]
    for note in ("Quit smoking in 2019.", "Raucher, 20 Zigaretten/Tag.\nKeine Allergien."):
        messages = task.messages(note)
        jinja = render_chat(template, messages, add_generation_prompt=True, bos_token=bos,
                            eos_token=eos)
        go = go_render(parsed["TEMPLATE"], {"Messages": [
            {"Role": m["role"], "Content": m["content"]} for m in messages]})
        assert go == jinja
        answered = render_chat(template, [*messages, {"role": "assistant", "content": "UNKNOWN"}],
                               bos_token=bos, eos_token=eos)
        assert f"UNKNOWN{eos}" in answered  # the stop token is what ends the answer
    assert parsed["TEMPLATE"].startswith("{{ range .Messages }}")  # no text before the chat
    return parsed


def test_the_modelfile_matches_the_gguf(tiny_models, tmp_path):
    gguf = tmp_path / "model.gguf"
    shutil.copy(tiny_models("llama", "Q8_0"), gguf)
    task = load_task(TASK)
    path = write_modelfile(gguf, task, 1280)
    assert path == tmp_path / "Modelfile"
    parsed = check_modelfile(path.read_text(encoding="utf-8"), gguf, task)
    assert parsed["PARAMETER"] == ['stop "<|im_end|>"', "temperature 0", "num_ctx 1280"]
    # this template adds no system message of its own, so a chat without one compares too
    chat = [{"role": "user", "content": "Never smoked."}]
    template = read_gguf_metadata(gguf)["tokenizer.chat_template"]
    assert go_render(parsed["TEMPLATE"], {"Messages": [{"Role": "user", "Content": "Never "
                                                        "smoked."}]}) == \
        render_chat(template, chat, add_generation_prompt=True)
    assert leftovers(tmp_path) == []


def test_the_bundled_smollm2_template_translates(bundled_gguf):
    """The real template of the bundled model (ChatML with a default system message when
    the chat has none): with the task's system prompt it renders the same."""
    task = load_task(TASK)
    meta = read_gguf_metadata(bundled_gguf)
    text = modelfile_text(bundled_gguf, task, 1280, meta)
    check_modelfile(text, bundled_gguf, task, meta)


@pytest.mark.parametrize(("template", "reason"), [
    # Mistral style: the system prompt goes inside the first user turn
    ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] "
     "{% if loop.index == 2 %}{{ messages[0]['content'] }}\n\n{% endif %}{{ m['content'] }}"
     " [/INST]{% elif m['role'] == 'assistant' %}{{ m['content'] }}{{ eos_token }}{% endif %}"
     "{% endfor %}", "wraps the same role differently"),
    # Llama 3 style: message text is trimmed, which a Go template cannot do
    ("{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
     "{{ m['content'] | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
     "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}", "changes message text"),
])
def test_templates_that_cannot_be_translated_are_refused(template, reason):
    with pytest.raises(MlxmedError) as info:
        chat_pieces(template, "<s>", "</s>")
    message = str(info.value)
    assert message.startswith("--ollama: ") and reason in message and "\n" not in message


def test_export_ollama_writes_the_modelfile_next_to_the_gguf(tiny_setup, tmp_path):
    from mlxmed.artifacts import ModelDir, PreparedData
    from mlxmed.training import TrainSettings, train

    root, model_dir = tiny_setup
    run_dir = tmp_path / "run"
    train(load_task(root / "task.yaml"), ModelDir.open(model_dir),
          PreparedData.open(root / "data"), run_dir,
          TrainSettings(iters=2, batch_size=4, patience=10))
    out = tmp_path / "export" / "chest.gguf"
    result = run_cli("export", run_dir, "--quant", "F16", "--no-verify", "--ollama",
                     "--out", out)
    assert result.returncode == 0, result.stderr
    modelfile = out.with_name("Modelfile")
    stdout = " ".join(result.stdout.split())
    assert f"Use it with Ollama: cd {out.parent} && ollama create chest-pain -f Modelfile" \
        in stdout
    check_modelfile(modelfile.read_text(encoding="utf-8"), out, load_task(root / "task.yaml"))
    assert_one_line_error(run_cli("export", run_dir, "--adapter-only", "--ollama", "--out",
                                  tmp_path / "lora.gguf"), "--ollama", "--adapter-only")


def test_only_the_templates_own_bos_token_goes_before_the_chat():
    """SmolLM2's BOS token is <|im_start|>, which also opens every message: it belongs to the
    messages. A template that writes {{ bos_token }} itself starts with it."""
    from factory import CHATML

    assert chat_pieces(CHATML, "<|im_start|>", "<|im_end|>").start == ""
    pieces = chat_pieces("{{ bos_token }}" + CHATML, "<s>", "<|im_end|>")
    assert pieces.start == "<s>" and pieces.before["system"] == "<|im_start|>system\n"
