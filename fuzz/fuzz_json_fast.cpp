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

bool identical(const json& a, const json& b) {
    if (a.type() != b.type()) return false;
    switch (a.type()) {
        case json::value_t::object: {
            if (a.size() != b.size()) return false;
            for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j)
                if (i.key() != j.key() || !identical(*i, *j)) return false;
            return true;
        }
        case json::value_t::array:
            if (a.size() != b.size()) return false;
            for (size_t k = 0; k < a.size(); ++k)
                if (!identical(a[k], b[k])) return false;
            return true;
        case json::value_t::number_float: {
            const double x = a.get<double>(), y = b.get<double>();
            return std::memcmp(&x, &y, sizeof x) == 0;
        }
        default: return a == b;
    }
}

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
    if (accepted && !identical(fast, reference)) dpowb::fuzz::finding("a value other than nlohmann's");
    // Valid text may be declined only for a byte-order mark, for a NUL byte (nlohmann's lexer
    // takes one for the end of the input and ignores what follows), or for a float that
    // underflows (from_chars reports it out of range; nlohmann's strtod makes it 0 or a subnormal).
    if (!accepted && valid && text.compare(0, 3, "\xEF\xBB\xBF") != 0 &&
        text.find('\0') == std::string_view::npos && !hasTinyFloat(reference))
        dpowb::fuzz::finding("declined valid JSON");
    return 0;
}
