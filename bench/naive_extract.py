"""What a user would write instead of `mlxmed extract`: llama-cpp-python's chat completion per
note, constrained by the task's grammar, in a process of its own that imports nothing of mlxmed.

    python bench/naive_extract.py PLAN.json

PLAN.json: {"gguf", "n_ctx", "threads", "grammar", "max_tokens", "notes": [messages]}. Prints
one JSON line: the answers and the seconds per note.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    from llama_cpp import Llama, LlamaGrammar

    llm = Llama(model_path=plan["gguf"], n_ctx=plan["n_ctx"], n_batch=min(512, plan["n_ctx"]),
                n_threads=plan["threads"], n_threads_batch=plan["threads"], n_gpu_layers=-1,
                verbose=False)
    grammar = LlamaGrammar.from_string(plan["grammar"], verbose=False)
    answers, seconds = [], []
    for messages in plan["notes"]:
        start = time.perf_counter()
        reply = llm.create_chat_completion(messages, grammar=grammar, temperature=0.0,
                                           max_tokens=plan["max_tokens"])
        seconds.append(time.perf_counter() - start)
        answers.append(reply["choices"][0]["message"]["content"].strip())
    print(json.dumps({"answers": answers, "seconds_per_note": seconds}))


if __name__ == "__main__":
    main()
