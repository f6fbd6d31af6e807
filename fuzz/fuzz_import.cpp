// The import formats (store/formats.h) on arbitrary bytes: the first byte picks the --format
// (auto, trl, ..., csv), the second the file name's extension (.jsonl, .json, .csv,
// .jsonl.gz), the rest is the file. Each input is previewed, then imported into a project of
// this process: an import either fails with dpowb::Error and leaves the project as it was, or
// adds what it reported.
#include <string>

#include "fuzz_common.h"
#include "store/formats.h"
#include "store/project.h"

using namespace dpowb::store;

namespace {

Project& project() {
    static Project p = [] {
        const std::string path = (dpowb::fuzz::scratch() / "import.db").string();
        std::filesystem::remove(path);
        return Project::create(path);
    }();
    return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const auto& formats = importFormats();
    static const char* extensions[] = {".jsonl", ".json", ".csv", ".jsonl.gz"};
    const std::string format = formats[data[0] % formats.size()];
    const std::string path = dpowb::fuzz::writeInput(std::string("input") + extensions[data[1] % 4], data + 2, size - 2);
    try {
        (void)previewFile(path, format, 20);
    } catch (const dpowb::Error& e) {
        dpowb::fuzz::checkErrorLine(e);
    }
    Project& p = project();
    const int64_t before = p.countPairs({});
    ImportOptions options;
    options.format = format;
    options.updateSearchIndex = false;
    try {
        const ImportResult r = importFile(p, path, options);
        if (p.countPairs({}) != before + r.inserted) dpowb::fuzz::finding("import added other than it reported");
    } catch (const dpowb::Error& e) {
        dpowb::fuzz::checkErrorLine(e);
        if (p.countPairs({}) != before) dpowb::fuzz::finding("a failed import changed the project");
    }
    return 0;
}
