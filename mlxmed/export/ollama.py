"""An Ollama ``Modelfile`` next to an exported GGUF (``mlxmed export RUN --ollama``).

Ollama does not run a GGUF's Jinja chat template; it wants a Go template. mlxmed translates
templates that wrap each message on its own (ChatML, as in SmolLM2 and Qwen, and the like):
it renders the GGUF's template with marker messages, cuts out what comes before and after the
content of each role and the reply header, checks that putting those pieces together gives
the template's own output for several chats, and writes them as a Go template. A template it
cannot take apart that way is refused with one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlxmed import __version__
from mlxmed.atomic import write_text
from mlxmed.errors import MlxmedError
from mlxmed.models.chat_template import render_chat
from mlxmed.tasks import Task

ROLES = ("system", "user", "assistant")
CONTROL_TOKEN = 3  # llama.cpp's token type of special tokens such as <|im_end|>


def refused(reason: str) -> MlxmedError:
    return MlxmedError(f"--ollama: {reason}; write the Modelfile's TEMPLATE by hand (Ollama "
                       "docs: Modelfile), or run the GGUF with llama.cpp or LM Studio")


@dataclass(frozen=True)
class ChatPieces:
    """A per-message chat template: the text around each role's content, the reply header
    (the generation prompt) and what the template puts before the first message."""

    before: dict[str, str]
    after: dict[str, str]
    reply: str
    start: str = ""

    def render(self, messages: list[dict[str, str]]) -> str:
        """The chat with the reply header, as the pieces put it together."""
        text = self.start + "".join(self.before[m["role"]] + m["content"] + self.after[m["role"]]
                                    for m in messages)
        return text + self.reply


def _split_once(text: str, marker: str) -> tuple[str, str]:
    parts = text.split(marker)
    if len(parts) != 2:
        raise refused("the chat template does not show each message's text exactly once")
    return parts[0], parts[1]


def chat_pieces(template: str, bos: str = "", eos: str = "") -> ChatPieces:
    """Take a Jinja chat template apart into :class:`ChatPieces`, or refuse it."""
    def render(messages, reply=False, bos_token=bos) -> str:
        try:
            return render_chat(template, messages, add_generation_prompt=reply,
                               bos_token=bos_token, eos_token=eos)
        except MlxmedError as exc:
            raise refused(f"the chat template fails on a system+user chat ({exc})") from exc

    s, u, a, u2 = ({"role": r, "content": f"MLXMEDPROBE{i}"} for i, r in
                   enumerate(("system", "user", "assistant", "user")))
    two, with_reply = render([s, u]), render([s, u], reply=True)
    three, four = render([s, u, a]), render([s, u, a, u2])
    if not (with_reply.startswith(two) and three.startswith(two) and four.startswith(three)):
        raise refused("the chat template changes earlier messages when one is added")
    before_system, rest = _split_once(two, s["content"])
    between, after_user = _split_once(rest, u["content"])
    before_assistant, after_assistant = _split_once(three[len(two):], a["content"])
    before_user, tail = _split_once(four[len(three):], u2["content"])
    if tail != after_user or not between.endswith(before_user):
        raise refused("the chat template wraps the same role differently in different turns")
    # the template's own {{ bos_token }} (found by rendering a marker in its place)
    start = bos if render([s, u], bos_token="MLXMEDBOS").startswith("MLXMEDBOS") else ""
    if not before_system.startswith(start):
        raise refused("the chat template writes the BOS token somewhere other than first")
    pieces = ChatPieces(
        before={"system": before_system[len(start):], "user": before_user,
                "assistant": before_assistant},
        after={"system": between[: len(between) - len(before_user)], "user": after_user,
               "assistant": after_assistant},
        reply=with_reply[len(two):], start=start)
    for chat in _check_chats():
        if pieces.render(chat) != render(chat, reply=True):
            raise refused("the chat template changes message text or depends on the turn "
                          "(it is not one that wraps each message on its own)")
    return pieces


def _check_chats() -> list[list[dict[str, str]]]:
    texts = ["Zeile eins\nZeile zwei", "  spaces around  ", "ä ö ü € – ✓", "x"]
    return [[{"role": "system", "content": texts[i]}, {"role": "user", "content": texts[-1 - i]}]
            for i in range(len(texts))] + [
        [{"role": "system", "content": "s"}, {"role": "user", "content": "u1"},
         {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"}]]


def go_template(pieces: ChatPieces) -> str:
    """The pieces as an Ollama (Go text/template) TEMPLATE over ``.Messages``."""
    texts = [pieces.start, pieces.reply, *pieces.before.values(), *pieces.after.values()]
    if any("{{" in t or "}}" in t or '"""' in t for t in texts):
        raise refused("the chat template's text contains {{, }} or \"\"\"")
    branches = "{{ else if ".join(
        f'eq .Role "{role}" }}}}{pieces.before[role]}{{{{ .Content }}}}{pieces.after[role]}'
        for role in ROLES)
    return f"{pieces.start}{{{{ range .Messages }}}}{{{{ if {branches}{{{{ end }}}}" \
           f"{{{{ end }}}}{pieces.reply}"


