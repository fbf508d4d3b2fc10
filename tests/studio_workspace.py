"""Workspaces for the studio tests: task files (a good one, a broken one, an extraction task),
notes with a hostile one among them, an extraction output with varied confidences and
statuses, a report and a learning curve."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from conftest import TASK

HOSTILE = "<script>alert('x')</script> Reports chest pain & <b>dyspnoea</b>."
EXTRACT_TASK = """\
name: echo
kind: extraction
language: de
instruction: Fill the fields from the report.
text_field: text
id_field: id
gold_field: gold
fields:
  lv_ef: {type: [integer, "null"], minimum: 5, maximum: 90, unit: "%"}
  lvedv_ml: {type: [number, "null"], minimum: 20, maximum: 600, unit: "ml"}
  rhythm: {type: [string, "null"], enum: [Sinusrhythmus, Vorhofflimmern, null]}
  diagnoses: {type: array, items: {type: string, enum: [KHK, Herzinsuffizienz]},
              uniqueItems: true}
"""
BROKEN_TASK = TASK.replace("kind: classification", "kind: classification\nlabelz: 3")


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def notes_rows(source: Path) -> list[dict]:
    with source.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def build_workspace(root: Path, train_root: Path, model_dir: Path, gguf: Path) -> Path:
    """A workspace from the ``tiny_setup`` notes and model, with everything each page needs."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "task.yaml").write_text(TASK, encoding="utf-8")
    (root / "broken.yaml").write_text(BROKEN_TASK, encoding="utf-8")
    (root / "echo.yaml").write_text(EXTRACT_TASK, encoding="utf-8")
    rows = notes_rows(train_root / "notes.csv")
    rows[1]["text"] = HOSTILE
    # the notes to label (no labels) and the labelled notes to train on (with labels)
    write_csv(root / "notes.csv", ["id", "text"], [[r["id"], r["text"]] for r in rows])
    write_csv(root / "labelled.csv", ["id", "text", "label"],
              [[r["id"], r["text"], r["label"]] for r in rows])
    bad = [[r["id"], r["text"]] for r in rows[:5]]
    bad[2][1] = "   "
    write_csv(root / "bad-notes.csv", ["id", "text"], bad)
    reports = [{"id": "echo-1", "text": "TTE vom 04.03.2024. LV-EF 35 %; LVEDV 147,5 ml. "
                "Rhythmus: Vorhofflimmern. Diagnosen: KHK."},
               {"id": "echo-2", "text": "MRT. EF 60 %. Sinusrhythmus."}]
    (root / "echo-notes.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                                   for r in reports), encoding="utf-8")
    answers = [{"lv_ef": 35, "lvedv_ml": 147.5, "rhythm": "Vorhofflimmern", "diagnoses": ["KHK"]},
               {"lv_ef": 60, "lvedv_ml": None, "rhythm": "Sinusrhythmus", "diagnoses": []}]
    (root / "echo-out.jsonl").write_text("".join(
        json.dumps({"id": r["id"], **a, "confidence": None, "status": "ok", "error": None,
                    "ms": 5}, ensure_ascii=False) + "\n" for r, a in zip(reports, answers,
                                                                        strict=True)),
        encoding="utf-8")
    shutil.copytree(model_dir, root / "models" / "tiny")
    shutil.copy(gguf, root / "tiny.gguf")
    write_output(root / "out.csv", rows)
    write_report_and_curve(root, rows)
    return root


def write_output(path: Path, rows: list[dict]) -> Path:
    """An extraction output: every fifth row an error, confidences spread out."""
    out = []
    for index, row in enumerate(rows):
        if index % 5 == 4:
            out.append([row["id"], "", "", "error", "no valid answer", 3])
        else:
            label = "PAIN" if index % 3 else "NO PAIN"
            out.append([row["id"], label, round(0.5 + (index % 9) / 20, 3), "ok", "", 3])
    return write_csv(path, ["id", "label", "confidence", "status", "error", "ms"], out)


def write_report_and_curve(root: Path, rows: list[dict]) -> None:
    from mlxmed.evaluate.compare import evaluate
    from mlxmed.evaluate.report import write_report
    from mlxmed.tasks import load_task

    report = evaluate(load_task(root / "task.yaml"), root / "out.csv", root / "labelled.csv")
    write_report(report, root / "reports" / "first")
    curve = {"task": str(root / "task.yaml"), "sizes": [0, 16, 32], "seeds": 1,
             "rows": [{"n": 0, "mean": 0.3, "sd": 0.0, "runs": 1, "metric": "macro_f1"},
                      {"n": 16, "mean": 0.45, "sd": 0.0, "runs": 1, "metric": "macro_f1",
                       "baselines": {"majority": 0.25, "tfidf_logreg": 0.5}},
                      {"n": 32, "mean": 0.6, "sd": 0.0, "runs": 1, "metric": "macro_f1"}],
             "points": []}
    (root / "curves" / "first").mkdir(parents=True)
    (root / "curves" / "first" / "curve.json").write_text(json.dumps(curve), encoding="utf-8")
