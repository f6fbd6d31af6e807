// UTF-8 validation shared by every reader of untrusted text.
#pragma once

#include <cstddef>
#include <string_view>

namespace dpowb {

// Offset of the first byte that is not part of valid UTF-8 (overlongs, surrogates and code
// points above U+10FFFF count as invalid), or std::string_view::npos.
size_t invalidUtf8At(std::string_view s);

}  // namespace dpowb