def stop_tokens(meta: dict, pieces: ChatPieces) -> list[str]:
    """The special tokens that end an assistant turn: the GGUF's end-of-turn and end-of-text
    tokens, and any other special token, that the template writes after an answer."""
    tokens = meta.get("tokenizer.ggml.tokens") or []
    types = meta.get("tokenizer.ggml.token_type") or []
    ids = [meta.get("tokenizer.ggml.eot_token_id"), meta.get("tokenizer.ggml.eos_token_id")]
    named = [tokens[int(i)] for i in ids if i is not None and int(i) < len(tokens)]
    special = [t for t, kind in zip(tokens, types, strict=False) if kind == CONTROL_TOKEN]
    ending = pieces.after["assistant"]
    stops = [t for t in dict.fromkeys([*named, *special]) if t and t in ending]
    if not stops:
        raise refused("no special token of the GGUF ends an assistant turn in its template")
    if any('"' in stop for stop in stops):
        raise refused('an end-of-turn token contains a double quote (")')
    return sorted(stops, key=ending.index)


def ollama_name(task: Task) -> str:
    """A model name for ``ollama create`` from the task's name."""
    return re.sub(r"[^a-z0-9.]+", "-", task.name.lower()).strip("-.") or "mlxmed-model"


def modelfile_text(gguf_path: Path, task: Task, n_ctx: int, meta: dict | None = None) -> str:
    """The Modelfile for an exported GGUF file, from the file's own metadata (``meta``, when
    already read)."""
    from mlxmed.models.gguf_import import read_gguf_metadata

    meta = meta or read_gguf_metadata(gguf_path)
    template = meta.get("tokenizer.chat_template")
    if not template:
        raise refused(f"{gguf_path} has no chat template")
    tokens = meta.get("tokenizer.ggml.tokens") or []

    def token(key: str) -> str:
        index = meta.get(key)
        return tokens[int(index)] if index is not None and int(index) < len(tokens) else ""

    bos = token("tokenizer.ggml.bos_token_id")
    pieces = chat_pieces(template, bos, token("tokenizer.ggml.eos_token_id"))
    if pieces.start and meta.get("tokenizer.ggml.add_bos_token", True):
        pieces = ChatPieces(pieces.before, pieces.after, pieces.reply)  # Ollama adds the BOS
    system = task.system_prompt()
    if '"""' in system:
        raise refused('the task\'s system prompt contains """')
    lines = [f"# Written by mlxmed {__version__} for {gguf_path.name}: task {task.name!r} "
             f"(spec hash {task.spec_hash()}).",
             f"# Create the model: ollama create {ollama_name(task)} -f Modelfile",
             "# Send each note as mlxmed frames it (the task's instruction, then the note).",
             f"FROM ./{gguf_path.name}",
             f'TEMPLATE """{go_template(pieces)}"""',
             f'SYSTEM """{system}"""',
             *(f'PARAMETER stop "{stop}"' for stop in stop_tokens(meta, pieces)),
             "PARAMETER temperature 0",
             f"PARAMETER num_ctx {n_ctx}"]
    return "\n".join(lines) + "\n"


def write_modelfile(gguf_path: Path, task: Task, n_ctx: int) -> Path:
    """Write ``Modelfile`` next to ``gguf_path`` (atomically) and return its path."""
    path = gguf_path.with_name("Modelfile")
    write_text(path, modelfile_text(gguf_path, task, n_ctx))
    return path
