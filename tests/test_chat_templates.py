"""Chat templates come with downloaded models: they are rendered in a sandbox."""

from __future__ import annotations

import pytest

from mlxmed.errors import MlxmedError
from mlxmed.models.chat_template import CHATML_TEMPLATE, render_chat

MESSAGES = [{"role": "user", "content": "Smoking status?"}]

MALICIOUS = [
    # reach Python internals through a string's class
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    # call a method that would mutate state
    "{% set x = [] %}{{ x.append(1) }}",
    # reach the os module through a function's globals
    "{{ raise_exception.__globals__['os'].system('echo pwned') }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
]


@pytest.mark.parametrize("template", MALICIOUS)
def test_malicious_templates_are_refused(template, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MlxmedError, match="chat template could not be rendered"):
        render_chat(template, MESSAGES)


def test_a_normal_template_renders():
    text = render_chat(CHATML_TEMPLATE, MESSAGES, add_generation_prompt=True)
    assert text == "<|im_start|>user\nSmoking status?<|im_end|>\n<|im_start|>assistant\n"


def test_template_errors_are_one_line():
    with pytest.raises(MlxmedError, match="Only user and assistant roles"):
        render_chat("{{ raise_exception('Only user and assistant roles') }}", MESSAGES)
