# The layout rules of docs/ARCHITECTURE.md, checked on the sources (CTest's layout/rules):
#   cmake -DSOURCE_DIR=<checkout> -P cmake/CheckLayout.cmake
# 1. core/ never includes Qt, nor anything of ui/ or app/.
# 2. ui/ holds only its CMakeLists.txt and the page folders shell/, label/, train/, compare/.
# 3. A page's folder (label/, train/, compare/) includes nothing from another page's folder:
#    the pages meet in shell/ (workbench_pages), never in each other.
# Every violation is printed with its file and line; the script fails when there is one.
cmake_minimum_required(VERSION 3.20)
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "CheckLayout.cmake: pass -DSOURCE_DIR=<the checkout>")
endif()

set(_pages label train compare)
set(_folders shell ${_pages})
list(JOIN _folders ", " _folder_text)
set(_violations 0)

function(_report file line text)
  file(RELATIVE_PATH _rel "${SOURCE_DIR}" "${file}")
  message("${_rel}:${line}: ${text}")
  math(EXPR _n "${_violations} + 1")
  set(_violations ${_n} PARENT_SCOPE)
endfunction()

# The quoted and angled includes of a file, as "LINE|NAME" items.
function(_includes file out)
  file(STRINGS "${file}" _lines)
  set(_found)
  set(_no 0)
  foreach(_line IN LISTS _lines)
    math(EXPR _no "${_no} + 1")
    if(_line MATCHES "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")
      list(APPEND _found "${_no}|${CMAKE_MATCH_1}")
    endif()
  endforeach()
  set(${out} "${_found}" PARENT_SCOPE)
endfunction()

# Names of ui/ headers by folder, to tell where an include by name points.
foreach(_folder ${_folders})
  file(GLOB _h RELATIVE "${SOURCE_DIR}/ui/${_folder}" "${SOURCE_DIR}/ui/${_folder}/*.h")
  set(_headers_${_folder} ${_h})
endforeach()

# 1. core/
file(GLOB_RECURSE _core "${SOURCE_DIR}/core/*.h" "${SOURCE_DIR}/core/*.cpp" "${SOURCE_DIR}/core/*.cu")
foreach(_f ${_core})
  _includes("${_f}" _incs)
  foreach(_item IN LISTS _incs)
    string(REPLACE "|" ";" _parts "${_item}")
    list(GET _parts 0 _line)
    list(GET _parts 1 _name)
    if(_name MATCHES "^Qt[A-Za-z]*/" OR _name MATCHES "^Q[A-Z][A-Za-z]+$")
      _report("${_f}" ${_line} "core/ includes Qt (${_name}); core/ builds without Qt (docs/ARCHITECTURE.md, Layers)")
    endif()
    foreach(_folder ${_folders})
      if(_name IN_LIST _headers_${_folder})
        _report("${_f}" ${_line} "core/ includes ${_name} of ui/${_folder}/; nothing in core/ points up to ui/")
      endif()
    endforeach()
  endforeach()
endforeach()

# 2. ui/ itself
file(GLOB _top RELATIVE "${SOURCE_DIR}/ui" "${SOURCE_DIR}/ui/*")
foreach(_entry ${_top})
  if(NOT _entry STREQUAL "CMakeLists.txt" AND NOT _entry IN_LIST _folders)
    _report("${SOURCE_DIR}/ui/${_entry}" 1 "ui/ holds only the page folders (${_folder_text}); move ${_entry} into the folder of its page")
  endif()
endforeach()

# 3. pages
foreach(_page ${_pages})
  file(GLOB _files "${SOURCE_DIR}/ui/${_page}/*.h" "${SOURCE_DIR}/ui/${_page}/*.cpp")
  foreach(_f ${_files})
    _includes("${_f}" _incs)
    foreach(_item IN LISTS _incs)
      string(REPLACE "|" ";" _parts "${_item}")
      list(GET _parts 0 _line)
      list(GET _parts 1 _name)
      foreach(_other ${_pages})
        if(NOT _other STREQUAL _page AND _name IN_LIST _headers_${_other})
          _report("${_f}" ${_line} "ui/${_page}/ includes ${_name} of ui/${_other}/; pages meet in ui/shell/ (workbench_pages), move what both need there")
        endif()
      endforeach()
    endforeach()
  endforeach()
endforeach()

if(_violations GREATER 0)
  message(FATAL_ERROR "${_violations} layout rule(s) broken (docs/ARCHITECTURE.md)")
endif()
list(LENGTH _core _n_core)
message("layout: ${_n_core} core files without Qt or ui/; ui/ in ${_folder_text}; no page includes another")
