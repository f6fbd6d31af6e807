#!/usr/bin/env python3
"""Writes tests/data/text/expected-chat-encoding.jsonl: conversational preference pairs tokenized
the way TRL's DPOTrainer prepares them, with real Hugging Face tokenizers and their own chat
templates, for tests/model/tst_logprobs.cpp (matchesTrlConversations).

TRL 1.16 (trl/trainer/dpo_trainer.py, tokenize_fn in _prepare_dataset) tokenizes the prompt
messages with the generation prompt, and prompt + chosen and prompt + rejected as whole
conversations, with trl.data_utils._tokenize (apply_chat_template, tokenize=True); the responses
start at the shorter common prefix of the prompt's ids with the two (trl.data_utils.
common_prefix_length), and the prompt keeps that prefix. This script calls those two functions
and repeats tokenize_fn's three lines that combine them.

    scripts/fetch-references.sh      # the real tokenizers into .cache/references/
    ~/.local/share/dpo-workbench/venv/bin/pip install -r scripts/requirements-fixtures.txt
    ~/.local/share/dpo-workbench/venv/bin/python scripts/make-chat-encoding-fixtures.py
"""
import json
import os

import tokenizers
import transformers
import trl
from transformers import AutoTokenizer
from trl.data_utils import _tokenize, common_prefix_length

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCES = os.environ.get("DPOWB_REFERENCES", os.path.join(ROOT, ".cache", "references"))
OUT = os.path.join(ROOT, "tests", "data", "text", "expected-chat-encoding.jsonl")

# Conversations that exercise what a template writes around a reply: one turn, a system
# prompt, earlier assistant turns, whitespace and non-ASCII at the response's edges, a reply
# that is a prefix of the other.
PAIRS = [
    {"prompt": [{"role": "user", "content": "What is 2+2?"}],
     "chosen": "4", "rejected": "5"},
    {"prompt": [{"role": "system", "content": "Answer in one sentence."},
                {"role": "user", "content": "Why is the sky blue?"}],
     "chosen": "Air scatters blue light more than red.", "rejected": "Because it reflects the ocean."},
    {"prompt": [{"role": "user", "content": "Name a fruit."},
                {"role": "assistant", "content": "Apple."},
                {"role": "user", "content": "Another one, please."}],
     "chosen": "Pear.", "rejected": "Apple again."},
    {"prompt": [{"role": "user", "content": "Say something friendly in French."}],
     "chosen": "  Bonjour, ça va ? 😀\n", "rejected": "Non.\n\n"},
    {"prompt": [{"role": "user", "content": "Count to three."}],
     "chosen": "1, 2, 3", "rejected": "1, 2"},
]


def trl_encode(tok, pair):
    prompt = pair["prompt"]
    chosen = [{"role": "assistant", "content": pair["chosen"]}]
    rejected = [{"role": "assistant", "content": pair["rejected"]}]
    prompt_ids = _tokenize(tok, prompt, add_generation_prompt=True)["input_ids"]
    prompt_chosen_ids = _tokenize(tok, prompt + chosen)["input_ids"]
    prompt_rejected_ids = _tokenize(tok, prompt + rejected)["input_ids"]
    prompt_len = min(common_prefix_length(prompt_ids, prompt_chosen_ids),
                     common_prefix_length(prompt_ids, prompt_rejected_ids))
    return {
        "prompt_ids": prompt_ids[:prompt_len],
        "chosen_ids": prompt_chosen_ids[prompt_len:],
        "rejected_ids": prompt_rejected_ids[prompt_len:],
        "prompt_moved": len(prompt_ids) - prompt_len,
    }


def main():
    versions = {"trl": trl.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}
    rows = []
    for name in ["qwen3", "llama3"]:
        tok = AutoTokenizer.from_pretrained(os.path.join(REFERENCES, name))
        for i, pair in enumerate(PAIRS):
            rows.append({"tokenizer": name, "case": i, **pair, **trl_encode(tok, pair), "versions": versions})
    with open(OUT, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} pairs -> {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
