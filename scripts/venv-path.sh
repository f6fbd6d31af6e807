# Sourced: where scripts/install-deps.sh keeps its virtual environment (outside the checkout, so
# every clone on the machine shares the ~4 GB torch download). Override with DPOWB_VENV.
DPOWB_VENV="${DPOWB_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/dpo-workbench/venv}"
