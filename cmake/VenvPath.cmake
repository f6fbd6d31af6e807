# Where scripts/install-deps.sh keeps its virtual environment (scripts/venv-path.sh says the
# same for the scripts): $DPOWB_VENV, else ${XDG_DATA_HOME:-~/.local/share}/dpo-workbench/venv.
function(dpowb_venv_dir out)
  if(DEFINED ENV{DPOWB_VENV} AND NOT "$ENV{DPOWB_VENV}" STREQUAL "")
    set(${out} "$ENV{DPOWB_VENV}" PARENT_SCOPE)
  elseif(DEFINED ENV{XDG_DATA_HOME} AND NOT "$ENV{XDG_DATA_HOME}" STREQUAL "")
    set(${out} "$ENV{XDG_DATA_HOME}/dpo-workbench/venv" PARENT_SCOPE)
  else()
    set(${out} "$ENV{HOME}/.local/share/dpo-workbench/venv" PARENT_SCOPE)
  endif()
endfunction()
