"""Notes where clinicians keep them: folders of .txt/.pdf/.docx/.rtf/.html files made by the
libraries that write them for real (reportlab, python-docx), Excel sheets written by openpyxl,
one normalisation for every format, files left out with their reason, damaged and locked
files as one line, a 500-page PDF in bounded memory, and OCR for a scanned PDF."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_bad_input import assert_one_line_error, run_cli

from mlxmed.data import run_data
from mlxmed.errors import MlxmedError
from mlxmed.inputs.documents import DocumentError, read_document
from mlxmed.inputs.normalise import normalise_text
from mlxmed.inputs.readers import read_notes
from mlxmed.inputs.records import DataError, validate_records
from mlxmed.tasks import load_task

TASK = "examples/smoking/task.yaml"
LABELS = ["CURRENT SMOKER", "PAST SMOKER", "NON-SMOKER", "UNKNOWN"]
FORMATS = ("txt", "pdf", "docx", "rtf", "html")

# One letter: lines, a table, a closing; the words carry umlauts, a euro sign, a hyphenated
# compound that the PDF breaks across lines, and a compound whose hyphen must stay.
OPENING = ["Arztbrief vom 3. März 2024", "Sehr geehrte Frau Kollegin,",
           "wir berichten über Herrn M., 67 Jahre, Zuzahlung 10 €.",
           "Diagnose: Herzinsuffizienz NYHA II, LV-Funktion mäßig eingeschränkt."]
TABLE = [["Wert", "Ergebnis"], ["LV-EF", "35 %"], ["TAPSE", "17 mm"]]
CLOSING = ["Raucher seit 40 Jahren.", "Mit freundlichen Grüßen", "Dr. Ö. Weiß"]


def letter_text(n: int) -> str:
    """The letter of note ``n`` as it should come out of every format."""
    lines = [*OPENING, *(" | ".join(row) for row in TABLE), f"Notiz Nummer {n}.", *CLOSING]
    return "\n".join(lines)


def write_txt(path: Path, n: int) -> None:
    """The .txt original: CRLF line ends, trailing spaces, a non-breaking space, a blank-line
    run at the end (all removed by the normalisation)."""
    text = letter_text(n).replace("35 %", "35\u00a0%").replace("\n", "  \r\n")
    path.write_bytes((text + "\r\n\r\n\r\n").encode("utf-8"))


def write_pdf(path: Path, n: int) -> None:
    """A PDF drawn line by line with reportlab, with "Herzinsuffizienz" hyphenated across
    two lines as a word processor breaks it (a compound broken at its own hyphen, such as
    "LV-Funktion", keeps the hyphen and the line break: see the normalisation test)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    lines = letter_text(n).split("\n")
    diagnosis = lines.index(OPENING[3])
    lines[diagnosis:diagnosis + 1] = ["Diagnose: Herz-",
                                      "insuffizienz NYHA II, LV-Funktion mäßig eingeschränkt."]
    pdf = canvas.Canvas(str(path), pagesize=A4)
    y = 800
    for line in lines:
        pdf.drawString(60, y, line)
        y -= 16
    pdf.showPage()
    pdf.save()


def write_docx(path: Path, n: int) -> None:
    import docx

    document = docx.Document()
    for line in OPENING:
        document.add_paragraph(line)
    table = document.add_table(rows=len(TABLE), cols=2)
    for r, row in enumerate(TABLE):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    for line in [f"Notiz Nummer {n}.", *CLOSING]:
        document.add_paragraph(line)
    document.save(str(path))


def rtf_escape(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if code < 128:
            out.append(char)
        elif code < 256:
            out.append(f"\\'{code:02x}")
        else:
            out.append(f"\\u{code}?")
    return "".join(out)


def write_rtf(path: Path, n: int) -> None:
    body = "\\par\n".join(rtf_escape(line) for line in letter_text(n).split("\n"))
    path.write_text("{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Arial;}}\n"
                    f"\\f0\\fs22 {body}\\par\n}}", encoding="ascii")


def write_html(path: Path, n: int) -> None:
    import html

    def div(line: str) -> str:
        return f"  <div>{html.escape(line)}</div>\n"

    rows = "".join("    <tr>" + "".join(f"<td> {html.escape(c)} </td>" for c in row)
                   + "</tr>\n" for row in TABLE)
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Brief</title>\n"
            "<style>div { margin: 0 }</style><script>var x = '<div>not text</div>';</script>"
            "</head>\n<body>\n" + "".join(div(line) for line in OPENING)
            + f"  <table>\n{rows}  </table>\n"
            + "".join(div(line) for line in [f"Notiz Nummer {n}.", *CLOSING])
            + "</body></html>\n")
    path.write_text(page.replace("März", "M&auml;rz").replace("35 %", "35&nbsp;%"),
                    encoding="utf-8")


