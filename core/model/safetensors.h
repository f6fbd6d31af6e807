// safetensors files: reading by memory-mapping with full validation, and writing.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON header
// ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}), then the
// data; offsets are relative to the start of the data.
//
// A checkpoint is one model.safetensors or a sharded set listed by
// model.safetensors.index.json ({"weight_map": {tensor: file}}).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/safetensors_header.h"

namespace dpowb::model {

// torch type for a safetensors dtype name; throws dpowb::Error for an unknown one.
torch::ScalarType scalarTypeFromSafetensors(const std::string& dtype);
std::string safetensorsDtypeName(torch::ScalarType type);

class SafetensorsFile {
public:
    // Maps and validates the file; throws dpowb::Error naming the file and the tensor/field.
    explicit SafetensorsFile(const std::string& path);

    const std::string& path() const { return path_; }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in file order
    const TensorInfo* find(const std::string& name) const;
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    // A CPU tensor over the mapped bytes (kept alive by the tensor); copied only when the
    // bytes are not aligned for the element type. Treat it as read-only: the mapping is
    // private, so writes would never reach the file.
    torch::Tensor tensor(const std::string& name) const;

private:
    struct Mapping;
    std::string path_;
    std::shared_ptr<Mapping> map_;
    uint64_t dataOffset_ = 0;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// A model folder's weights: model.safetensors or the shards of model.safetensors.index.json.
class Checkpoint {
public:
    // Throws dpowb::Error when the folder has only pickle checkpoints (they can run arbitrary
    // code when loaded) or no weights at all.
    static Checkpoint open(const std::string& folder);

    std::vector<std::string> names() const;  // sorted
    bool contains(const std::string& name) const { return where_.count(name) > 0; }
    const TensorInfo& info(const std::string& name) const;
    const std::string& fileOf(const std::string& name) const;
    torch::Tensor tensor(const std::string& name) const;

private:
    std::vector<std::shared_ptr<SafetensorsFile>> files_;
    std::map<std::string, size_t> where_;
};

// Writes a safetensors file (names sorted, tensors contiguous, header padded with spaces to a
// multiple of 8, "__metadata__" {"format": "pt"} plus `metadata`). Written to a temporary
// file and renamed, so a failure leaves no partial file behind.
void writeSafetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace dpowb::model
