# Apache Arrow's C++ Parquet reader from the pinned PyPI `pyarrow` wheel (scripts/requirements.txt):
# Debian 12 packages no Arrow or Parquet library, and the wheel carries the libraries and headers
# of the reference implementation, maintained by the Arrow project, in the same virtual
# environment as LibTorch. Only core/store/parquet_rows.cpp includes Arrow (its headers need
# C++20; that one file is compiled as C++20).
#
# Where pyarrow is looked for, first hit wins: -DDPOWB_PYARROW_ROOT=DIR (or the environment
# variable), a folder with include/arrow and libarrow.so.*; the pyarrow package beside LibTorch's
# torch package (the same site-packages).

file(STRINGS "${CMAKE_CURRENT_LIST_DIR}/../scripts/requirements.txt" _pa_line REGEX "^pyarrow==" LIMIT_COUNT 1)
string(REGEX REPLACE "^pyarrow==([^ #]+).*" "\\1" DPOWB_PYARROW_PIN "${_pa_line}")
string(REGEX MATCH "^([0-9]+)" _pa_major "${DPOWB_PYARROW_PIN}")

set(DPOWB_PYARROW_ROOT "$ENV{DPOWB_PYARROW_ROOT}" CACHE PATH "pyarrow package folder (include/arrow, libarrow.so.*); empty = find it")
if(NOT DPOWB_PYARROW_ROOT)
  get_filename_component(_site "${DPOWB_TORCH_ROOT}" DIRECTORY)
  set(DPOWB_PYARROW_ROOT "${_site}/pyarrow" CACHE PATH "pyarrow package folder (include/arrow, libarrow.so.*); empty = find it" FORCE)
endif()
file(GLOB _libarrow "${DPOWB_PYARROW_ROOT}/libarrow.so.${_pa_major}00")
file(GLOB _libparquet "${DPOWB_PYARROW_ROOT}/libparquet.so.${_pa_major}00")
if(NOT _libarrow OR NOT _libparquet OR NOT EXISTS "${DPOWB_PYARROW_ROOT}/include/parquet/arrow/reader.h")
  message(FATAL_ERROR "Arrow/Parquet ${DPOWB_PYARROW_PIN} not found in ${DPOWB_PYARROW_ROOT} (looked for "
                      "libarrow.so.${_pa_major}00, libparquet.so.${_pa_major}00 and include/parquet). Run "
                      "scripts/install-deps.sh, which installs the pinned pyarrow wheel beside torch, or pass "
                      "-DDPOWB_PYARROW_ROOT=DIR.")
endif()
add_library(dpowb_arrow SHARED IMPORTED GLOBAL)
set_target_properties(dpowb_arrow PROPERTIES IMPORTED_LOCATION "${_libarrow}"
                      INTERFACE_INCLUDE_DIRECTORIES "${DPOWB_PYARROW_ROOT}/include")
add_library(dpowb_parquet SHARED IMPORTED GLOBAL)
set_target_properties(dpowb_parquet PROPERTIES IMPORTED_LOCATION "${_libparquet}"
                      INTERFACE_LINK_LIBRARIES dpowb_arrow)
message(STATUS "Arrow/Parquet: pyarrow ${DPOWB_PYARROW_PIN} in ${DPOWB_PYARROW_ROOT}")
