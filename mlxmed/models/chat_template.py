"""Chat templates: rendered in a sandboxed Jinja environment, identically for training and
extraction (a train/inference template mismatch is the classic silent failure)."""

from __future__ import annotations

import functools
import json
import threading
import time
from pathlib import Path

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mlxmed.errors import MlxmedError

Message = dict[str, str]

# Used only when a model ships no template of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _raise_exception(message: str) -> None:
    raise TemplateError(message)


RENDER_SECONDS = 2.0        # a chat renders in microseconds; a looping template never ends
RENDER_CHARACTERS = 4_000_000
_deadline = threading.local()


class TemplateLimit(Exception):
    """A chat template ran too long or wrote too much (a loop, not a chat)."""


def _check_deadline() -> None:
    if time.monotonic() > getattr(_deadline, "at", float("inf")):
        raise TemplateLimit(f"rendering took over {RENDER_SECONDS:g} s")


class _BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's sandbox, plus a time limit checked at every call, attribute and item access
    the template makes (where every loop of a template goes through)."""

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
        _check_deadline()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj, attribute):
        _check_deadline()
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        _check_deadline()
        return super().getitem(obj, argument)


def _environment() -> ImmutableSandboxedEnvironment:
    env = _BoundedEnvironment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    env.globals["raise_exception"] = _raise_exception
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False,
                                                                  indent=indent)
    return env


@functools.lru_cache(maxsize=8)
def _compiled(template: str):
    """A template is compiled once (a note's prompt is rendered several times)."""
    return _environment().from_string(template)


def render_chat(template: str, messages: list[Message], add_generation_prompt: bool = False,
                bos_token: str = "", eos_token: str = "") -> str:
    """Render ``messages`` with a (Hugging Face style) Jinja chat template, sandboxed, within
    a time and size limit."""
    _deadline.at = time.monotonic() + RENDER_SECONDS
    try:
        pieces, size = [], 0
        for piece in _compiled(template).generate(messages=messages,
                                                  add_generation_prompt=add_generation_prompt,
                                                  bos_token=bos_token, eos_token=eos_token):
            size += len(piece)
            if size > RENDER_CHARACTERS:
                raise TemplateLimit(f"it wrote over {RENDER_CHARACTERS:,} characters")
            _check_deadline()
            pieces.append(piece)
        return "".join(pieces)
    except TemplateLimit as exc:
        raise MlxmedError(f"the model's chat template does not finish ({exc}); it is not a "
                          "usable chat template: re-convert the model or report the "
                          "template") from exc
    except Exception as exc:  # sandbox violations, syntax errors, template-raised errors
        raise MlxmedError(f"the model's chat template could not be rendered: {exc}; "
                          "re-convert the model or report the template") from exc
    finally:
        _deadline.at = float("inf")


def load_chat_template(model_dir: str | Path) -> tuple[str, str, str]:
    """Return (template, bos_token, eos_token) from a converted model's tokenizer_config.json."""
    config_path = Path(model_dir) / "tokenizer_config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MlxmedError(f"{config_path}: cannot read the tokenizer config ({exc}); "
                          "convert the model again with `mlxmed convert`") from exc
    template = config.get("chat_template") or _template_file(Path(model_dir)) or CHATML_TEMPLATE
    if isinstance(template, list):  # named templates: take the default one
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), CHATML_TEMPLATE)
    return template, _token_text(config.get("bos_token")), _token_text(config.get("eos_token"))


def _template_file(model_dir: Path) -> str | None:
    """Newer tokenizers save the template beside the config, as chat_template.jinja/.json."""
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    packed = model_dir / "chat_template.json"
    if packed.is_file():
        try:
            return json.loads(packed.read_text(encoding="utf-8")).get("chat_template")
        except ValueError:
            return None
    return None


def _token_text(token: object) -> str:
    if isinstance(token, dict):
        return str(token.get("content", ""))
    return str(token or "")
