"""Bad input through the real console script: every case ends in one clear error line and a
non-zero exit (or a documented skip), never a traceback, never a half-written output."""

from __future__ import annotations

import csv
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlxmed.artifacts import ModelDir, PreparedData
from mlxmed.tasks import load_task

TASK = "examples/smoking/task.yaml"


def run_cli(*args: str, size_limit: int | None = None) -> subprocess.CompletedProcess:
    """The console script; ``size_limit`` caps the size of any file it writes (in bytes),
    which is how a full disk is simulated: writes past it fail with EFBIG."""
    def limit() -> None:
        if size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (size_limit, size_limit))
    return subprocess.run([sys.executable, "-m", "mlxmed", *map(str, args)],
                          capture_output=True, text=True, timeout=600, preexec_fn=limit,
                          env={**os.environ, "COLUMNS": "200"})


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    # (llama.cpp may add its own warnings about the tiny test models)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial files an interrupted write would leave behind."""
    return [p.name for p in folder.rglob("*") if ".tmp" in p.name or ".partial" in p.name]


def smoking_notes(path: Path, rows: int = 40) -> Path:
    labels = ["CURRENT SMOKER", "PAST SMOKER", "NON-SMOKER", "UNKNOWN", "UNKNOWN"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "smoking_status"])
        for i in range(rows):
            writer.writerow([f"p{i}", f"Note {i}. " + "Stable overnight. " * 30, labels[i % 5]])
    return path


# ----- files that are not what they claim to be ---------------------------------------------
def test_binary_file_among_txt_notes_is_named(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "p1.txt").write_text("Quit smoking in 1990.")
    (folder / "p2.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "scan.tif").write_bytes(b"II*\x00\x08\x00")  # not a format of notes
    (folder / "labels.csv").write_text("id,smoking_status\np1,PAST SMOKER\np2,UNKNOWN\n")
    out = tmp_path / "out"
    result = run_cli("data", TASK, folder, "--out", out)
    assert_one_line_error(result, "p2.txt", "binary", "NUL")
    assert not out.exists()
    # once fixed, the TIFF is left out and listed in the summary
    labels = ["PAST SMOKER", "UNKNOWN", "NON-SMOKER", "CURRENT SMOKER"]
    rows = ["id,smoking_status"]
    for i in range(24):
        (folder / f"p{i}.txt").write_text(f"Note {i}. Stable.")
        rows.append(f"p{i},{labels[i % 4]}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    result = run_cli("data", TASK, folder, "--out", out)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["skipped_files"] == ["scan.tif"]
    assert "were left out: scan.tif (unsupported file type .tif; OCR it into a PDF with a " \
           "text layer)" in " ".join(result.stdout.split())


def test_windows_1252_notes_are_detected_then_read_with_encoding(tmp_path):
    notes = smoking_notes(tmp_path / "notes.csv")
    text = notes.read_text(encoding="utf-8").replace("Note 7.", "Café patient with a 5 € co-pay.")
    notes.write_bytes(text.encode("cp1252"))
    out = tmp_path / "out"
    assert_one_line_error(run_cli("data", TASK, notes, "--out", out), "not UTF-8",
                          "--encoding cp1252")
    assert not out.exists()
    result = run_cli("data", TASK, notes, "--out", out, "--encoding", "cp1252")
    assert result.returncode == 0, result.stderr
    assert "Café patient with a 5 € co-pay." in (out / "records" / "train.jsonl").read_text(
        encoding="utf-8") + (out / "records" / "valid.jsonl").read_text(encoding="utf-8") + (
        out / "records" / "test.jsonl").read_text(encoding="utf-8")


def test_malformed_task_spec_is_one_line(tmp_path):
    task = tmp_path / "task.yaml"
    task.write_text("name: x\nkind: classification\nlabels: [A, A]\n  bad indent: [\n")
    notes = smoking_notes(tmp_path / "notes.csv")
    assert_one_line_error(run_cli("data", task, notes, "--out", tmp_path / "out"),
                          str(task))


def test_corrupt_adapter_is_named_on_export(tmp_path, tiny_setup):
    from mlxmed.training import TrainSettings, train

    root, model_dir = tiny_setup
    run_dir = tmp_path / "run"
    train(load_task(root / "task.yaml"), ModelDir.open(model_dir), PreparedData.open(root / "data"),
          run_dir,
          TrainSettings(iters=2, batch_size=4, patience=10))
    adapter = run_dir / "adapters" / "best" / "adapters.safetensors"
    adapter.write_bytes(adapter.read_bytes()[:100])
    out = tmp_path / "model.gguf"
    result = run_cli("export", run_dir, "--out", out, "--no-verify", "--quant", "F16")
    assert_one_line_error(result, "adapters.safetensors")
    assert not out.exists() and leftovers(tmp_path) == []


def test_corrupt_model_weights_are_named_on_train(tmp_path, tiny_setup):
    root, model_dir = tiny_setup
    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    weights = next(broken.glob("*.safetensors"))
    weights.write_bytes(b"\x00" * 64)
    result = run_cli("train", root / "task.yaml", "--model", broken, "--data", root / "data",
                     "--out", tmp_path / "run", "--iters", "2")
    assert_one_line_error(result, str(broken), "convert")


def test_corrupt_gguf_is_named_on_extract(tmp_path, tiny_models):
    model = tmp_path / "model.gguf"
    model.write_bytes(tiny_models("llama", "Q8_0").read_bytes()[:5000])
    notes = smoking_notes(tmp_path / "notes.csv", rows=3)
    out = tmp_path / "out.csv"
    assert_one_line_error(run_cli("extract", TASK, notes, "--model", model, "--out", out),
                          "model.gguf")
    assert not out.exists()


# ----- where outputs go ----------------------------------------------------------------------
def test_full_disk_while_writing_data_leaves_nothing(tmp_path):
    notes = smoking_notes(tmp_path / "notes.csv", rows=200)
    out = tmp_path / "out"
    result = run_cli("data", TASK, notes, "--out", out, size_limit=20_000)
    assert_one_line_error(result, "disk")
    assert not out.exists() and leftovers(tmp_path) == []


def test_full_disk_during_extraction_keeps_whole_rows_and_resumes(tmp_path, tiny_models):
    from mlxmed.extract import iter_rows, run_extract

    model = tiny_models("llama", "Q8_0")
    notes = smoking_notes(tmp_path / "notes.csv", rows=30)
    out = tmp_path / "out.jsonl"
    result = run_cli("extract", TASK, notes, "--model", model, "--out", out, "--ctx", "1024",
                     "--include-text", size_limit=12_000)
    assert_one_line_error(result, "disk")
    written = out.read_text(encoding="utf-8")
    assert written.endswith("\n") and 0 < len(written.splitlines()) < 30  # whole rows only
    result = run_cli("extract", TASK, notes, "--model", model, "--out", out, "--ctx", "1024",
                     "--include-text", "--resume")
    assert result.returncode == 0, result.stderr
    reference = tmp_path / "reference.jsonl"
    run_extract(load_task(TASK), model, notes, reference, n_ctx=1024, include_text=True)

    def rows(path):
        return [{k: v for k, v in row.items() if k != "ms"} for row in iter_rows(path)]

    assert rows(out) == rows(reference)


def test_unwritable_output_folder(tmp_path):
    notes = smoking_notes(tmp_path / "notes.csv")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli("data", TASK, notes, "--out", blocker / "out")
    assert_one_line_error(result, str(blocker))
    if os.geteuid() != 0:  # permissions do not stop root
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert_one_line_error(run_cli("data", TASK, notes, "--out", locked / "out"),
                              "permission")


# ----- arbitrary CSV content ------------------------------------------------------------------
cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=40)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(cell, min_size=0, max_size=5), min_size=0, max_size=12),
       delimiter=st.sampled_from([",", ";", "\t"]), newline=st.sampled_from(["\n", "\r\n"]),
       bom=st.booleans())
