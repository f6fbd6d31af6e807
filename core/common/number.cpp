#include "common/number.h"

#include <cstdio>
#include <cstdlib>

namespace dpowb {

std::string numberText(double value) {
    char buf[40];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, value);
        if (std::strtod(buf, nullptr) == value) return buf;
    }
    return buf;  // nan (never equal to itself) ends here, printed as "nan"
}

}  // namespace dpowb