WRITERS = {"txt": write_txt, "pdf": write_pdf, "docx": write_docx, "rtf": write_rtf,
           "html": write_html}


def scanned_pdf(path: Path, text: str = "") -> None:
    """A PDF with no text layer: a page image only (``text`` drawn into the image)."""
    from PIL import Image, ImageDraw, ImageFont
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    image = Image.new("L", (1700, 600), 255)
    if text:
        font = ImageFont.load_default(size=56)
        for i, line in enumerate(text.split("\n")):
            ImageDraw.Draw(image).text((60, 60 + 90 * i), line, fill=0, font=font)
    pdf = canvas.Canvas(str(path))
    pdf.drawImage(ImageReader(image), 20, 500, 566, 200)
    pdf.showPage()
    pdf.save()


def mixed_folder(folder: Path, notes: int = 25) -> dict[str, str]:
    """``notes`` letters cycling through the formats, plus files that are not notes; returns
    id -> expected text."""
    folder.mkdir()
    expected = {}
    for n in range(notes):
        kind = FORMATS[n % len(FORMATS)]
        note_id = f"{kind}{n:02d}"
        WRITERS[kind](folder / f"{note_id}.{kind}", n)
        expected[note_id] = letter_text(n)
    scanned_pdf(folder / "scan.pdf")
    (folder / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old Word")
    (folder / "~$docx00.docx").write_bytes(b"lock")
    (folder / ".DS_Store").write_bytes(b"\0")
    return expected


# ----- the normalisation -----------------------------------------------------------------
def test_normalisation_rules():
    assert normalise_text("a\r\nb\rc") == "a\nb\nc"
    assert normalise_text("35\u00a0%\u2009mg\u202fx\u3000y") == "35 % mg x y"
    assert normalise_text("zero\u200bwidth\u00adsoft\ufeff") == "zerowidthsoft"
    assert normalise_text("\n\nline  \t\nnext\n\n\n\n\nlast\n\n") == "line\nnext\n\nlast"
    pdf = "Herz-\ninsuffizienz, LV-\nFunktion, Typ-\n2, Nieren\u00ad\nfunktion, 10-\n20 mg"
    assert normalise_text(pdf, join_hyphens=True) == \
        "Herzinsuffizienz, LV-\nFunktion, Typ-\n2, Nierenfunktion, 10-\n20 mg"
    assert normalise_text("Herz-\ninsuffizienz") == "Herz-\ninsuffizienz"  # only in PDFs


# ----- a folder of mixed formats -------------------------------------------------------------
def test_every_format_gives_the_text_of_the_original(tmp_path):
    expected = mixed_folder(tmp_path / "notes")
    read = read_notes(tmp_path / "notes", ["id", "text"])
    assert read.problems == []
    got = {r.id: r.data["text"] for r in read.records}
    for note_id, text in expected.items():
        assert got[note_id] == text, note_id
    assert read.formats == {kind: 5 for kind in FORMATS}
    reasons = {item.file: item.reason for item in read.left_out}
    assert sorted(reasons) == ["old.doc", "scan.pdf", "~$docx00.docx"]
    assert reasons["old.doc"] == "unsupported file type .doc; save it as .docx"
    assert reasons["scan.pdf"].startswith("scanned PDF without a text layer; rerun with --ocr")
    assert "Office lock file" in reasons["~$docx00.docx"]
    assert read.format == "folder" and len(read.sha256) == 64


def test_mlxmed_data_counts_formats_and_lists_what_was_left_out(tmp_path):
    folder = tmp_path / "notes"
    expected = mixed_folder(folder)
    rows = ["id,smoking_status", *(f"{note_id},{LABELS[i % 4]}"
                                   for i, note_id in enumerate(expected))]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    out = tmp_path / "out"
    result = run_cli("data", TASK, folder, "--out", out, "--sizes", "5")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "Notes read: 25 (docx 5, html 5, pdf 5, rtf 5, txt 5)" in text
    assert "3 file(s) in the folder were left out: old.doc (unsupported file type .doc; " \
           "save it as .docx); scan.pdf (scanned PDF without a text layer; rerun with --ocr" \
        in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["formats"] == {kind: 5 for kind in FORMATS}
    assert summary["input"]["skipped_files"] == ["old.doc", "scan.pdf", "~$docx00.docx"]
    assert summary["input"]["left_out"][1]["reason"].startswith("scanned PDF")
    records = [json.loads(line) for split in ("train", "valid", "test")
               for line in (out / "records" / f"{split}.jsonl").read_text().splitlines()]
    assert {r["id"]: r["text"] for r in records} == expected
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # inputs untouched


def test_a_wrapped_pdf_paragraph_keeps_its_words(tmp_path):
    """A paragraph that reportlab's layout engine wraps: the line breaks fall where the
    layout put them, but not a word is lost, split or glued."""
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    words = ("Der Patient stellte sich mit zunehmender Belastungsdyspnoe und Unterschenkelödemen "
             "vor; echokardiographisch zeigte sich eine hochgradig eingeschränkte "
             "linksventrikuläre Pumpfunktion bei dilatativer Kardiomyopathie. ") * 6
    path = tmp_path / "wrapped.pdf"
    SimpleDocTemplate(str(path)).build([Paragraph(words, getSampleStyleSheet()["Normal"])])
    text = read_document(path).text
    assert text.count("\n") >= 5  # wrapped into lines
    assert text.split() == words.split()


def test_two_files_with_one_id_are_a_problem(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    write_txt(folder / "p1.txt", 1)
    write_docx(folder / "p1.docx", 1)
    read = read_notes(folder, ["id", "text"])
    assert read.problems == [f"{folder / 'p1.docx'} and p1.txt: two notes with the id 'p1'; "
                             "keep one of them in the folder"]


def test_html_drops_scripts_styles_and_head_and_honours_its_charset(tmp_path):
    page = ("<html><head><meta http-equiv='Content-Type' content='text/html; "
            "charset=windows-1252'><title>Kopf</title></head><body><h1>Befund</h1>"
            "<p>Gr\xf6\xdfe &amp; Gewicht<br>normal</p><script>alert(1)</script>"
            "<ul><li>eins</li><li>zwei</li></ul><style>p{}</style></body></html>")
    path = tmp_path / "n.htm"
    path.write_bytes(page.encode("cp1252"))
    assert read_document(path).text == "Befund\n\nGröße & Gewicht\nnormal\n\neins\nzwei"


# ----- damaged and locked files ----------------------------------------------------------------
def locked_pdf(path: Path, user_password: str) -> None:
    from pypdf import PdfReader, PdfWriter

    source = path.with_suffix(".plain.pdf")
    write_pdf(source, 1)
    writer = PdfWriter()
    for page in PdfReader(source).pages:
        writer.add_page(page)
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
    writer.write(path)
    source.unlink()


@pytest.mark.parametrize(("name", "make", "fragment"), [
    ("cut.pdf", lambda p: (write_pdf(p, 1), p.write_bytes(p.read_bytes()[:600])),
     "not a readable PDF"),
    ("garbage.pdf", lambda p: p.write_bytes(b"%PDF-1.7\n\x00\x01 not really"),
     "not a readable PDF"),
    ("locked.pdf", lambda p: locked_pdf(p, "secret"), "the PDF is password-protected"),
    ("cut.docx", lambda p: (write_docx(p, 1), p.write_bytes(p.read_bytes()[:900])),
     "not a readable Word .docx file"),
    ("locked.docx", lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600),
     "password-protected or old-format (.doc) Word file"),
    ("notrtf.rtf", lambda p: p.write_text("plain text"), "not an RTF file"),
])
def test_a_damaged_or_locked_file_is_one_line_naming_it(tmp_path, name, make, fragment):
    path = tmp_path / name
    make(path)
    before = path.read_bytes()
    with pytest.raises(DocumentError) as info:
        read_document(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)) and fragment in message
    assert "; " in message  # ... and what to do
    assert path.read_bytes() == before


