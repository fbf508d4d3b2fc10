"""Extraction speed: `mlxmed extract` against a naive chat-completion loop and against
llama.cpp's own time for the work that cannot be avoided, each in a clean process, on the
smoking test split with a trained model (label scoring) and on German cardiology reports with
the base model (JSON decoding under the schema)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench_common import HERE, emit, last_json, run_child

from mlxmed import demo
from mlxmed.artifacts import ModelDir, PreparedData, Run
from mlxmed.data import run_data
from mlxmed.export import base_gguf, export_run
from mlxmed.extract import iter_rows
from mlxmed.inference.labels import branch_points, common_prefix
from mlxmed.inference.llama_predictor import LlamaPredictor
from mlxmed.inference.llama_runtime import default_threads, quantize_gguf
from mlxmed.inference.schema_decoding import SchemaDecoder
from mlxmed.tasks import load_task

CARDIO_NOTES = 30


def extract_child(task_file: Path, gguf: Path, notes_file: Path, out: Path) -> dict:
    command = [sys.executable, "-m", "mlxmed", "extract", str(task_file), str(notes_file),
               "--model", str(gguf), "--out", str(out)]
    wall, rss, _ = run_child(command)
    rows = list(iter_rows(out))
    return {"rows": rows, "wall_seconds": wall, "peak_rss_gb": rss,
            "seconds_per_note": [float(r["ms"]) / 1000 for r in rows]}


def naive_child(task, gguf: Path, messages: list, work: Path, max_tokens: int) -> dict:
    plan = work / "naive.json"
    plan.write_text(json.dumps({"gguf": str(gguf), "n_ctx": task.max_seq_length + 256,
                                "threads": default_threads(), "grammar": task.grammar(),
                                "max_tokens": max_tokens, "notes": messages}))
    wall, rss, output = run_child([sys.executable, str(HERE / "naive_extract.py"), str(plan)])
    return {**last_json(output), "wall_seconds": wall}


def ceiling_child(task, gguf: Path, notes: list[dict], work: Path) -> dict:
    plan = work / "ceiling.json"
    plan.write_text(json.dumps({"gguf": str(gguf), "n_ctx": task.max_seq_length + 256,
                                "threads": default_threads(), **notes_plan(notes)}))
    _, _, output = run_child([sys.executable, str(HERE / "llama_ceiling.py"), str(plan)])
    return last_json(output)


def notes_plan(notes: list[dict]) -> dict:
    prefix = notes[0]["prefix"]
    return {"prefix": prefix, "notes": [{"suffix": n["prompt"][len(prefix):],
                                         "passes": n["passes"]} for n in notes]}


def classification_work(task, gguf: Path, messages: list) -> list[dict]:
    """Per note: the prompt ids, the shared prefix, and the label tokens mlxmed evaluates
    beyond the prompt (only where labels share their first tokens)."""
    predictor = LlamaPredictor(task, gguf, n_ctx=task.max_seq_length + 256)
    chat = predictor.chat
    empty = chat.prompt_ids(task.messages(""))
    label_ids = [chat.answer_ids(messages[0], label) for label in task.label_names]
    extra = sorted({token for prefix in branch_points(label_ids) for token in prefix})
    work = []
    for m in messages:
        prompt = chat.prompt_ids(m)
        shared = max(0, common_prefix(empty, prompt) - 2)
        work.append({"prompt": prompt, "prefix": prompt[:shared],
                     "passes": [[token] for token in extra]})
    return work


class RecordingEngine:
    """An engine that passes everything on and keeps the answer's passes in order: each
    decoded token alone, each run of forced tokens that was kept as one batch (tokens fed and
    then taken back are dropped: that is mlxmed's own extra work, not the task's)."""

    def __init__(self, engine) -> None:
        self.engine, self.passes = engine, []

    def start(self, prompt):
        self.passes = []
        return self.engine.start(prompt)

    def feed(self, tokens):
        self.passes.append(list(tokens))
        return self.engine.feed(tokens)

    def rewind(self, count: int) -> None:
        self.passes[-1] = self.passes[-1][: len(self.passes[-1]) - count]
        if not self.passes[-1]:
            self.passes.pop()
        self.engine.rewind(count)


def extraction_work(task, gguf: Path, messages: list) -> tuple[list[dict], list]:
    """Per note: the prompt, the shared prefix and the answer's passes in the order mlxmed
    makes them (one per decoded token, one per kept run of forced tokens: a value must be
    decoded before the text that follows it can be fed), and mlxmed's answers."""
    predictor = LlamaPredictor(task, gguf, n_ctx=task.max_seq_length + 256)
    chat = predictor.chat
    empty = chat.prompt_ids(task.messages(""))
    decoder = SchemaDecoder(task.answer_pattern, predictor.token_pieces(),
                            chat.end_of_turn_id(), chat.encode)
    work, answers = [], []
    for m in messages:
        prompt = chat.prompt_ids(m)
        engine = RecordingEngine(predictor.engine())
        decoded = decoder.decode(engine, prompt, predictor.max_tokens)
        shared = max(0, common_prefix(empty, prompt) - 2)
        work.append({"prompt": prompt, "prefix": prompt[:shared], "passes": engine.passes,
                     "forced": decoded.checked, "decoded": decoded.generated - decoded.checked})
        answers.append(decoded.text)
    return work, answers


