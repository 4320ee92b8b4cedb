#!/usr/bin/env python3
"""Expected renderings of chat templates, for the C++ test of medcode's native chat formats.

Renders each template with Jinja2 the way transformers' apply_chat_template does (a sandboxed environment with
trim_blocks and lstrip_blocks, loopcontrols, tojson and raise_exception) on a fixed set of conversations, with
and without the generation prompt, and writes them as JSON:

  python3 scripts/reference/chat_template_reference.py OUT.json NAME=TEMPLATE_FILE[:BOS:EOS] ...

TEMPLATE_FILE is a .jinja file, or a tokenizer_config.json whose chat_template, bos_token and eos_token are used.
Needs only Jinja2 (pip's jinja2 or Debian's python3-jinja2).
"""

import json
import sys

from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

CONVERSATIONS = [
    [{"role": "system", "content": "You are a medical coder."},
     {"role": "user", "content": "Note: chest pain on exertion"},
     {"role": "assistant", "content": "I20.9"}],
    [{"role": "system", "content": "You are a medical coder."},
     {"role": "user", "content": "Note: chest pain on exertion"}],
    [{"role": "user", "content": "Predict the codes: type 2 diabetes with hyperglycemia"}],
    [{"role": "user", "content": "Predict the codes: type 2 diabetes"},
     {"role": "assistant", "content": "E11.9"}],
    [{"role": "user", "content": "  padded text\n\n"},
     {"role": "assistant", "content": "<think>\nhypertension is stated\n</think>\n\nI10"}],
    [{"role": "user", "content": "first"},
     {"role": "assistant", "content": "<think>\nold\n</think>\n\nA00"},
     {"role": "user", "content": "second"},
     {"role": "assistant", "content": "B00"}],
]


def environment():
    def raise_exception(message):
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda value, **kwargs: json.dumps(value, ensure_ascii=False)
    env.globals["raise_exception"] = raise_exception
    return env


def token(value):
    if isinstance(value, dict):
        return value.get("content") or ""
    return value or ""


def load(spec):
    name, _, rest = spec.partition("=")
    path, *tokens = rest.split(":")
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
        return name, config["chat_template"], token(config.get("bos_token")), token(config.get("eos_token"))
    with open(path, encoding="utf-8") as f:
        text = f.read()
    bos, eos = (tokens + ["", ""])[:2]
    return name, text, bos, eos


def main():
    out_path, specs = sys.argv[1], sys.argv[2:]
    env = environment()
    result = {}
    for spec in specs:
        name, text, bos, eos = load(spec)
        template = env.from_string(text)
        cases = []
        for messages in CONVERSATIONS:
            for add_generation_prompt in (False, True):
                rendered = template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                                           bos_token=bos, eos_token=eos)
                cases.append({"messages": messages, "add_generation_prompt": add_generation_prompt,
                              "text": rendered})
        result[name] = {"bos_token": bos, "eos_token": eos, "cases": cases}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