def test_a_pdf_with_only_an_owner_password_is_read(tmp_path):
    """Record systems often restrict printing with an owner password; no password is
    needed to read such a file."""
    path = tmp_path / "restricted.pdf"
    locked_pdf(path, "")
    assert read_document(path).text == letter_text(1)


def test_the_cli_names_a_locked_pdf_in_one_line(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    for n in range(3):
        write_txt(folder / f"n{n}.txt", n)
    locked_pdf(folder / "locked.pdf", "secret")
    (folder / "labels.csv").write_text("id,smoking_status\nn0,UNKNOWN\nn1,UNKNOWN\n"
                                       "n2,UNKNOWN\nlocked,UNKNOWN\n")
    out = tmp_path / "out"
    assert_one_line_error(run_cli("data", TASK, folder, "--out", out), "locked.pdf",
                          "password-protected")
    assert not out.exists()


# ----- Excel sheets ------------------------------------------------------------------------------
def notes_workbook(path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "Info"
    book.active.append(["exported", "2024-03-01"])
    sheet = book.create_sheet("Notes")
    sheet.append(["id", "text", "smoking_status"])
    for i in range(24):
        sheet.append([100 + i, f"Note {i}. Stable.\nSecond line.", LABELS[i % 4]])
    sheet.append([])  # an empty row in the middle is skipped
    sheet.append([200, "Late note.", "NON-SMOKER"])
    book.save(path)


def test_an_excel_sheet_is_read_like_a_csv(tmp_path):
    path = tmp_path / "notes.xlsx"
    notes_workbook(path)
    task = load_task(TASK)
    read = read_notes(path, task.required_columns(), sheet="Notes")
    records = validate_records(task, read)
    assert [r.id for r in records][:2] == ["100", "101"] and records[-1].id == "200"
    assert records[0].text == "Note 0. Stable.\nSecond line." and records[1].gold == LABELS[1]
    assert records[-1].where == "notes.xlsx sheet 'Notes' row 27"
    assert read.format == "xlsx" and read.sheet == "Notes"
    with pytest.raises(MlxmedError, match=r"sheet 'Info' header \(row 1\): missing column\(s\) "
                                          r"'text', 'id', 'smoking_status'"):
        read_notes(path, task.required_columns())  # the first sheet by default
    with pytest.raises(MlxmedError, match=r"no sheet 'Labels'; the sheets are 'Info', 'Notes'; "
                                          r"pass one of them to --sheet"):
        read_notes(path, task.required_columns(), sheet="Labels")
    with pytest.raises(MlxmedError, match="only an Excel"):
        read_notes(tmp_path, task.required_columns(), sheet="Notes")


def test_excel_problems_name_the_sheet_row_and_cell(tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "notes.xlsx"
    notes_workbook(path)
    book = load_workbook(path)
    sheet = book["Notes"]
    sheet["C17"] = "SMOKES"
    sheet["B5"] = "   "
    sheet["A10"] = 107  # row 9 holds id 107 already
    sheet["E12"] = "stray"
    book.save(path)
    before = path.read_bytes()
    task = load_task(TASK)
    with pytest.raises(DataError) as info:
        validate_records(task, read_notes(path, task.required_columns(), sheet="Notes"))
    problems = info.value.problems
    assert "notes.xlsx sheet 'Notes' row 12 (cell E12): a value in a column without a header " \
           "(header row 1); give the column a name or clear the cell" in problems
    assert "notes.xlsx sheet 'Notes' row 5 (cell B5), field 'text': empty note text; fill it " \
           "in or remove the row" in problems
    assert "notes.xlsx sheet 'Notes' row 17 (cell C17), field 'smoking_status': unknown label " \
           "'SMOKES'; allowed: CURRENT SMOKER, PAST SMOKER, SMOKER, NON-SMOKER, UNKNOWN" in problems
    assert any(p.startswith("notes.xlsx sheet 'Notes' row 10 (cell A10), field 'id': duplicate "
                            "id '107' (first seen at notes.xlsx sheet 'Notes' row 9)")
               for p in problems)
    assert len(problems) == 4
    assert path.read_bytes() == before


def test_mlxmed_data_reads_a_sheet(tmp_path):
    path = tmp_path / "notes.xlsx"
    notes_workbook(path)
    out = tmp_path / "out"
    result = run_cli("data", TASK, path, "--sheet", "Notes", "--out", out, "--sizes", "5")
    assert result.returncode == 0, result.stderr
    assert "Notes read: 25 from" in result.stdout and "sheet 'Notes'" in result.stdout
    assert json.loads((out / "summary.json").read_text())["input"]["sheet"] == "Notes"
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(path.read_bytes()[:700])
    assert_one_line_error(run_cli("data", TASK, broken, "--out", tmp_path / "o2"),
                          "broken.xlsx", "not a readable Excel workbook")
    locked = tmp_path / "locked.xlsx"
    locked.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    assert_one_line_error(run_cli("data", TASK, locked, "--out", tmp_path / "o3"),
                          "locked.xlsx", "password-protected")


# ----- a 500-page PDF -------------------------------------------------------------------------
MEMORY_PROBE = """
import sys
from pathlib import Path
from mlxmed.inputs.documents import read_document

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

read_document(Path(sys.argv[2]))  # warm-up: every import done
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # reset the peak resident set size (VmHWM) to the current one
before = status("VmRSS")
text = read_document(Path(sys.argv[1])).text
print(len(text), text.count("Seite"), status("VmHWM") - before)
"""


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK),
                    reason="measures the peak RSS with Linux's /proc/self/clear_refs")
def test_a_500_page_pdf_is_read_in_bounded_memory(tmp_path):
    """Each page carries a different incompressible image (as a scanned-in attachment would):
    the file is ~16 MB, its text 0.3 MB. Read page by page, the peak RSS grows by ~5 MB;
    holding the file, or every parsed page (pypdf's default), takes more than the file
    (23 MB measured with the page objects kept)."""
    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    rng = __import__("random").Random(0)
    path = tmp_path / "big.pdf"
    pdf = canvas.Canvas(str(path))
    for page in range(500):
        noise = Image.frombytes("RGB", (90, 90), rng.randbytes(90 * 90 * 3))
        pdf.drawImage(ImageReader(noise), 300, 100, 90, 90)
        for line in range(10):
            pdf.drawString(40, 800 - 18 * line, f"Seite {page} Zeile {line}: Befund unauffällig, "
                                                f"Kontrolle in drei Monaten.")
        pdf.showPage()
    pdf.save()
    small = tmp_path / "small.pdf"
    write_pdf(small, 0)
    size = path.stat().st_size
    assert size > 15e6
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path), str(small)],
                            capture_output=True, text=True, timeout=300, env={**os.environ})
    assert result.returncode == 0, result.stderr
    chars, pages, growth = map(int, result.stdout.split())
    print(f"500-page PDF: {size / 1e6:.1f} MB file, {chars / 1e6:.2f} M characters, peak RSS "
          f"grew {growth / 1e6:.1f} MB")
    assert pages == 5000
    assert growth < 10e6


