// Parquet rows as JSON objects, on Apache Arrow's C++ reader. Compiled as C++20 (Arrow's
// headers need it); nothing of Arrow leaks out of this file.
#include "store/parquet_rows.h"

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <parquet/arrow/reader.h>
#include <parquet/exception.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/utf8.h"

namespace dpowb::store {

using nlohmann::json;

namespace {

// Nesting beyond this is not a preference record (and would recurse without bound).
constexpr int kMaxDepth = 64;

class RowConverter {
public:
    RowConverter(const std::string& path, long row, const std::string& column)
        : path_(path), row_(row), column_(column) {}

    json value(const arrow::Array& a, int64_t i, int depth) {
        if (depth > kMaxDepth) fail("nested more than " + std::to_string(kMaxDepth) + " levels deep");
        if (a.IsNull(i)) return nullptr;
        switch (a.type_id()) {
            case arrow::Type::NA: return nullptr;
            case arrow::Type::BOOL: return static_cast<const arrow::BooleanArray&>(a).Value(i);
            case arrow::Type::INT8: return int64_t(static_cast<const arrow::Int8Array&>(a).Value(i));
            case arrow::Type::INT16: return int64_t(static_cast<const arrow::Int16Array&>(a).Value(i));
            case arrow::Type::INT32: return int64_t(static_cast<const arrow::Int32Array&>(a).Value(i));
            case arrow::Type::INT64: return int64_t(static_cast<const arrow::Int64Array&>(a).Value(i));
            case arrow::Type::UINT8: return uint64_t(static_cast<const arrow::UInt8Array&>(a).Value(i));
            case arrow::Type::UINT16: return uint64_t(static_cast<const arrow::UInt16Array&>(a).Value(i));
            case arrow::Type::UINT32: return uint64_t(static_cast<const arrow::UInt32Array&>(a).Value(i));
            case arrow::Type::UINT64: return uint64_t(static_cast<const arrow::UInt64Array&>(a).Value(i));
            case arrow::Type::FLOAT: return double(static_cast<const arrow::FloatArray&>(a).Value(i));
            case arrow::Type::DOUBLE: return static_cast<const arrow::DoubleArray&>(a).Value(i);
            case arrow::Type::STRING: return text(static_cast<const arrow::StringArray&>(a).GetView(i));
            case arrow::Type::LARGE_STRING: return text(static_cast<const arrow::LargeStringArray&>(a).GetView(i));
            case arrow::Type::STRING_VIEW: return text(static_cast<const arrow::StringViewArray&>(a).GetView(i));
            case arrow::Type::BINARY: return text(static_cast<const arrow::BinaryArray&>(a).GetView(i));
            case arrow::Type::LARGE_BINARY: return text(static_cast<const arrow::LargeBinaryArray&>(a).GetView(i));
            case arrow::Type::DATE32: return int64_t(static_cast<const arrow::Date32Array&>(a).Value(i));
            case arrow::Type::DATE64: return int64_t(static_cast<const arrow::Date64Array&>(a).Value(i));
            case arrow::Type::TIMESTAMP: return int64_t(static_cast<const arrow::TimestampArray&>(a).Value(i));
            case arrow::Type::LIST: return list(static_cast<const arrow::ListArray&>(a), i, depth);
            case arrow::Type::LARGE_LIST: return list(static_cast<const arrow::LargeListArray&>(a), i, depth);
            case arrow::Type::FIXED_SIZE_LIST: {
                const auto& l = static_cast<const arrow::FixedSizeListArray&>(a);
                json out = json::array();
                for (int64_t k = l.value_offset(i), e = k + l.value_length(i); k < e; ++k)
                    out.push_back(value(*l.values(), k, depth + 1));
                return out;
            }
            case arrow::Type::STRUCT: {
                const auto& s = static_cast<const arrow::StructArray&>(a);
                json out = json::object();
                for (int f = 0; f < s.num_fields(); ++f)
                    out[s.struct_type()->field(f)->name()] = value(*s.field(f), i, depth + 1);
                return out;
            }
            case arrow::Type::MAP: {
                const auto& m = static_cast<const arrow::MapArray&>(a);
                json out = json::object();
                for (int64_t k = m.value_offset(i), e = m.value_offset(i + 1); k < e; ++k) {
                    json key = value(*m.keys(), k, depth + 1);
                    if (!key.is_string()) fail("a map with keys that are not strings");
                    out[key.get<std::string>()] = value(*m.items(), k, depth + 1);
                }
                return out;
            }
            case arrow::Type::DICTIONARY: {
                const auto& d = static_cast<const arrow::DictionaryArray&>(a);
                return value(*d.dictionary(), d.GetValueIndex(i), depth + 1);
            }
            default:
                fail("values of type " + a.type()->ToString() +
                     " cannot be read as preference data (text, numbers, lists and structs can)");
        }
    }

private:
    template <class ListT>
    json list(const ListT& l, int64_t i, int depth) {
        json out = json::array();
        for (auto k = l.value_offset(i), e = l.value_offset(i + 1); k < e; ++k)
            out.push_back(value(*l.values(), int64_t(k), depth + 1));
        return out;
    }
    json text(std::string_view v) {
        size_t bad = invalidUtf8At(v);
        if (bad != std::string_view::npos) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02X", unsigned(static_cast<unsigned char>(v[bad])));
            fail("invalid UTF-8 (byte " + std::string(hex) + " at offset " + std::to_string(bad) +
                 "); re-encode the column as UTF-8 text");
        }
        return std::string(v);
    }
    [[noreturn]] void fail(const std::string& what) {
        throw InputError(path_, 0, "row " + std::to_string(row_) + ", column \"" + column_ + "\": " + what);
    }
    const std::string& path_;
    long row_;
    const std::string& column_;
};

template <class T>
T orThrow(arrow::Result<T> r, const std::string& path) {
    if (!r.ok())
        throw Error(path + ": cannot read the Parquet file (" + r.status().message() +
                    "); is it complete? Hugging Face downloads end in .parquet once finished");
    return std::move(r).ValueOrDie();
}

void check(const arrow::Status& s, const std::string& path) {
    if (!s.ok()) throw Error(path + ": cannot read the Parquet file (" + s.message() + ")");
}

std::unique_ptr<parquet::arrow::FileReader> open(const std::string& path) {
    auto in = orThrow(arrow::io::ReadableFile::Open(path), path);
    try {
        return orThrow(parquet::arrow::OpenFile(in, arrow::default_memory_pool()), path);
    } catch (const parquet::ParquetException& e) {
        throw Error(path + ": cannot read the Parquet file (" + e.what() + ")");
    }
}

}  // namespace

