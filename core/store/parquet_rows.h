// Parquet files (the form in which Hugging Face Hub datasets download) read as rows of JSON
// objects, so the import formats see Parquet records exactly as they see JSONL records.
// Implemented on Apache Arrow's C++ Parquet reader (the libraries of the pinned PyPI `pyarrow`
// wheel; docs/ARCHITECTURE.md, "Parquet"). Kept out of every other header: Arrow's headers
// need C++20 and take seconds to compile, so only parquet_rows.cpp includes them.
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace dpowb::store {

// True when the file starts with Parquet's magic bytes ("PAR1").
bool isParquetFile(const std::string& path);

// Calls `row` with each row (a JSON object: strings, numbers, booleans, null, lists and
// structs as arrays and objects) and its 1-based row number, one row group in memory at a
// time; stops when `row` returns false. Throws InputError(path, 0, "row N, column C: ...") for
// values it cannot read (invalid UTF-8, unsupported types) and Error for unreadable files.
void readParquetRows(const std::string& path, const std::function<bool(nlohmann::json& row, long rowNumber)>& row);

// The top-level column names.
std::vector<std::string> parquetColumns(const std::string& path);

}  // namespace dpowb::store
