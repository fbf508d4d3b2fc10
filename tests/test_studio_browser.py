"""The studio in a real browser (Debian's Chromium driven by Playwright): labelling with the
keyboard only, a training run's progress arriving as it runs, reviewing and correcting an
output, the reports, the one-line errors, and no request to anywhere but the server.

Screenshots of each page go to $MLXMED_TEST_ARTIFACTS (default: test-artifacts/)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from studio_workspace import HOSTILE

from mlxmed.errors import MlxmedError
from mlxmed.tasks import load_task

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="Chromium not installed (apt-get install chromium)")
# no background traffic of the browser's own (updates, sync, safe browsing)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("MLXMED_TEST_ARTIFACTS")
                 or Path(__file__).resolve().parents[1] / "test-artifacts")


@pytest.fixture(scope="module")
def browser(server):
    """One Chromium for the module, logged in once with the token; every request it makes
    and every console error (a CSP violation is one) is recorded."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)
    seen = {"requests": [], "errors": [], "dialogs": []}
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="studio-chromium-"), executable_path=CHROMIUM,
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 860})
        context.on("request", lambda request: seen["requests"].append(request.url))
        page = context.pages[0] if context.pages else context.new_page()
        page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
        page.on("pageerror", lambda error: seen["errors"].append(str(error)))
        page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message),
                                          dialog.dismiss()))
        page.goto(server.url)
        yield page, seen
        context.close()


@pytest.fixture
def page(browser, server):
    page, seen = browser
    seen["errors"].clear()
    yield page
    # a refused answer (400, shown in the page) is logged by the browser; nothing else may be
    problems = [e for e in seen["errors"] if "status of 400" not in e]
    assert problems == [], problems
    assert seen["dialogs"] == []  # no script from a note ever ran
    elsewhere = [url for url in seen["requests"] if not url.startswith(server.origin + "/")]
    assert elsewhere == []


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"studio-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def visit(page, server, hash_path: str) -> None:
    """A fresh load of a page (the same address twice would not render it again)."""
    page.goto("about:blank")
    page.goto(f"{server.origin}/{hash_path}")
    page.wait_for_selector("main h1")


def test_every_page_comes_from_the_server_alone(page, server, browser):
    from playwright.sync_api import expect

    _, seen = browser
    for name, heading in (("workspace", "Workspace"), ("label", "Label notes"),
                          ("train", "Train"), ("review", "Review extracted answers"),
                          ("reports", "Reports")):
        seen["requests"].clear()
        visit(page, server, f"#/{name}")
        expect(page.locator("main h1")).to_have_text(heading)
        page.wait_for_load_state("networkidle")
        assert seen["requests"], "the page made no request at all?"
        assert all(url.startswith(server.origin + "/") for url in seen["requests"])
        if name == "workspace":
            broken = page.locator("table[data-kind=task] tr", has_text="broken.yaml")
            with pytest.raises(MlxmedError) as expected:
                load_task(server.workspace / "broken.yaml")
            expect(broken).to_contain_text(str(expected.value))
            shot(page, "workspace")


def labels_in(path: Path) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["id"]: row["label"] for row in csv.DictReader(handle)}


