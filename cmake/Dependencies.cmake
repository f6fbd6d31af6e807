# Third-party libraries. All come from Debian packages (or, for a GPU build, from a
# CUDA LibTorch given through CMAKE_PREFIX_PATH); no third-party source is vendored.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(SQLiteCpp REQUIRED)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(ZLIB REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)

find_package(Torch REQUIRED)
# LibTorch as an imported target whose headers are SYSTEM (no warnings from them).
add_library(dpowb_torch INTERFACE)
target_link_libraries(dpowb_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(dpowb_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
if(TORCH_CXX_FLAGS)
  separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  target_compile_options(dpowb_torch INTERFACE ${_torch_flags})
endif()

if(DPOWB_GUI)
  find_package(Qt6 6.2 REQUIRED COMPONENTS Core Gui Widgets Charts Svg Concurrent Test)
  qt_standard_project_setup()
endif()
