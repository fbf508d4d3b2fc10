"""Turn a task's chat messages into token ids exactly as training and extraction both see them:
the model's chat template rendered in the sandbox, then the model's own tokenizer.

Note text is data, never chat control. Only the template's own text (``<|im_start|>user``,
``<|im_end|>``, ...) is tokenized with special tokens recognised; every message's content
(the note, and everything the task file put in the prompt) is tokenized as plain text, so a
note that contains ``<|im_end|>`` cannot end its turn or write the assistant's. MLX training,
validation, `export`'s check and llama.cpp extraction all go through :meth:`chat_ids`.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from mlxmed.errors import MlxmedError
from mlxmed.models.chat_template import load_chat_template, render_chat

Messages = list[dict[str, str]]


class ChatTokenizer:
    """Renders chats with a converted model's template and tokenizes them with its tokenizer."""

    def __init__(self, model_dir: str | Path) -> None:
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        path = self.model_dir / "tokenizer.json"
        try:
            self.tokenizer = Tokenizer.from_file(str(path))
            self._plain = Tokenizer.from_file(str(path))
        except Exception as exc:  # noqa: BLE001 - tokenizers raises plain Exception
            raise MlxmedError(f"{path}: cannot load the tokenizer ({exc}); convert the model "
                              "again with `mlxmed convert`") from exc
        self._plain.encode_special_tokens = True  # special-token text is just text here
        self.template, self.bos, self.eos = load_chat_template(self.model_dir)

    def render(self, messages: Messages, add_generation_prompt: bool = False) -> str:
        return render_chat(self.template, messages, add_generation_prompt=add_generation_prompt,
                           bos_token=self.bos, eos_token=self.eos)

    def encode(self, text: str) -> list[int]:
        """Token ids of text that is only data: special-token strings in it are plain text."""
        return self._plain.encode(text, add_special_tokens=False).ids

    def encode_control(self, text: str) -> list[int]:
        """Token ids of template text, where special tokens are matched whole."""
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def chat_ids(self, messages: Messages, add_generation_prompt: bool = False) -> list[int]:
        """The rendered chat's token ids: the template's text with special tokens recognised,
        each message's content as plain text."""
        ids: list[int] = []
        for text, is_content in rendered_pieces(self.render, messages, add_generation_prompt):
            ids += self.encode(text) if is_content else self.encode_control(text)
        return ids

    def prompt_ids(self, messages: Messages) -> list[int]:
        """The prompt a model answers: every message but the answer, plus the reply header."""
        if messages and messages[-1]["role"] == "assistant":
            messages = messages[:-1]
        return self.chat_ids(messages, add_generation_prompt=True)

    def example_ids(self, messages: Messages) -> tuple[list[int], int]:
        """(ids of the whole chat, number of prompt tokens): the loss only sees the rest."""
        full = self.chat_ids(messages)
        prompt = self.prompt_ids(messages)
        if full[: len(prompt)] != prompt:
            raise MlxmedError(f"{self.model_dir}: the chat template renders the prompt "
                              "differently with and without the answer; this model's template "
                              "is not supported for training")
        return full, len(prompt)

    def answer_ids(self, messages: Messages, answer: str) -> list[int]:
        """Token ids of ``answer`` as the template closes it (e.g. ``LABEL<|im_end|>``)."""
        chat = [*(m for m in messages if m["role"] != "assistant"),
                {"role": "assistant", "content": answer}]
        full, offset = self.example_ids(chat)
        continuation = full[offset:]
        end = self.end_of_turn_id()
        if end is not None and end in continuation:
            continuation = continuation[: continuation.index(end) + 1]
        return continuation

    def end_of_turn_id(self) -> int | None:
        """The token that ends an assistant turn (the EOS in the tokenizer config)."""
        if not self.eos:
            return None
        return self.tokenizer.token_to_id(self.eos)


def rendered_pieces(render, messages: Messages, add_generation_prompt: bool
                    ) -> list[tuple[str, bool]]:
    """The rendered chat cut into (text, is message content) pieces, in order.

    Each content is rendered as a unique marker first, so the template's own text and the
    contents can be told apart; the pieces joined are exactly the normal rendering (checked:
    a template that changes a content other than by trimming it is refused)."""
    tag = uuid.uuid4().hex
    markers = [f"\x00{tag}{index}\x00" for index in range(len(messages))]
    marked = render([{**m, "content": markers[i]} for i, m in enumerate(messages)],
                    add_generation_prompt)
    expected = render(messages, add_generation_prompt)
    pieces: list[tuple[str, bool]] = []
    rest = marked
    for marker, message in zip(markers, messages, strict=True):
        before, found, rest = rest.partition(marker)
        if not found:
            raise MlxmedError("the model's chat template drops a message's content; this "
                              "template is not supported")
        pieces.append((before, False))
        pieces.append((message["content"], True))
    pieces.append((rest, False))
    joined = "".join(text for text, _ in pieces)
    if joined != expected:  # e.g. Llama 3 templates trim each content
        pieces = [(text.strip() if content else text, content) for text, content in pieces]
        if "".join(text for text, _ in pieces) != expected:
            raise MlxmedError("the model's chat template changes message contents in a way "
                              "mlxmed cannot tokenize safely; this template is not supported")
    return [(text, content) for text, content in pieces if text]


class LlamaChatTokenizer(ChatTokenizer):
    """The same rendering for a bare GGUF file: the chat template from its metadata (rendered
    by the same sandboxed code) and llama.cpp's own tokenizer."""

    def __init__(self, llm, gguf_path: str | Path) -> None:
        from mlxmed.models.gguf_import import read_gguf_metadata

        meta = read_gguf_metadata(gguf_path)
        tokens = meta.get("tokenizer.ggml.tokens") or []
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise MlxmedError(f"{gguf_path}: the file has no chat template; export it with "
                              "`mlxmed export`, which writes one")

        def token(key: str) -> str:
            index = meta.get(key)
            return tokens[int(index)] if index is not None and int(index) < len(tokens) else ""

        self.model_dir = Path(gguf_path)
        self.llm = llm
        self.template, self.bos = template, token("tokenizer.ggml.bos_token_id")
        self.eos = token("tokenizer.ggml.eos_token_id")
        self._eos_id = meta.get("tokenizer.ggml.eos_token_id")

    def encode(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def encode_control(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def end_of_turn_id(self) -> int | None:
        return int(self._eos_id) if self._eos_id is not None else None

    def count(self, text: str) -> int:
        """Token count of plain text (the interface `data.fit_chat` uses)."""
        return len(self.encode(text))

    def chat_tokens(self, messages: Messages) -> int:
        return len(self.prompt_ids(messages))
