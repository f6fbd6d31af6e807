#include "common/number.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace dpowb {

std::string numberText(double value) {
    char buf[40];
    // Whole numbers as integers: %g's shortest round trip of 60 is "6e+01".
    if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
        std::snprintf(buf, sizeof buf, "%.0f", value);
        return buf;
    }
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, value);
        if (std::strtod(buf, nullptr) == value) return buf;
    }
    return buf;  // nan (never equal to itself) ends here, printed as "nan"
}

}  // namespace dpowb
