// Numbers in messages, as the user would have typed them.
#pragma once

#include <string>

namespace dpowb {

// The shortest text that reads back as the same double: "-1", "0.1", "1e-06", "nan" — never
// std::to_string's "-1.000000". For error messages that quote a value back to the user.
std::string numberText(double value);

}  // namespace dpowb