def fraction(ceiling: list[float], ours: list[float]) -> float:
    """The ceiling's share of mlxmed's time from the second note on (the first also fills the
    cache of the shared instruction, which the ceiling takes as free)."""
    return sum(ceiling[1:]) / sum(ours[1:])


def smoking_extraction(model: ModelDir, work: Path, count: int, run_dir: str | None) -> dict:
    task = demo.smoking_task()
    data = PreparedData.open(work / "focus" / "data") if (work / "focus" / "data").is_dir() \
        else run_data(task, demo.SMOKING_NOTES, work / "smoke-data", sizes=(),
                      model_dir=model).folder
    if run_dir is None:  # --only extraction: train the default recipe here
        from mlxmed.training import train

        run_dir = str(train(task, model, data, work / "trained").run_dir)
    gguf = export_run(Run.open(run_dir), "Q8_0", out=work / "trained-q8_0.gguf",
                      verify=False).path
    records = data.records("test")[: count or None]
    notes_file = work / "smoking-test.jsonl"
    notes_file.write_text("".join(json.dumps({task.id_field: r["id"],
                                              task.text_field: r["text"]}) + "\n"
                                  for r in records))
    ours = extract_child(Path(task.source), gguf, notes_file, work / "smoking-out.csv")
    messages = [task.messages(task.note_text(r["text"])) for r in records]
    naive = naive_child(task, gguf, messages, work, 16)
    ceiling = ceiling_child(task, gguf, classification_work(task, gguf, messages), work)
    labels = [r["label"] for r in ours["rows"]]
    same = sum(a == b for a, b in zip(labels, naive["answers"], strict=True))
    seconds = ours["seconds_per_note"]
    return {"notes": len(records), "model": "trained (default recipe, 50 notes), Q8_0",
            "mlxmed_notes_per_second": len(records) / sum(seconds),
            "mlxmed_seconds": sum(seconds), "mlxmed_first_note_seconds": seconds[0],
            "naive_seconds": sum(naive["seconds_per_note"]),
            "ceiling_seconds": sum(ceiling["seconds_per_note"]),
            "ratio_mlxmed_vs_naive_speed": sum(naive["seconds_per_note"]) / sum(seconds),
            "fraction_of_ceiling": fraction(ceiling["seconds_per_note"], seconds),
            "same_labels_as_naive": same / len(records),
            "distinct_labels": len(set(labels)), "peak_rss_gb": ours["peak_rss_gb"]}


def cardio_extraction(model: ModelDir, work: Path) -> dict:
    task = load_task(demo.EXAMPLES_DIR / "cardio_de" / "task.yaml")
    f16 = base_gguf(model, work / "base-f16.gguf")
    gguf = work / "base-q8_0.gguf"
    quantize_gguf(f16, gguf, "Q8_0")
    records = [json.loads(line) for line in (demo.EXAMPLES_DIR / "cardio_de" / "reports.jsonl")
               .read_text(encoding="utf-8").splitlines()][:CARDIO_NOTES]
    notes_file = work / "cardio.jsonl"
    notes_file.write_text("".join(json.dumps({"id": r["id"], "text": r["text"]},
                                             ensure_ascii=False) + "\n" for r in records))
    ours = extract_child(Path(task.source), gguf, notes_file, work / "cardio-out.jsonl")
    messages = [task.messages(r["text"]) for r in records]
    naive = naive_child(task, gguf, messages, work, 256)
    plan, answers = extraction_work(task, gguf, messages)
    ceiling = ceiling_child(task, gguf, plan, work)
    same = sum(task.parse_answer(a).value == task.parse_answer(b).value
               for a, b in zip(answers, naive["answers"], strict=True))
    seconds = ours["seconds_per_note"]
    forced = sum(p["forced"] for p in plan)
    total = forced + sum(p["decoded"] for p in plan)
    passes = sum(len(p["passes"]) for p in plan)
    return {"notes": len(records), "model": "base (untrained), Q8_0",
            "mlxmed_notes_per_second": len(records) / sum(seconds),
            "naive_seconds": sum(naive["seconds_per_note"]), "mlxmed_seconds": sum(seconds),
            "ceiling_seconds": sum(ceiling["seconds_per_note"]),
            "ratio_mlxmed_vs_naive_speed": sum(naive["seconds_per_note"]) / sum(seconds),
            "fraction_of_ceiling": fraction(ceiling["seconds_per_note"], seconds),
            "same_answers_as_naive": same / len(records),
            "answer_tokens_fed_as_forced_text": forced / max(1, total),
            "answer_passes_per_note": passes / len(records),
            "answer_tokens_per_note": total / len(records)}


def cardio_bench(model: ModelDir, work: Path) -> dict:
    return emit("extraction (cardiology, JSON under the schema)", cardio_extraction(model, work))


def bench_extraction(model: ModelDir, work: Path, count: int, run_dir: str | None = None
                     ) -> dict:
    return {"smoking": emit("extraction (smoking, label scoring)",
                            smoking_extraction(model, work, count, run_dir)),
            "cardio": cardio_bench(model, work)}
