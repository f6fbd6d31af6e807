// The safetensors header and the sharded index, parsed and validated without LibTorch (the
// fuzz targets and anything else that only inspects a checkpoint use this part alone).
//
// Layout: 8-byte little-endian header length N, N bytes of JSON header
// ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}), then the
// data; offsets are relative to the start of the data.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dpowb::model {

struct TensorInfo {
    std::string name;
    std::string dtype;  // safetensors spelling: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;  // byte range within the data section
};

// Limits checked before anything is allocated for a header.
constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;  // as the reference implementation
constexpr size_t kMaxTensorRank = 16;

struct SafetensorsHeader {
    uint64_t dataOffset = 0;          // 8 + header length
    std::vector<TensorInfo> tensors;  // in header order
    std::map<std::string, std::string> metadata;
};

// Bytes per element of a safetensors dtype name, 0 when unknown.
uint64_t safetensorsDtypeSize(const std::string& dtype);

// Validates the whole header of a file of `fileSize` bytes starting at `bytes` (at least 8
// bytes): length within the file and the limit, UTF-8 JSON object nested at most a few
// levels, known dtypes, shapes whose byte size matches their ranges, ranges inside the data
// and not overlapping. Throws dpowb::Error "PATH: ..." (tensor and field named).
SafetensorsHeader parseSafetensorsHeader(const unsigned char* bytes, uint64_t fileSize, const std::string& path);

// model.safetensors.index.json: (tensor, shard file name) in file order; every shard is a
// plain file name inside the folder. Throws dpowb::Error "PATH: ...".
std::vector<std::pair<std::string, std::string>> parseSafetensorsIndex(std::string_view text, const std::string& path);

}  // namespace dpowb::model
