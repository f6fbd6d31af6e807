// A fast path for parsing JSON into nlohmann::json, for the bulk readers (preference imports,
// tokenizer files). nlohmann's own parser reads one character at a time through an input
// adapter and appends string characters one by one; a preference record is mostly long strings,
// so that lexer was most of an import's parsing time. This parser scans strings eight bytes at
// a time and copies them whole, and builds the same nlohmann::json value.
//
// It does not report errors. On anything it does not accept (any syntax error, a number
// outside double's range, a byte-order mark, a NUL byte, which nlohmann takes for the end of the
// input, nesting deeper than kMaxJsonDepth) it returns
// false, and the caller parses the same text with nlohmann::json::parse, which then either
// throws its usual error or parses what this parser declined. So error messages stay those of
// the one reference parser, and the only promise this parser makes is:
//
//   parseJsonFast(text, out) == true  =>  out == nlohmann::json::parse(text), with the same
//   value type at every node (integer, unsigned, float), the same strings and the last of
//   duplicate keys, as nlohmann keeps.
//
// tests/common/tst_json_fast and fuzz/fuzz_json_fast check that promise against nlohmann.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace dpowb {

bool parseJsonFast(std::string_view text, nlohmann::json& out);

// The promise above, as the tests and the fuzz target check it: the same value type at every
// node (operator== calls 1, 1u and 1.0 equal), the same keys in order, floats bit for bit.
bool sameJson(const nlohmann::json& a, const nlohmann::json& b);

// parseJsonFast, or nlohmann::json::parse when it declines (which may throw nlohmann's
// exceptions, exactly as nlohmann::json::parse(text) would).
nlohmann::json parseJsonText(std::string_view text);

}  // namespace dpowb
