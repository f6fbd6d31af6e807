// The safetensors header parser on arbitrary file contents (model/safetensors_header.h).
// Checks beyond "no crash": every accepted tensor's byte range lies inside the data and
// matches its shape, so the reader can never map past the file.
#include <cstdint>
#include <cstring>

#include "fuzz_common.h"
#include "model/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const auto h = dpowb::model::parseSafetensorsHeader(data, size, "fuzz.safetensors");
        if (h.dataOffset > size) dpowb::fuzz::finding("data offset past the end");
        const uint64_t dataSize = size - h.dataOffset;
        volatile uint8_t sink = 0;
        for (const auto& t : h.tensors) {
            if (t.begin > t.end || t.end > dataSize) dpowb::fuzz::finding("tensor range outside the data");
            uint64_t n = dpowb::model::safetensorsDtypeSize(t.dtype);
            if (n == 0) dpowb::fuzz::finding("unknown dtype accepted");
            for (int64_t d : t.shape) {
                if (d < 0) dpowb::fuzz::finding("negative dimension");
                n *= uint64_t(d);
            }
            if (n != t.end - t.begin) dpowb::fuzz::finding("shape does not match the range");
            if (t.end > t.begin) sink = sink + data[h.dataOffset + t.begin] + data[h.dataOffset + t.end - 1];
        }
    } catch (const dpowb::Error& e) {
        dpowb::fuzz::checkErrorLine(e);
    }
    return 0;
}
