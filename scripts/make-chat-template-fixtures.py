#!/usr/bin/env python3
"""Renders chat templates with Jinja2 the way Hugging Face transformers does
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, raise_exception, tojson) and writes
tests/data/text/expected-chat.jsonl for tests/text/tst_chat_template.cpp.

Sources: tests/data/text/chat-templates.json (name -> {source | source_file, bos_token,
eos_token}); source_file is read from .cache/references (skipped when absent).
Usage: python3 scripts/make-chat-template-fixtures.py   (needs jinja2: use the virtual environment of scripts/install-deps.sh)
"""
import json
import os
import sys

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "text")
REFS = os.path.join(ROOT, ".cache", "references")

CONVERSATIONS = [
    ([{"role": "user", "content": "Hi"}], True),
    ([{"role": "user", "content": "x"}], False),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": " Hello "}, {"role": "user", "content": "Bye"}], True),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": " Hello "}, {"role": "user", "content": "Bye"}], False),
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "  Hi there \n"},
      {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"}], True),
    ([{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}], True),
    ([{"role": "user", "content": "multi\nline\n\n  text  "}], True),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}], False),
]


class TemplateRaised(Exception):
    pass


def raise_exception(message):
    raise TemplateRaised(message)


def render(source, messages, add_generation_prompt, bos, eos):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda x, indent=None, **k: json.dumps(x, indent=indent, ensure_ascii=False)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                          bos_token=bos, eos_token=eos)


def main():
    with open(os.path.join(DATA, "chat-templates.json"), encoding="utf-8") as f:
        templates = json.load(f)
    out = []
    for name, t in templates.items():
        if name.startswith("_"):
            continue
        source = t.get("source")
        if source is None:
            path = os.path.join(REFS, t["source_file"])
            if not os.path.exists(path):
                print(f"{name}: {path} absent (run scripts/fetch-references.sh); skipped", file=sys.stderr)
                continue
            with open(path, encoding="utf-8") as f:
                source = json.load(f)["chat_template"]
        for messages, gen in CONVERSATIONS:
            line = {"template": name, "messages": messages, "add_generation_prompt": gen}
            try:
                line["text"] = render(source, messages, gen, t["bos_token"], t["eos_token"])
            except (TemplateRaised, TemplateError) as e:
                line["raises"] = str(e)
            out.append(line)
    with open(os.path.join(DATA, "expected-chat.jsonl"), "w", encoding="utf-8") as f:
        for line in out:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"{len(out)} renderings -> tests/data/text/expected-chat.jsonl", file=sys.stderr)


if __name__ == "__main__":
    main()
