"""The demo pipeline that `make demo` runs, on the bundled model and the demo data."""

from __future__ import annotations

from pathlib import Path

from mlxmed import modelhub, paths

BUNDLED_MODEL = "smollm2-135m-bundled"
CLINICAL_QUESTION = "What are the typical symptoms of heart failure?"
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
SMOKING_TASK = EXAMPLES_DIR / "smoking" / "task.yaml"
SMOKING_NOTES = EXAMPLES_DIR / "smoking" / "notes.csv"


def ensure_bundled_model() -> Path:
    """The converted bundled model, converting it first if needed (no network)."""
    existing = paths.models_dir() / BUNDLED_MODEL
    if modelhub.is_converted(existing):
        return existing
    return modelhub.convert(BUNDLED_MODEL)


def ask(model_dir: Path, question: str, max_tokens: int = 80) -> str:
    """Answer one question with a converted model (greedy decoding, chat template applied)."""
    from mlx_lm import generate, load

    model, tokenizer = load(str(model_dir))
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                           add_generation_prompt=True, tokenize=False)
    return generate(model, tokenizer, prompt, max_tokens=max_tokens).strip()


def prepare_smoking_data(model_dir: Path) -> Path:
    """Check and split the smoking demo notes into the demo folder (kept between runs)."""
    from mlxmed.data import run_data

    out = paths.mlxmed_home() / "demo" / "smoking-data"
    if not (out / "summary.json").is_file():
        run_data(SMOKING_TASK, SMOKING_NOTES, out, model_dir=model_dir, force=True)
    return out


def zero_shot_examples(model_dir: Path, data_dir: Path, count: int = 3) -> list[dict]:
    """The base model's answers (with confidence) on the first test notes, next to the gold."""
    from mlxmed.scoring import evaluate_chats
    from mlxmed.tasks import load_task
    from mlxmed.train import read_chats

    chats = read_chats(data_dir / "test.jsonl")[:count]
    result = evaluate_chats(load_task(SMOKING_TASK), model_dir, chats)
    return [{"gold": chat[-1]["content"], "answer": p["text"], "confidence": p["confidence"],
             "note": chat[1]["content"].rsplit("\n\n", 1)[-1]}
            for chat, p in zip(chats, result["predictions"], strict=True)]