def test_ten_notes_labelled_with_the_keyboard_only(page, server, workspace):
    from playwright.sync_api import expect

    labels = workspace / "labels" / "chest_pain--notes.csv"
    visit(page, server, "#/label?task=task.yaml&notes=notes.csv&model=tiny.gguf&autostart=1")
    progress, position = page.locator("#progress"), page.locator("#position")
    expect(position).to_have_text("Note 1 of 64")
    expect(page.locator(".suggestion")).to_contain_text("Model:")  # the GGUF's answer

    def answer(key: str, labelled: int) -> None:
        page.keyboard.press(key)
        page.keyboard.press("Enter")
        expect(progress).to_have_text(f"{labelled} of 64 labelled")

    answer("1", 1)                                       # n0 PAIN
    expect(page.locator("#note-text")).to_have_text(HOSTILE)  # shown as text, not run
    answer("2", 2)                                       # n1 NO PAIN
    expect(position).to_have_text("Note 3 of 64")
    page.keyboard.press("s")                             # skip n2
    expect(position).to_have_text("Note 4 of 64")
    answer("1", 3)                                       # n3 PAIN ...
    page.keyboard.press("u")                             # ... undone
    expect(progress).to_have_text("2 of 64 labelled")
    expect(position).to_have_text("Note 4 of 64")
    answer("2", 3)                                       # n3 NO PAIN
    for count, key in enumerate("121212", start=4):      # n4 .. n9
        answer(key, count)
    shot(page, "label")
    answer("1", 10)                                      # n10 PAIN
    expect(position).to_have_text("Note 12 of 64")
    page.keyboard.press("ArrowLeft")
    expect(position).to_have_text("Note 11 of 64")
    expect(page.locator("#saved")).to_have_text("saved: PAIN")
    page.keyboard.press("ArrowRight")
    expect(position).to_have_text("Note 12 of 64")
    expected = {"n0": "PAIN", "n1": "NO PAIN", "n3": "NO PAIN", "n4": "PAIN", "n5": "NO PAIN",
                "n6": "PAIN", "n7": "NO PAIN", "n8": "PAIN", "n9": "NO PAIN", "n10": "PAIN"}
    assert labels_in(labels) == expected


def test_an_extraction_form_saves_typed_values_and_refuses_bad_ones(page, server, workspace):
    from playwright.sync_api import expect

    visit(page, server, "#/label?task=echo.yaml&notes=echo-notes.jsonl&model=&autostart=1")
    page.wait_for_selector("#field-lv_ef")
    page.fill("#field-lv_ef", "150")
    page.keyboard.press("Enter")
    expect(page.locator("#error")).to_contain_text("lv_ef")
    assert "\n" not in page.locator("#error").inner_text().strip()
    page.fill("#field-lv_ef", "35")
    page.fill("#field-lvedv_ml", "147,5")
    page.select_option("#field-rhythm", label="Vorhofflimmern")
    page.get_by_label("KHK").check()
    page.locator("#field-lvedv_ml").press("Enter")
    expect(page.locator("#progress")).to_have_text("1 of 2 labelled")
    shot(page, "label-fields")
    saved = [json.loads(line) for line in
             (workspace / "labels" / "echo--echo-notes.jsonl").read_text().splitlines()]
    assert saved[0]["id"] == "echo-1" and saved[0]["gold"] == {
        "lv_ef": 35, "lvedv_ml": 147.5, "rhythm": "Vorhofflimmern", "diagnoses": ["KHK"]}


def test_a_training_run_shows_its_progress_as_it_runs(page, server, workspace):
    from playwright.sync_api import expect

    visit(page, server, "#/train")
    page.select_option("#task", "task.yaml")
    page.select_option("#labels", "labelled.csv")
    page.select_option("#model", "models/tiny")
    expect(page.locator("#setting-epochs")).not_to_have_value("")  # the catalogue default
    expect(page.locator("#setting-min_steps")).to_have_value("200")  # the default minimum
    page.fill("#setting-iters", "4")
    expect(page.locator("#setting-epochs")).to_have_value("")
    expect(page.locator("#setting-min_steps")).to_have_value("")  # 4 steps are the budget
    page.click("#start-training")
    expect(page.locator("#job-status")).to_have_text(re.compile("starting|running|finished"))
    expect(page.locator("#job-status")).to_have_text("finished", timeout=120_000)
    expect(page.locator("#job-step")).to_have_text("4 of 4")
    assert re.fullmatch(r"\d\.\d{3}", page.locator("#job-metric").inner_text())
    page.locator("#job details summary").click()
    relayed = page.locator("#event-log div")
    assert relayed.count() >= 2  # several messages arrived while it ran
    assert "done" in page.locator("#event-log").inner_text()
    assert page.locator("#job svg.chart").count() >= 1
    shot(page, "train")
    runs = [p for p in (workspace / "runs").iterdir() if (p / "run.json").is_file()]
    assert json.loads((runs[0] / "run.json").read_text())["status"] == "finished"


