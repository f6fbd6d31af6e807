// Whole-file reads and writes that never leave a partial file behind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace dpowb {

// The file's bytes; throws dpowb::Error naming the file when it cannot be read.
std::string readFile(const std::filesystem::path& path);

// The same, refusing (before reading) a file larger than maxBytes: "PATH: N bytes; a ... file
// is at most M bytes".
std::string readFile(const std::filesystem::path& path, uintmax_t maxBytes);

// Writes `content` to PATH.tmp and renames it over `path`: a failure (disk full, no
// permission) leaves the old file, or none, and no temporary. Throws dpowb::Error naming `path`.
void writeFileAtomic(const std::filesystem::path& path, const std::string& content);

}  // namespace dpowb
