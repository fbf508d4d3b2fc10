"""`mlxmed extract --ray`: the same rows as a local run from a Ray Data pipeline on a local Ray
(two workers, one thread each), nothing lost or repeated when a worker is killed midway,
--resume across engines, and Ray imported only when asked for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mlxmed.extract import iter_rows, run_extract
from mlxmed.tasks import load_task

TASK = "examples/smoking/task.yaml"
NOTES = 12  # of the demo's test split: about a minute per Ray run on a busy 2-core machine


def without_timing(rows) -> list[dict]:
    """Rows by id, without the time column (the only one allowed to differ), each cell as
    the CSV output writes it (JSONL and workbook cells hold numbers and None)."""
    return sorted(({k: "" if v is None else str(v) for k, v in row.items() if k != "ms"}
                   for row in rows), key=lambda row: row["id"])


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlxmed", *args], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"}, timeout=900)


@pytest.fixture(scope="module")
def notes(tmp_path_factory) -> Path:
    """The first notes of the demo's test split (the smoking notes split as `mlxmed data`
    splits them), with their gold label, which extraction does not read."""
    from mlxmed import demo
    from mlxmed.artifacts import PreparedData
    from mlxmed.data import run_data

    root = tmp_path_factory.mktemp("ray_notes")
    run_data(load_task(TASK), demo.SMOKING_NOTES, root / "data", sizes=())
    return demo.write_test_notes(PreparedData.open(root / "data"), root / "notes.jsonl", NOTES)


@pytest.fixture(scope="module")
def reference(notes, bundled_gguf, tmp_path_factory) -> Path:
    """Local extraction of the same notes: the rows every Ray run must match."""
    out = tmp_path_factory.mktemp("ray_reference") / "local.csv"
    run_extract(load_task(TASK), bundled_gguf, notes, out)
    return out


@pytest.fixture(scope="module")
def local_ray():
    """A private Ray on this computer with 2 CPUs, shared by the in-process tests (mlxmed
    uses a Ray the process already runs)."""
    from mlxmed.extract.ray_engine import connect

    started = connect(workers=2, threads=1)
    import ray

    yield ray
    if started:
        ray.shutdown()


def map_workers() -> list[int]:
    """Process ids of this test's Ray Data workers (children of the raylet this process
    started), so a Ray someone else runs on the machine is never touched."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
            parent = _parent(int(entry.name))
            grandparent = _parent(parent)
        except (OSError, ValueError):
            continue
        if title.startswith(b"ray::MapWorker") and grandparent == os.getpid():
            found.append(int(entry.name))
    return found


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.mark.slow
def test_ray_rows_equal_local_rows(notes, reference, local_ray, bundled_gguf, tmp_path):
    from mlxmed.extract.ray_engine import RayEngine

    assert local_ray.util.get_node_ip_address() == "127.0.0.1"  # loopback only
    out = tmp_path / "ray.csv"
    events: list[dict] = []
    summary = run_extract(load_task(TASK), bundled_gguf, notes, out, threads=1,
                          engine=RayEngine(workers=2), on_event=events.append)
    assert summary.written == NOTES and summary.errors == 0
    assert without_timing(iter_rows(out)) == without_timing(iter_rows(reference))
    assert [e["done"] for e in events if e["type"] == "row"] == list(range(1, NOTES + 1))


@pytest.mark.slow
def test_a_killed_worker_loses_and_repeats_no_row(notes, reference, local_ray, bundled_gguf,
                                                  tmp_path):
    from mlxmed.extract.ray_engine import RayEngine

    out = tmp_path / "killed.jsonl"
    killed: list[int] = []

    def kill_one_worker(event: dict) -> None:
        if event["type"] == "row" and event["done"] == 3 and not killed:
            workers = map_workers()
            assert workers, "no Ray Data worker found to kill"
            os.kill(workers[0], signal.SIGKILL)
            killed.append(workers[0])

    summary = run_extract(load_task(TASK), bundled_gguf, notes, out, threads=1,
                          engine=RayEngine(workers=2), on_event=kill_one_worker)
    assert killed and not Path(f"/proc/{killed[0]}").exists()
    ids = [row["id"] for row in iter_rows(out)]
    assert len(ids) == len(set(ids)) == NOTES == summary.written
    assert without_timing(iter_rows(out)) == without_timing(iter_rows(reference))


