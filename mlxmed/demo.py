"""The demo pipeline that `make demo` runs, on the bundled model and the demo data."""

from __future__ import annotations

from pathlib import Path

from mlxmed import paths
from mlxmed.artifacts import ModelDir, PreparedData, Run
from mlxmed.artifacts.ownership import output_marker
from mlxmed.models import hub
from mlxmed.tasks import ClassificationTask, load_task

BUNDLED_MODEL = "smollm2-135m-bundled"
CLINICAL_QUESTION = "What are the typical symptoms of heart failure?"
EXAMPLES_DIR = paths.examples_dir()
SMOKING_TASK = EXAMPLES_DIR / "smoking" / "task.yaml"
SMOKING_NOTES = EXAMPLES_DIR / "smoking" / "notes.csv"


def smoking_task() -> ClassificationTask:
    task = load_task(SMOKING_TASK)
    assert isinstance(task, ClassificationTask)
    return task


def ensure_bundled_model() -> ModelDir:
    """The converted bundled model, converting it first if needed (no network)."""
    existing = paths.models_dir() / BUNDLED_MODEL
    if ModelDir.is_converted(existing):
        return ModelDir(existing)
    return hub.convert(BUNDLED_MODEL)


def ask(model_dir: ModelDir, question: str, max_tokens: int = 80) -> str:
    """Answer one question with a converted model (greedy decoding, chat template applied)."""
    from mlx_lm import generate, load

    model, tokenizer = load(str(model_dir.path))
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                           add_generation_prompt=True, tokenize=False)
    return generate(model, tokenizer, prompt, max_tokens=max_tokens).strip()


def prepare_smoking_data(model_dir: ModelDir) -> PreparedData:
    """Check and split the smoking demo notes into the demo folder (kept between runs while
    the task stays the same)."""
    from mlxmed.data import run_data

    out = paths.mlxmed_home() / "demo" / "smoking-data"
    task = smoking_task()
    if PreparedData(out).task_hash != task.spec_hash():
        run_data(task, SMOKING_NOTES, out, model_dir=model_dir, force=True)
    return PreparedData.open(out)


# The catalogue's defaults (LoRA parameters and the minimum of 300 steps) on 100 notes, as
# `mlxmed train` would run them; only validation is trimmed (30 notes, once per epoch) so the
# demo spends its time training.
DEMO_TRAIN = {"val_limit": 30, "evals_per_epoch": 1}
DEMO_TRAIN_SUBSET = 100
DEMO_TEST_NOTES = 100


def demo_workdir() -> Path:
    return paths.mlxmed_home() / "demo"


def train_demo(model_dir: ModelDir, data: PreparedData, on_event=None):
    """A short LoRA run on a learning-curve subset of the smoking notes (fresh each time)."""
    import shutil

    from mlxmed.training import TrainSettings, train

    run_dir = demo_workdir() / "run"
    shutil.rmtree(run_dir, ignore_errors=True)  # the demo's own folder under MLXMED_HOME
    return train(smoking_task(), model_dir, data, run_dir, TrainSettings(**DEMO_TRAIN),
                 train_file=data.subset_path(DEMO_TRAIN_SUBSET), on_event=on_event)


def export_models(run_dir: Path, model_dir: ModelDir) -> tuple[Path, Path]:
    """The fine-tuned model and, for the zero-shot comparison, the base model, both Q8_0."""
    from mlxmed.export import base_gguf, export_run
    from mlxmed.inference.llama_runtime import quantize_gguf

    tuned = export_run(Run.open(run_dir), "Q8_0",
                       out=demo_workdir() / "smoking-lora-q8_0.gguf", verify=False).path
    base = demo_workdir() / "base-q8_0.gguf"
    if not base.is_file():
        f16 = base_gguf(model_dir, demo_workdir() / "base-f16.gguf")
        quantize_gguf(f16, base, "Q8_0")
        f16.unlink()
    return tuned, base


def demo_test_notes(data: PreparedData) -> Path:
    """The first demo test notes with their gold label, in the task's own columns."""
    return write_test_notes(data, demo_workdir() / "test-notes.jsonl", DEMO_TEST_NOTES)


def write_test_notes(data: PreparedData, out: Path, count: int) -> Path:
    """The first ``count`` test notes of a smoking-demo data folder with their gold label, in
    the task's own columns (JSONL), as `extract` and `evaluate` read them."""
    import json

    task = smoking_task()
    rows = data.records("test")[:count]
    out.write_text("".join(json.dumps({task.id_field: r["id"], task.text_field: r["text"],
                                       task.label_field: r["gold"]}) + "\n" for r in rows),
                   encoding="utf-8")
    return out


def extract_and_evaluate(gguf_path: Path, test_notes: Path, name: str, on_event=None) -> dict:
    """Extract the demo test notes with a GGUF model and evaluate against their gold."""
    from mlxmed.evaluate.compare import evaluate
    from mlxmed.evaluate.report import write_report
    from mlxmed.extract import run_extract

    task = smoking_task()
    out = demo_workdir() / f"{name}-predictions.csv"
    out.unlink(missing_ok=True)  # the demo's own output of an earlier run, and its marker
    output_marker(out).unlink(missing_ok=True)
    run_extract(task, gguf_path, test_notes, out, on_event=on_event)
    report = evaluate(task, out, test_notes)
    report["report_html"] = str(write_report(report, demo_workdir() / f"{name}-report"))
    return report
