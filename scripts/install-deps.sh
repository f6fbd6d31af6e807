#!/usr/bin/env bash
# Installs what DPO Workbench needs to build, run and test:
#  1. Debian 12 packages (as root or through sudo);
#  2. a Python virtual environment with the pinned PyPI torch wheel (LibTorch, with CUDA) and the
#     fixture generators' libraries (scripts/requirements.txt), in $DPOWB_VENV (default
#     ~/.local/share/dpo-workbench/venv; roughly 2.5-3 GB from PyPI the first time, 4.7 GB on disk).
# Idempotent: packages already present are left alone; the environment is (re)installed only
# when an installed version differs from a pin.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git binutils
  qt6-base-dev qt6-base-dev-tools qt6-charts-dev qt6-svg-dev libqt6opengl6-dev libgl-dev libglx-dev libopengl-dev libxkbcommon-dev libvulkan-dev
  libsqlitecpp-dev libsqlite3-dev nlohmann-json3-dev libpcre2-dev libutf8proc-dev zlib1g-dev libssl-dev
  libgloo-dev  # headers only: ProcessGroupGloo.hpp includes gloo's (the torch wheel ships none)
  python3 python3-venv
  xvfb xauth
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The virtual environment, made by Debian's python3 (not whatever python3 comes first on PATH).
. "$here/scripts/venv-path.sh"
python="${DPOWB_PYTHON:-/usr/bin/python3}"
reqs="$here/scripts/requirements.txt"
pins_ok() {
  [ -x "$DPOWB_VENV/bin/python" ] || return 1
  "$DPOWB_VENV/bin/python" - "$reqs" <<'PY'
import sys
from importlib import metadata
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        sys.exit(1)
    if have != want:
        sys.exit(1)
PY
}
if ! pins_ok; then
  echo "install-deps: installing torch and the fixture libraries (scripts/requirements.txt) into $DPOWB_VENV" >&2
  echo "install-deps: the first time this downloads roughly 2.5-3 GB from PyPI (torch with its CUDA libraries)" >&2
  mkdir -p "$(dirname "$DPOWB_VENV")"
  [ -x "$DPOWB_VENV/bin/python" ] || "$python" -m venv "$DPOWB_VENV"
  "$DPOWB_VENV/bin/python" -m pip install --disable-pip-version-check --no-cache-dir -q -r "$reqs" >&2
  pins_ok || { echo "install-deps: $DPOWB_VENV still does not match scripts/requirements.txt; remove it and rerun" >&2; exit 1; }
fi
echo "install-deps: LibTorch $(sed -n 's/^torch==//p' "$reqs") in $DPOWB_VENV" >&2
