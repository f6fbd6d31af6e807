#!/usr/bin/env bash
# The main job: install what is needed, build, and open the GUI on the demo project.
#   scripts/run.sh               the GUI on ~/.local/share/dpo-workbench/demo.db (created on first start)
#   scripts/run.sh --headless    the demo DPO run in the terminal instead (no display needed)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/install-deps.sh"
if [ "${1:-}" = "--headless" ]; then
  "$here/scripts/build.sh" >&2
  shift
  data="${DPOWB_DEMO_DIR:-$HOME/.local/share/dpo-workbench}"
  mkdir -p "$data"
  db="$data/demo.db"
  [ -f "$db" ] || "$here/build/dpowb" init "$db" --demo
  exec "$here/build/dpowb" train --db "$db" --model builtin:tiny "$@"
fi
"$here/scripts/build.sh" >&2
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
  echo "run.sh: no display found; starting under xvfb-run (use --headless for the terminal demo)" >&2
  exec xvfb-run -a "$here/build/dpo-workbench" --demo "$@"
fi
exec "$here/build/dpo-workbench" --demo "$@"
