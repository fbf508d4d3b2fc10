"""Evaluation numbers against hand-computed values, and the HTML report in Chromium."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess

import pytest

from mlxmed.errors import MlxmedError
from mlxmed.evaluate.compare import evaluate
from mlxmed.evaluate.report import write_report
from mlxmed.tasks import load_task

CLASSIFY = """\
name: t
kind: classification
instruction: Pick one.
text_field: text
id_field: id
label_field: label
labels:
  - {name: A, definition: a}
  - {name: B, definition: b}
  - {name: C, definition: c}
"""
EXTRACT = """\
name: e
kind: extraction
instruction: Fill the fields.
text_field: text
id_field: id
gold_field: gold
fields:
  lv_ef: {type: [integer, "null"], minimum: 5, maximum: 90}
  rhythm: {type: [string, "null"], enum: [SR, AF, null]}
  dx: {type: array, items: {type: string, enum: [A, B, C]}}
"""


def _write_csv(path, header, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def classification(tmp_path):
    (tmp_path / "task.yaml").write_text(CLASSIFY)
    gold = _write_csv(tmp_path / "gold.csv", ["id", "text", "label"],
                      [[f"n{i}", f"note {i}", g] for i, g in enumerate("AABBCC", 1)])
    pred = _write_csv(tmp_path / "pred.csv", ["id", "label", "confidence", "status", "error",
                                              "ms"],
                      [["n1", "A", "0.9", "ok", "", "1"], ["n2", "B", "0.8", "ok", "", "1"],
                       ["n3", "B", "0.7", "ok", "", "1"], ["n5", "C", "0.6", "ok", "", "1"],
                       ["n6", "", "", "error", "no valid answer", "1"],
                       ["x9", "A", "0.5", "ok", "", "1"]])
    return tmp_path, gold, pred


def test_classification_numbers_match_hand_computed_values(classification):
    root, gold, pred = classification
    report = evaluate(load_task(root / "task.yaml"), pred, gold)
    m = report["metrics"]
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["per_class"]["A"] == pytest.approx({"precision": 1.0, "recall": 0.5,
                                                  "f1": 2 / 3, "support": 2})
    assert m["per_class"]["B"]["precision"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 2 / 3) / 3)
    assert m["micro_f1"] == pytest.approx(2 * 0.75 * 0.5 / 1.25)
    assert report["missing_predictions"] == 1 and report["missing_ids"] == ["n4"]
    assert report["invalid_outputs"] == 1 and report["predictions_without_gold"] == 1
    assert report["confusion_matrix"]["matrix"][0] == [1, 1, 0, 0]  # gold A: A, B
    assert [e["id"] for e in report["worst_errors"]][:1] == ["n2"]  # most confident error


def test_extraction_numbers_match_hand_computed_values(tmp_path):
    (tmp_path / "task.yaml").write_text(EXTRACT)
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        json.dumps({"id": "r1", "text": "x", "gold": {"lv_ef": 55, "rhythm": "SR",
                                                      "dx": ["A", "B"]}}) + "\n"
        + json.dumps({"id": "r2", "text": "y", "gold": {"lv_ef": None, "rhythm": "AF",
                                                        "dx": []}}) + "\n")
    pred = _write_csv(tmp_path / "pred.csv", ["id", "lv_ef", "rhythm", "dx", "confidence",
                                              "status", "error", "ms"],
                      [["r1", "55", "", '["A", "C"]', "", "ok", "", "1"],
                       ["r2", "40", "AF", "[]", "", "ok", "", "1"]])
    m = evaluate(load_task(tmp_path / "task.yaml"), pred, gold)["metrics"]
    assert m["per_field"]["lv_ef"]["precision"] == pytest.approx(0.5)
    assert m["per_field"]["lv_ef"]["recall"] == pytest.approx(1.0)
    assert m["per_field"]["rhythm"]["recall"] == pytest.approx(0.5)
    assert m["per_field"]["dx"]["f1"] == pytest.approx(0.5)
    assert m["field_precision"] == pytest.approx(0.6)
    assert m["field_recall"] == pytest.approx(0.6)
    assert m["field_f1"] == pytest.approx(0.6)
    assert m["exact_match"] == 0
    # nulls count in per-field accuracy only: r1's rhythm (gold SR, null) and r2's lv_ef
    # (gold null, 40) are wrong, r2's dx (both empty) is right
    assert m["per_field"]["rhythm"]["accuracy"] == pytest.approx(0.5)
    assert m["per_field"]["lv_ef"]["accuracy"] == pytest.approx(0.5)
    assert m["per_field"]["dx"]["accuracy"] == pytest.approx(0.5)
    assert m["per_field"]["lv_ef"]["stated"] == 1


def _extraction_files(tmp_path, task_text: str, pred_rows: list[list[str]]):
    (tmp_path / "task.yaml").write_text(task_text)
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps({"id": f"r{i}", "text": "x", "gold": g}) + "\n"
                            for i, g in enumerate([
                                {"lv_ef": 55, "rhythm": "SR", "dx": []},
                                {"lv_ef": 30, "rhythm": None, "dx": ["A"]},
                                {"lv_ef": None, "rhythm": "AF", "dx": []}])))
    pred = _write_csv(tmp_path / "pred.csv", ["id", "lv_ef", "rhythm", "dx", "confidence",
                                              "status", "error", "ms"], pred_rows)
    return load_task(tmp_path / "task.yaml"), pred, gold


def test_numeric_tolerance_counts_near_values_as_right(tmp_path):
    rows = [["r0", "57", "SR", "[]", "", "ok", "", "1"],
            ["r1", "33", "", '["A"]', "", "ok", "", "1"],
            ["r2", "", "AF", "[]", "", "ok", "", "1"]]
    task, pred, gold = _extraction_files(tmp_path, EXTRACT, rows)
    exact = evaluate(task, pred, gold)["metrics"]["per_field"]["lv_ef"]
    assert exact["tp"] == 0 and exact["fp"] == 2
    tolerant = EXTRACT.replace("minimum: 5, maximum: 90}", "minimum: 5, maximum: 90, "
                               "tolerance: 2}")
    (tmp_path / "task.yaml").write_text(tolerant)
    task = load_task(tmp_path / "task.yaml")
    within = evaluate(task, pred, gold)["metrics"]["per_field"]["lv_ef"]
    assert (within["tp"], within["fp"], within["fn"]) == (1, 1, 1)  # 57 ~ 55; 33 is 3 off
    # scoring is not part of what the model learnt: a tolerance leaves the task's hash alone
    assert task.spec_hash() == load_task_text(tmp_path, EXTRACT).spec_hash()


def load_task_text(tmp_path, text: str):
    other = tmp_path / "other"
    other.mkdir(exist_ok=True)
    (other / "task.yaml").write_text(text)
    return load_task(other / "task.yaml")


def test_tolerance_on_a_text_field_is_refused(tmp_path):
    (tmp_path / "task.yaml").write_text(EXTRACT.replace("enum: [SR, AF, null]}",
                                                        "enum: [SR, AF, null], tolerance: 1}"))
    with pytest.raises(MlxmedError, match="'tolerance' only applies to integer and number"):
        load_task(tmp_path / "task.yaml")


def test_enum_fields_get_a_confusion_matrix(tmp_path):
    rows = [["r0", "55", "AF", "[]", "", "ok", "", "1"],
            ["r1", "30", "", '["A"]', "", "ok", "", "1"],
            ["r2", "", "", "", "", "error", "no valid answer", "1"]]
    task, pred, gold = _extraction_files(tmp_path, EXTRACT, rows)
    report = evaluate(task, pred, gold)
    confusion = report["field_confusion"]
    assert set(confusion) == {"rhythm"}  # the only single-value enum field
    labels = confusion["rhythm"]["labels"]
    assert labels == ["SR", "AF", "null", "<invalid>"]
    matrix = confusion["rhythm"]["matrix"]
    assert matrix[labels.index("SR")][labels.index("AF")] == 1  # gold SR, said AF
    assert matrix[labels.index("null")][labels.index("null")] == 1
    assert matrix[labels.index("AF")][labels.index("<invalid>")] == 1
    html = write_report(report, tmp_path / "report").read_text()
    assert "Confusion matrix of rhythm" in html and "How nulls count" in html


def test_missing_prediction_file_is_a_clear_error(classification):
    root, gold, _ = classification
    with pytest.raises(MlxmedError, match="run `mlxmed extract` first"):
        evaluate(load_task(root / "task.yaml"), root / "absent.csv", gold)


def test_html_report_renders_in_headless_chromium(classification, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs it from Debian packages")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    root, gold, pred = classification
    page = write_report(evaluate(load_task(root / "task.yaml"), pred, gold), tmp_path / "report")
    assert json.loads((tmp_path / "report" / "report.json").read_text())["notes"] == 6
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,1400",
         f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.is_file(), result.stderr[-2000:]
    from PIL import Image

    image = Image.open(shot).convert("L")
    colours = image.getcolors(maxcolors=1 << 20)
    assert len(colours) > 50  # text, tables and plots, not a blank page
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 2 and "Worst errors" in html
