#include "model/safetensors_header.h"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/error_text.h"
#include "common/json_input.h"

namespace dpowb::model {

using nlohmann::json;

namespace {

// A header nests: object > tensor object > shape array. A few levels more are tolerated.
constexpr size_t kMaxHeaderDepth = 8;

[[noreturn]] void failIn(const std::string& path, const std::string& what) { throw Error(path + ": " + what); }

// Offset of the first byte that is not part of valid UTF-8, or npos.
size_t firstInvalidUtf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (n == 0 || i + n > s.size()) return i;
        uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1Fu) : n == 3 ? (c & 0x0Fu) : (c & 0x07u);
        for (size_t k = 1; k < n; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            if ((b & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (b & 0x3Fu);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return i;
        i += n;
    }
    return std::string_view::npos;
}

}  // namespace

uint64_t safetensorsDtypeSize(const std::string& dtype) {
    static const std::map<std::string, uint64_t> sizes = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2},
                                                          {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1},
                                                          {"U8", 1},  {"BOOL", 1}};
    auto it = sizes.find(dtype);
    return it == sizes.end() ? 0 : it->second;
}

SafetensorsHeader parseSafetensorsHeader(const unsigned char* bytes, uint64_t fileSize, const std::string& path) {
    auto fail = [&](const std::string& what) { failIn(path, what); };
    if (fileSize < 8) fail("truncated: " + std::to_string(fileSize) + " bytes, shorter than the 8-byte header length");
    uint64_t headerLen = 0;
    for (int i = 7; i >= 0; --i) headerLen = (headerLen << 8) | bytes[i];
    if (headerLen > fileSize - 8)
        fail("header length " + std::to_string(headerLen) + " exceeds the file size (" + std::to_string(fileSize) +
             " bytes): truncated or not a safetensors file");
    if (headerLen > kMaxSafetensorsHeader)
        fail("header length " + std::to_string(headerLen) + " is above the 100 MB limit");
    SafetensorsHeader out;
    out.dataOffset = 8 + headerLen;
    const uint64_t dataSize = fileSize - out.dataOffset;
    const std::string_view text(reinterpret_cast<const char*>(bytes + 8), size_t(headerLen));
    if (size_t bad = firstInvalidUtf8(text); bad != std::string_view::npos)
        fail("header is not valid UTF-8 (byte " + std::to_string(8 + bad) + "): not a safetensors file");
    size_t deepAt = 0;
    if (jsonNestingDepth(text, kMaxHeaderDepth, &deepAt) > kMaxHeaderDepth)
        fail("header: JSON nested more than " + std::to_string(kMaxHeaderDepth) + " levels deep (byte " +
             std::to_string(8 + deepAt) + "): not a safetensors file");
    json header;
    try {
        header = json::parse(text.begin(), text.end());
    } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
        fail("header is not valid JSON (" + describeJsonError(e.what()) + ")");
    }
    if (!header.is_object()) fail("header is not a JSON object");

    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        const json& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) fail("\"__metadata__\" is not an object");
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string()) fail("\"__metadata__\" entry " + excerpt(m.key()) + " is not a string");
                out.metadata[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        auto bad = [&](const std::string& what) { failIn(path, "tensor " + excerpt(name, 120) + ": " + what); };
        if (!v.is_object()) bad("entry is not an object");
        if (!v.contains("dtype") || !v["dtype"].is_string()) bad("missing or non-string \"dtype\"");
        if (!v.contains("shape") || !v["shape"].is_array()) bad("missing or non-array \"shape\"");
        if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2 ||
            !v["data_offsets"][0].is_number_unsigned() || !v["data_offsets"][1].is_number_unsigned())
            bad("\"data_offsets\" must be two non-negative integers");
        TensorInfo t;
        t.name = name;
        t.dtype = v["dtype"].get<std::string>();
        const uint64_t elementSize = safetensorsDtypeSize(t.dtype);
        if (elementSize == 0)
            bad("unsupported dtype " + excerpt(t.dtype) + " (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
        const json& shape = v["shape"];
        if (shape.size() > kMaxTensorRank)
            bad("shape has " + std::to_string(shape.size()) + " dimensions; at most " + std::to_string(kMaxTensorRank) +
                " are accepted");
        t.begin = v["data_offsets"][0].get<uint64_t>();
        t.end = v["data_offsets"][1].get<uint64_t>();
        if (t.begin > t.end) bad("data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "] are reversed");
        if (t.end > dataSize)
            bad("byte range [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ") lies outside the " +
                std::to_string(dataSize) + " data bytes (file truncated?)");
        // Sizes are checked as the product grows, so it never overflows; a dimension above
        // 2^40 is refused outright (no tensor has one, and int64 shapes could not hold 2^63).
        constexpr uint64_t kMaxDimension = uint64_t(1) << 40;
        bool tooLarge = false;
        uint64_t elements = 1;
        for (const auto& d : shape) {
            if (!d.is_number_unsigned())
                bad("shape " + oneLine(shape.dump(), 80) + " has an entry that is not a non-negative integer");
            const uint64_t n = d.get<uint64_t>();
            if (n > kMaxDimension || (n != 0 && elements > std::numeric_limits<uint64_t>::max() / elementSize / n))
                tooLarge = true;
            else
                elements *= n;
            t.shape.push_back(int64_t(std::min(n, kMaxDimension)));
        }
        if (tooLarge)
            bad("shape " + oneLine(shape.dump(), 80) + " of " + t.dtype + " needs more than the file's " +
                std::to_string(dataSize) + " data bytes");
        if (elements * elementSize != t.end - t.begin)
            bad("shape " + oneLine(shape.dump(), 80) + " of " + t.dtype + " needs " + std::to_string(elements * elementSize) +
                " bytes but data_offsets span " + std::to_string(t.end - t.begin));
        out.tensors.push_back(std::move(t));
    }
    std::vector<const TensorInfo*> byOffset;
    for (const auto& t : out.tensors) byOffset.push_back(&t);
    std::sort(byOffset.begin(), byOffset.end(), [](const TensorInfo* a, const TensorInfo* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    // Sorted by start, a range overlaps an earlier one exactly when it starts before the
    // furthest end seen so far (empty ranges overlap nothing).
    const TensorInfo* furthest = nullptr;
    for (const TensorInfo* cur : byOffset) {
        if (cur->end == cur->begin) continue;
        if (furthest && cur->begin < furthest->end)
            fail("tensors " + excerpt(furthest->name, 120) + " and " + excerpt(cur->name, 120) +
                 " have overlapping byte ranges");
        if (!furthest || cur->end > furthest->end) furthest = cur;
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> parseSafetensorsIndex(std::string_view text, const std::string& path) {
    const json j = parseUntrustedJson(text, path);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw Error(path + ": field \"weight_map\": missing or not an object");
    std::vector<std::pair<std::string, std::string>> out;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        if (!it.value().is_string())
            throw Error(path + ": field \"weight_map\": entry " + excerpt(it.key(), 120) + " is not a file name");
        std::string file = it.value().get<std::string>();
        if (file.empty() || file.find('/') != std::string::npos || file == "." || file == ".." ||
            file.find('\0') != std::string::npos)
            throw Error(path + ": shard " + excerpt(file, 120) + " must be a file name inside the folder");
        out.emplace_back(it.key(), std::move(file));
    }
    return out;
}

}  // namespace dpowb::model
