#!/usr/bin/env bash
# Puts the large third-party reference files (real Hugging Face tokenizer.json and
# tokenizer_config.json files) into .cache/references/, copied from a local folder of them:
# $DPOWB_REFERENCE_TOKENIZERS, else ../shared/data/tokenizers next to the checkout (its
# PROVENANCE.md says where each file comes from). Layout: .cache/references/<name>/tokenizer.json
# for qwen3, llama3, llama2 and gpt2-encoder/{encoder.json,vocab.bpe}.
# Tests that need them skip with a message when they are absent (a bare clone). Idempotent; a
# missing source is not an error.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$here/.cache/references"
src="${DPOWB_REFERENCE_TOKENIZERS:-$here/../shared/data/tokenizers}"
if [ ! -d "$src" ]; then
  echo "fetch-references: $src not found (set DPOWB_REFERENCE_TOKENIZERS to a folder of reference tokenizers); tests that need them skip" >&2
  exit 0
fi
mkdir -p "$cache"
for name in qwen3 llama3 llama2 gpt2-encoder; do
  [ -d "$src/$name" ] || { echo "fetch-references: $src/$name absent; skipped" >&2; continue; }
  mkdir -p "$cache/$name"
  cp -p --update "$src/$name"/* "$cache/$name/"
done
[ -f "$src/PROVENANCE.md" ] && cp -p --update "$src/PROVENANCE.md" "$cache/"
echo "fetch-references: ready in $cache (from $src)" >&2