# ----- OCR ------------------------------------------------------------------------------------
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                                     reason="tesseract is not installed (apt-get install "
                                            "tesseract-ocr tesseract-ocr-deu)")


@needs_tesseract
def test_ocr_reads_a_scanned_pdf_and_says_so(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    scanned_pdf(folder / "scan.pdf", "Patient smokes 20 cigarettes daily.\nHeart failure.")
    write_txt(folder / "typed.txt", 1)
    plain = read_notes(folder, ["id", "text"])
    assert [r.id for r in plain.records] == ["typed"] and plain.skipped == ["scan.pdf"]
    read = read_notes(folder, ["id", "text"], ocr="eng")
    texts = {r.id: r.data["text"] for r in read.records}
    assert "smokes 20 cigarettes daily" in texts["scan"] and "Heart failure" in texts["scan"]
    assert read.ocr == ["scan.pdf"] and read.formats == {"pdf": 1, "txt": 1}


@needs_tesseract
def test_data_lists_the_notes_read_by_ocr(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    rows = ["id,smoking_status"]
    for n in range(23):
        write_txt(folder / f"n{n:02d}.txt", n)
        rows.append(f"n{n:02d},{LABELS[n % 4]}")
    scanned_pdf(folder / "scan.pdf", "Never smoked.")
    rows.append("scan,NON-SMOKER")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    prepared = run_data(load_task(TASK), folder, tmp_path / "out", sizes=(), ocr=True)
    assert prepared.summary["input"]["ocr"] == ["scan.pdf"]
    assert any("1 note(s) were read by OCR, which makes mistakes; check them: scan.pdf" in note
               for note in prepared.summary["notes"])
