# LibTorch from the pinned PyPI `torch` wheel (scripts/requirements.txt), found without the wheel's
# TorchConfig.cmake: that package insists on the CUDA toolkit at configure time, and we link
# only the CPU libraries (libtorch_cpu, libc10). CUDA is loaded at run time when present
# (core/common/torch_runtime.cpp dlopens libtorch_cuda.so next to libtorch_cpu.so), so the same
# binary configures and runs with or without nvcc and a GPU.
#
# Where LibTorch is looked for, first hit wins:
#   -DDPOWB_TORCH_ROOT=DIR   (or the environment variable): a folder with include/ and lib/
#                            (the wheel's torch/ package folder, or an unpacked libtorch zip)
#   the virtual environment of scripts/install-deps.sh ($DPOWB_VENV, default
#   ${XDG_DATA_HOME:-~/.local/share}/dpo-workbench/venv)
#   the `torch` package of `python3` on PATH (e.g. a GPU server's own torch)

file(STRINGS "${CMAKE_CURRENT_LIST_DIR}/../scripts/requirements.txt" _pin_line REGEX "^torch==" LIMIT_COUNT 1)
string(REGEX REPLACE "^torch==([^ #]+).*" "\\1" DPOWB_TORCH_PIN "${_pin_line}")
string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" _pin "${DPOWB_TORCH_PIN}")
set(_pin_major ${CMAKE_MATCH_1})
set(_pin_minor ${CMAKE_MATCH_2})

function(_dpowb_torch_ok dir out)
  if(EXISTS "${dir}/include/torch/csrc/api/include/torch/torch.h" AND EXISTS "${dir}/lib/libtorch_cpu.so"
     AND EXISTS "${dir}/lib/libc10.so")
    set(${out} TRUE PARENT_SCOPE)
  else()
    set(${out} FALSE PARENT_SCOPE)
  endif()
endfunction()

include(${CMAKE_CURRENT_LIST_DIR}/VenvPath.cmake)
set(DPOWB_TORCH_ROOT "$ENV{DPOWB_TORCH_ROOT}" CACHE PATH "LibTorch folder (with include/ and lib/); empty = find it")
set(_tried "")
if(NOT DPOWB_TORCH_ROOT)
  dpowb_venv_dir(_venv)
  file(GLOB _cands "${_venv}/lib/python3*/site-packages/torch")
  list(APPEND _tried "${_venv}/lib/python3*/site-packages/torch")
  foreach(_c IN LISTS _cands)
    _dpowb_torch_ok("${_c}" _ok)
    if(_ok)
      set(_found "${_c}")
      break()
    endif()
  endforeach()
  if(NOT _found)
    find_program(_dpowb_python3 NAMES python3)
    if(_dpowb_python3)
      execute_process(COMMAND "${_dpowb_python3}" -c "import os, torch; print(os.path.dirname(torch.__file__))"
                      OUTPUT_VARIABLE _py OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _rc)
      list(APPEND _tried "the torch package of ${_dpowb_python3}")
      if(_rc EQUAL 0 AND _py)
        _dpowb_torch_ok("${_py}" _ok)
        if(_ok)
          set(_found "${_py}")
        endif()
      endif()
    endif()
  endif()
  if(NOT _found)
    list(JOIN _tried "; " _tried_text)
    message(FATAL_ERROR "LibTorch not found (looked in: ${_tried_text}). Run scripts/install-deps.sh, which puts "
                        "the pinned torch ${DPOWB_TORCH_PIN} wheel in ${_venv}, or pass -DDPOWB_TORCH_ROOT=DIR "
                        "(a folder with include/ and lib/libtorch_cpu.so).")
  endif()
  set(DPOWB_TORCH_ROOT "${_found}" CACHE PATH "LibTorch folder (with include/ and lib/); empty = find it" FORCE)
else()
  _dpowb_torch_ok("${DPOWB_TORCH_ROOT}" _ok)
  if(NOT _ok)
    message(FATAL_ERROR "DPOWB_TORCH_ROOT=${DPOWB_TORCH_ROOT} is not a LibTorch folder (no "
                        "include/torch/csrc/api/include/torch/torch.h or lib/libtorch_cpu.so); point it at the "
                        "torch package folder of the wheel, or clear it to use scripts/install-deps.sh's one.")
  endif()
endif()

# Version: at least the pinned major.minor.
set(_vh "${DPOWB_TORCH_ROOT}/include/torch/headeronly/version.h")
if(NOT EXISTS "${_vh}")
  set(_vh "${DPOWB_TORCH_ROOT}/include/torch/csrc/api/include/torch/version.h")
endif()
file(STRINGS "${_vh}" _vlines REGEX "#define TORCH_VERSION_(MAJOR|MINOR|PATCH) ")
set(_tv_major 0)
set(_tv_minor 0)
set(_tv_patch 0)
foreach(_l IN LISTS _vlines)
  if(_l MATCHES "TORCH_VERSION_MAJOR ([0-9]+)")
    set(_tv_major ${CMAKE_MATCH_1})
  elseif(_l MATCHES "TORCH_VERSION_MINOR ([0-9]+)")
    set(_tv_minor ${CMAKE_MATCH_1})
  elseif(_l MATCHES "TORCH_VERSION_PATCH ([0-9]+)")
    set(_tv_patch ${CMAKE_MATCH_1})
  endif()
