#!/usr/bin/env bash
# The main job: install what is needed, build, and open the GUI on the demo project.
#   scripts/run.sh               the GUI on ~/.local/share/dpo-workbench/demo.db (created on first start)
#   scripts/run.sh --headless    the demo DPO run in the terminal instead (no display needed)
# Without a display (ssh, a server, a container) the GUI could not be seen: run.sh says so and
# runs the terminal demo instead.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

headless_demo() {
  data="${DPOWB_DEMO_DIR:-$HOME/.local/share/dpo-workbench}"
  mkdir -p "$data"
  db="$data/demo.db"
  [ -f "$db" ] || "$here/build/dpowb" init "$db" --demo
  exec "$here/build/dpowb" train --db "$db" --model builtin:tiny "$@"
}

# A window opened on a virtual screen (xvfb-run) would wait for input nobody can give: without
# a display, say so before the (long) first build, and run the terminal demo after it.
no_display=0
if [ "${1:-}" != "--headless" ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] &&
   [ -z "${QT_QPA_PLATFORM:-}" ]; then
  no_display=1
  if [ $# -gt 0 ]; then
    echo "run.sh: no display here (DISPLAY and WAYLAND_DISPLAY are unset), so the GUI cannot open $*." >&2
    echo "run.sh: run it from a desktop session (or ssh -X); in this terminal, scripts/run.sh --headless trains the demo." >&2
    exit 2
  fi
  echo "run.sh: no display here (DISPLAY and WAYLAND_DISPLAY are unset), so the GUI could not be seen." >&2
  echo "run.sh: after the build, the terminal demo runs instead (the same as scripts/run.sh --headless);" >&2
  echo "run.sh: for the GUI, run scripts/run.sh from a desktop session (or ssh -X)." >&2
fi

"$here/scripts/install-deps.sh"
if [ "${1:-}" = "--headless" ]; then
  "$here/scripts/build.sh" >&2
  shift
  headless_demo "$@"
fi
"$here/scripts/build.sh" >&2
[ "$no_display" = 1 ] && headless_demo
exec "$here/build/dpo-workbench" --demo "$@"
