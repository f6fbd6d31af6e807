// Where the dpowb binary under test is: $DPOWB_CLI, which CTest sets to the build's binary.
// Read at run time rather than compiled in, so that the suites' objects do not depend on the
// build folder: a second build folder (the GUI-less build of CI) gets them from ccache.
#pragma once

#include <cstdio>
#include <cstdlib>

// (At global scope: some suites name a helper function dpowb(), so no namespace dpowb here.)
inline const char* dpowbCliPath() {
    const char* path = std::getenv("DPOWB_CLI");
    if (path && *path) return path;
    std::fprintf(stderr, "DPOWB_CLI is not set: run the suites through ctest, or set it to the dpowb binary\n");
    std::exit(2);
}

#define DPOWB_CLI (::dpowbCliPath())
