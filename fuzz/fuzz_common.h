// Shared by the libFuzzer targets: a private scratch folder per process and the checks every
// refusal must pass (an error the CLI can print as one short, valid line).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/error_text.h"

namespace dpowb::fuzz {

// A folder of this process's own under $TMPDIR (libFuzzer's -fork/-jobs run several processes).
inline const std::filesystem::path& scratch() {
    static const std::filesystem::path dir = [] {
        const char* tmp = std::getenv("TMPDIR");
        std::filesystem::path d = std::filesystem::path(tmp && *tmp ? tmp : "/tmp") /
                                  ("dpowb-fuzz-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d;
    }();
    return dir;
}

// Writes the input to a file named `name` in the scratch folder and returns its path.
inline std::string writeInput(const std::string& name, const uint8_t* data, size_t size) {
    const std::string path = (scratch() / name).string();
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
    return path;
}

[[noreturn]] inline void finding(const std::string& what) {
    std::fprintf(stderr, "fuzz finding: %s\n", what.c_str());
    std::abort();
}

// The CLI prints oneLine(what()): it must be one printable line of valid UTF-8, bounded.
inline void checkErrorLine(const std::exception& e) {
    const std::string line = oneLine(e.what());
    if (line.size() > kMaxErrorLine) finding("error line of " + std::to_string(line.size()) + " bytes");
    for (unsigned char c : line)
        if (c < 0x20 || c == 0x7F) finding("control byte in the error line");
}

}  // namespace dpowb::fuzz