bool isParquetFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    return in.read(magic, 4) && std::memcmp(magic, "PAR1", 4) == 0;
}

std::vector<std::string> parquetColumns(const std::string& path) {
    auto reader = open(path);
    std::shared_ptr<arrow::Schema> schema;
    check(reader->GetSchema(&schema), path);
    return schema->field_names();
}

void readParquetRows(const std::string& path, const std::function<bool(json& row, long rowNumber)>& sink) {
    auto reader = open(path);
    long rowNumber = 0;
    try {
        for (int g = 0; g < reader->num_row_groups(); ++g) {
            std::shared_ptr<arrow::Table> table = orThrow(reader->ReadRowGroup(g), path);
            const auto& names = table->schema()->field_names();
            // One array per column (a row group read at once is normally one chunk; combine
            // otherwise so each row is one index into each column).
            std::vector<std::shared_ptr<arrow::Array>> columns;
            for (int c = 0; c < table->num_columns(); ++c) {
                auto chunked = table->column(c);
                if (chunked->num_chunks() == 1) {
                    columns.push_back(chunked->chunk(0));
                } else {
                    auto combined = orThrow(arrow::Concatenate(chunked->chunks()), path);
                    columns.push_back(combined);
                }
            }
            for (int64_t r = 0; r < table->num_rows(); ++r) {
                ++rowNumber;
                json row = json::object();
                for (size_t c = 0; c < columns.size(); ++c) {
                    RowConverter conv(path, rowNumber, names[c]);
                    row[names[c]] = conv.value(*columns[c], r, 0);
                }
                if (!sink(row, rowNumber)) return;
            }
        }
    } catch (const parquet::ParquetException& e) {
        throw Error(path + ": cannot read the Parquet file (" + e.what() + ")");
    }
}

}  // namespace dpowb::store