endforeach()
set(DPOWB_TORCH_VERSION "${_tv_major}.${_tv_minor}.${_tv_patch}")
if(DPOWB_TORCH_VERSION VERSION_LESS "${_pin_major}.${_pin_minor}")
  message(FATAL_ERROR "LibTorch ${DPOWB_TORCH_VERSION} in ${DPOWB_TORCH_ROOT} is older than ${_pin_major}.${_pin_minor} "
                      "(the pinned torch ${DPOWB_TORCH_PIN}); run scripts/install-deps.sh to install the pinned "
                      "wheel, or pass -DDPOWB_TORCH_ROOT=DIR of LibTorch ${_pin_major}.${_pin_minor} or newer.")
endif()

# C++ ABI (_GLIBCXX_USE_CXX11_ABI): a library built with the old std::string cannot be mixed with
# one built with the new; the symptom otherwise is an undefined reference at link time or a crash.
# A shared library's ABI shows in its exported symbols (std::__cxx11:: appears only in the new one).
find_program(DPOWB_NM NAMES nm REQUIRED)
function(dpowb_library_abi lib out)
  set(_dyn -D)
  if(lib MATCHES "\\.a$")  # a static archive: its objects' symbol tables
    set(_dyn "")
  endif()
  execute_process(COMMAND "${DPOWB_NM}" ${_dyn} --defined-only "${lib}" OUTPUT_VARIABLE _syms ERROR_QUIET)
  if(_syms MATCHES "cxx11")
    set(${out} 1 PARENT_SCOPE)
  elseif(_syms MATCHES "(RK|P|N|E)Ss")
    set(${out} 0 PARENT_SCOPE)
  else()
    set(${out} "" PARENT_SCOPE)  # no std::string in its interface: either is fine
  endif()
endfunction()
dpowb_library_abi("${DPOWB_TORCH_ROOT}/lib/libc10.so" DPOWB_TORCH_CXX11_ABI)
if(DPOWB_TORCH_CXX11_ABI STREQUAL "")
  message(FATAL_ERROR "cannot tell the C++ ABI of ${DPOWB_TORCH_ROOT}/lib/libc10.so (is `nm` working?)")
endif()
include(CheckCXXSourceCompiles)
set(CMAKE_REQUIRED_QUIET ON)
check_cxx_source_compiles("#include <string>
#if !_GLIBCXX_USE_CXX11_ABI
#error old ABI
#endif
int main() { return 0; }" DPOWB_COMPILER_CXX11_ABI)
set(_compiler_abi 0)
if(DPOWB_COMPILER_CXX11_ABI)
  set(_compiler_abi 1)
endif()
if(NOT _compiler_abi EQUAL DPOWB_TORCH_CXX11_ABI)
  message(FATAL_ERROR "C++ ABI mismatch: LibTorch in ${DPOWB_TORCH_ROOT} uses _GLIBCXX_USE_CXX11_ABI="
                      "${DPOWB_TORCH_CXX11_ABI}, this compiler's default (and so Debian's Qt and SQLiteCpp) is "
                      "${_compiler_abi}. Use the PyPI torch >= 2.7 wheel (new ABI only) through "
                      "scripts/install-deps.sh, or a LibTorch built with the compiler's ABI.")
endif()

add_library(dpowb_torch INTERFACE)
target_include_directories(dpowb_torch SYSTEM INTERFACE "${DPOWB_TORCH_ROOT}/include"
                                                        "${DPOWB_TORCH_ROOT}/include/torch/csrc/api/include")
target_link_libraries(dpowb_torch INTERFACE "${DPOWB_TORCH_ROOT}/lib/libtorch_cpu.so"
                                            "${DPOWB_TORCH_ROOT}/lib/libc10.so" Threads::Threads ${CMAKE_DL_LIBS})
target_compile_definitions(dpowb_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=${DPOWB_TORCH_CXX11_ABI})
message(STATUS "LibTorch ${DPOWB_TORCH_VERSION} (CPU libraries linked; CUDA loaded at run time when present): "
               "${DPOWB_TORCH_ROOT} (C++11 ABI ${DPOWB_TORCH_CXX11_ABI})")

# Every other C++ library whose interface carries std::string must agree with LibTorch.
function(dpowb_check_abi what lib)
  if(NOT EXISTS "${lib}")
    return()
  endif()
  dpowb_library_abi("${lib}" _abi)
  if(NOT _abi STREQUAL "" AND NOT _abi EQUAL DPOWB_TORCH_CXX11_ABI)
    message(FATAL_ERROR "C++ ABI mismatch: ${what} (${lib}) uses _GLIBCXX_USE_CXX11_ABI=${_abi}, LibTorch "
                        "(${DPOWB_TORCH_ROOT}) uses ${DPOWB_TORCH_CXX11_ABI}; build both with the same ABI.")
  endif()
  if(_abi STREQUAL "")
    set(_abi "none (no std::string in its symbols)")
  endif()
  message(STATUS "C++ ABI of ${what}: ${_abi} (agrees with LibTorch)")
endfunction()