def test_any_csv_gives_a_result_or_one_clear_error(tmp_path_factory, rows, delimiter, newline,
                                                   bom):
    """Whatever a spreadsheet export contains, `data` (run in-process here, for speed)
    either succeeds or raises one MlxmedError line: no other exception escapes."""
    import io

    from mlxmed.data import run_data
    from mlxmed.errors import MlxmedError

    folder = tmp_path_factory.mktemp("csv")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(["id", "text", "smoking_status"])
    writer.writerows(rows)
    path = folder / "notes.csv"
    path.write_text(("\ufeff" if bom else "") + buffer.getvalue(), encoding="utf-8",
                    newline="")
    try:
        run_data(load_task(TASK), path, folder / "out")
    except MlxmedError as exc:
        assert "\n" not in str(exc).strip() or str(exc).count("\n") < 60  # a bounded report
        assert not (folder / "out").exists()


def test_outputs_follow_the_users_umask(tmp_path):
    """Temporary files are created private; the finished outputs get the umask's permissions."""
    from mlxmed.data import run_data

    notes = smoking_notes(tmp_path / "notes.csv")
    for umask, expected in ((0o077, 0o600), (0o022, 0o644)):
        previous = os.umask(umask)
        try:
            out = tmp_path / f"out-{umask:o}"
            run_data(load_task(TASK), notes, out, sizes=())
        finally:
            os.umask(previous)
        for path in (out / "summary.json", out / "train.jsonl"):
            assert path.stat().st_mode & 0o777 == expected, (path, oct(path.stat().st_mode))
