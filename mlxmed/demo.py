"""The demo pipeline that `make demo` runs, on the bundled model and the demo data."""

from __future__ import annotations

from pathlib import Path

from mlxmed import modelhub, paths

BUNDLED_MODEL = "smollm2-135m-bundled"
CLINICAL_QUESTION = "What are the typical symptoms of heart failure?"


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
