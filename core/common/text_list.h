// Comma-separated option values ("q_proj, v_proj", "sigmoid,bco_pair,sft", "0.8,0.2,1").
#pragma once

#include <string>
#include <vector>

namespace dpowb {

// The items between commas, spaces and tabs trimmed from each, empty ones kept (so that a
// caller can refuse "a,,b" or drop them). "" gives one empty item.
std::vector<std::string> splitCommaList(const std::string& list);

// The same with the empty items left out ("" gives none).
std::vector<std::string> commaListItems(const std::string& list);

}  // namespace dpowb
