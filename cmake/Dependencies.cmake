# Third-party libraries. All come from Debian packages except LibTorch and Arrow/Parquet, which
# come from the pinned PyPI torch and pyarrow wheels in scripts/install-deps.sh's virtual
# environment (cmake/LibTorch.cmake, cmake/Parquet.cmake); no third-party source is vendored.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(SQLiteCpp REQUIRED)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(OpenSSL 3 REQUIRED COMPONENTS Crypto)  # SHA-256 of the content hash
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)

# LibTorch as an interface target whose headers are SYSTEM (no warnings from them).
include(${CMAKE_CURRENT_LIST_DIR}/LibTorch.cmake)
get_target_property(_sqlitecpp_lib SQLiteCpp LOCATION)
dpowb_check_abi(SQLiteCpp "${_sqlitecpp_lib}")
include(${CMAKE_CURRENT_LIST_DIR}/Parquet.cmake)
get_target_property(_parquet_lib dpowb_parquet IMPORTED_LOCATION)
dpowb_check_abi("Arrow/Parquet" "${_parquet_lib}")

if(DPOWB_GUI)
  find_package(Qt6 6.2 REQUIRED COMPONENTS Core Gui Widgets Charts Svg Concurrent Test)
  qt_standard_project_setup()
  get_target_property(_qtcore_lib Qt6::Core LOCATION)
  dpowb_check_abi("Qt 6" "${_qtcore_lib}")
endif()
