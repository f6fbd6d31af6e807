// The fast JSON path (common/json_fast.h) against nlohmann::json::parse, its reference, on
// arbitrary bytes: whatever parseJsonFast accepts, nlohmann must parse to the identical value
// (the same type at every node, numbers bit for bit); whatever nlohmann parses within the
// nesting limit, parseJsonFast may decline only for the documented reasons (a byte-order mark,
// a NUL byte, a float that underflows).
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/json_fast.h"
#include "common/json_input.h"
#include "fuzz_common.h"

using nlohmann::json;

namespace {

bool hasTinyFloat(const json& v) {
    if (v.is_number_float()) return std::fabs(v.get<double>()) < DBL_MIN;
    for (const auto& item : v)
        if ((item.is_structured() || item.is_number_float()) && hasTinyFloat(item)) return true;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (dpowb::jsonNestingDepth(text, dpowb::kMaxJsonDepth) > dpowb::kMaxJsonDepth) return 0;
    json fast;
    const bool accepted = dpowb::parseJsonFast(text, fast);
    json reference;
    bool valid = true;
    try {
        reference = json::parse(text.begin(), text.end());
    } catch (const json::exception&) {
        valid = false;
    }
    if (accepted && !valid) dpowb::fuzz::finding("accepted what nlohmann refuses");
    if (accepted && !dpowb::sameJson(fast, reference)) dpowb::fuzz::finding("a value other than nlohmann's");
    // Valid text may be declined only for a byte-order mark, for a NUL byte (nlohmann's lexer
    // takes one for the end of the input and ignores what follows), or for a float that
    // underflows (from_chars reports it out of range; nlohmann's strtod makes it 0 or a subnormal).
    if (!accepted && valid && text.compare(0, 3, "\xEF\xBB\xBF") != 0 &&
        text.find('\0') == std::string_view::npos && !hasTinyFloat(reference))
        dpowb::fuzz::finding("declined valid JSON");
    return 0;
}