@pytest.mark.slow
def test_resume_with_ray_skips_finished_notes(notes, reference, bundled_gguf, tmp_path):
    """A local run's workbook of 5 notes, grown by `mlxmed extract --ray --resume` (the
    command line starting its own private Ray)."""
    out = tmp_path / "resumed.xlsx"
    run_extract(load_task(TASK), bundled_gguf, notes, out, limit=5)
    result = run_cli("extract", TASK, str(notes), "--model", str(bundled_gguf), "--out",
                     str(out), "--resume", "--ray", "--workers", "2", "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert f"Resuming: 5 of {NOTES}" in result.stdout and "Traceback" not in result.stderr
    ids = [row["id"] for row in iter_rows(out)]
    assert len(ids) == len(set(ids)) == NOTES
    assert without_timing(iter_rows(out)) == without_timing(iter_rows(reference))
    from openpyxl import load_workbook

    settings = dict(load_workbook(out)["settings"].iter_rows(values_only=True))
    assert settings["extraction engine"] == \
        "Ray on this computer: workers 2, threads per worker 1"


def test_without_ray_the_option_says_how_to_install_it(notes, tmp_path):
    out = tmp_path / "out.csv"
    code = ("import sys; sys.modules['ray'] = None; from mlxmed.cli import main; "
            f"sys.argv = ['mlxmed', 'extract', {TASK!r}, {str(notes)!r}, '--model', "
            f"{TASK!r}, '--out', {str(out)!r}, '--ray']; main()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: --ray needs Ray: pip install 'mlxmed[cluster]'"
    assert not out.exists()


def test_ray_is_imported_only_for_ray():
    code = ("import sys, mlxmed, mlxmed.extract, mlxmed.extract.ray_engine, mlxmed.cli, "
            "mlxmed.cli.extract; print(sorted(m for m in sys.modules if m.split('.')[0] == "
            "'ray'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(("options", "message"), [
    (["--workers", "2"], "--workers needs --ray"),
    (["--ray", "notes.csv"], "is not a Ray address"),
])
def test_ray_options_misused_are_one_line(notes, tmp_path, options, message):
    result = run_cli("extract", TASK, str(notes), "--model", TASK, "--out",
                     str(tmp_path / "out.csv"), *options)
    assert result.returncode != 0 and message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_rows_that_come_twice_are_written_once(tiny_models, tmp_path):
    """The writer's side of a retried batch, without Ray: an engine that hands back some rows
    a second time (and one of a note it was not given) still gives one row per note."""
    import contextlib

    notes = tmp_path / "notes.csv"
    notes.write_text("id,text\n" + "".join(f"n{i},Note {i}.\n" for i in range(4)))

    def row(note_id: str) -> dict:
        return {"id": note_id, "label": "UNKNOWN", "confidence": 0.5, "status": "ok",
                "error": None, "ms": 1, "_shortened": False, "_value": "UNKNOWN"}

    class Repeating:
        @contextlib.contextmanager
        def session(self, job):
            yield lambda todo: [row(r.id) for r in todo[:2]] + [row("n0"), row("other")] \
                + [row(r.id) for r in todo]

        def describe(self, job):
            return None

    out = tmp_path / "out.csv"
    summary = run_extract(load_task(TASK), tiny_models("llama", "Q8_0"), notes, out,
                          engine=Repeating())
    assert [r["id"] for r in iter_rows(out)] == ["n0", "n1", "n2", "n3"]
    assert summary.written == 4 and summary.labels == {"UNKNOWN": 4}