def test_an_output_is_filtered_and_a_correction_saved(page, server, workspace):
    from playwright.sync_api import expect

    visit(page, server, "#/review")
    page.select_option("#output", "out.csv")
    page.select_option("#task", "task.yaml")
    page.select_option("#model", "tiny.gguf")
    page.click("#open-review")
    summary = page.locator("#review-summary")
    expect(summary).to_contain_text("64 of 64 rows match")
    page.select_option("#filter-value", "NO PAIN")
    expect(summary).to_contain_text("18 of 64 rows match")
    cells = page.locator("#rows tbody td:nth-child(2)").all_inner_texts()
    assert set(cells) == {"NO PAIN"}
    confidences = [float(c.rstrip("%")) for c in
                   page.locator("#rows tbody td:nth-child(3)").all_inner_texts()]
    assert confidences == sorted(confidences)  # least certain first
    first = page.locator("#rows tbody tr").first
    note_id = first.get_attribute("data-id")
    first.click()
    page.wait_for_selector("#review-note")
    page.click("#show-evidence")
    expect(page.locator("#evidence-line")).to_contain_text("Evidence for NO PAIN")
    page.keyboard.press("1")
    page.click("#save-correction")
    expect(summary).to_contain_text("1 reviewed")
    shot(page, "review")
    corrections = workspace / "labels" / "out--reviewed.csv"
    assert labels_in(corrections) == {note_id: "PAIN"}
    page.select_option("#filter-value", "")
    page.select_option("#filter-status", "error")
    expect(summary).to_contain_text("12 of 64 rows match")
    page.locator("#rows tbody tr").first.click()
    expect(page.locator("#accept")).to_be_disabled()  # no answer to accept


def test_extracted_values_are_marked_where_the_note_states_them(page, server, workspace):
    from playwright.sync_api import expect

    visit(page, server, "#/review")
    page.select_option("#output", "echo-out.jsonl")
    expect(page.locator("#task")).to_have_value("echo.yaml")  # matched by its columns
    page.click("#open-review")
    expect(page.locator("#review-summary")).to_contain_text("2 of 2 rows match")
    page.locator("#rows tbody tr").first.click()
    marks = page.locator("#review-note mark.field-mark")
    expect(marks).to_have_count(4)  # 35, 147,5, Vorhofflimmern, KHK
    assert marks.all_inner_texts() == ["35", "147,5", "Vorhofflimmern", "KHK"]
    expect(page.locator("#field-lvedv_ml")).to_have_value("147.5")
    page.fill("#field-lv_ef", "40")
    page.locator("#field-lv_ef").press("Enter")
    expect(page.locator("#review-summary")).to_contain_text("1 reviewed")
    shot(page, "review-fields")
    saved = (workspace / "labels" / "echo-out--reviewed.csv").read_text(encoding="utf-8")
    assert '"{""lv_ef"": 40, ""lvedv_ml"": 147.5' in saved


def test_the_reports_open_in_the_page(page, server):
    from playwright.sync_api import expect

    visit(page, server, "#/reports?path=reports/first")
    frame = page.frame_locator("#report-frame")
    expect(frame.locator("h1")).to_have_text("mlxmed evaluation: chest_pain")
    expect(frame.locator("img").first).to_be_visible()
    shot(page, "report")
    page.select_option("#report", "curves/first")
    expect(page.locator("#curve-table tbody tr")).to_have_count(3)
    expect(page.locator("#curve-table thead")).to_contain_text("TF-IDF + LR")
    expect(page.locator("#curve-table tbody tr").nth(1)).to_contain_text("0.500")
    expect(page.locator("#report-view svg.chart circle")).to_have_count(2)
    shot(page, "curve")


def test_bad_input_shows_the_one_line_error(page, server, workspace):
    from playwright.sync_api import expect

    visit(page, server, "#/label")
    page.select_option("#task", "broken.yaml")
    page.select_option("#notes", "notes.csv")
    page.click("#start-labelling")
    with pytest.raises(MlxmedError) as expected:
        load_task(workspace / "broken.yaml")
    expect(page.locator("#error")).to_have_text(str(expected.value))
    page.select_option("#task", "task.yaml")
    page.select_option("#notes", "bad-notes.csv")
    page.click("#start-labelling")
    expect(page.locator("#error")).to_have_text(
        "bad-notes.csv row 3, field 'text': empty note text; fill it in or remove the row")
    shot(page, "error")
