// model.safetensors.index.json on arbitrary bytes: accepted shard names never leave the folder.
#include <string_view>

#include "fuzz_common.h"
#include "model/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const auto entries = dpowb::model::parseSafetensorsIndex(
            std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.index.json");
        for (const auto& [tensor, file] : entries)
            if (file.empty() || file.find('/') != std::string::npos || file == "..")
                dpowb::fuzz::finding("shard name outside the folder accepted");
    } catch (const dpowb::Error& e) {
        dpowb::fuzz::checkErrorLine(e);
    }
    return 0;
}
