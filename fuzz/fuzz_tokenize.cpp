// Encoding and decoding arbitrary input with real tokenizers (the fixtures of tests/data/text,
// found through $DPOWB_FUZZ_TOKENIZERS, plus the built-in byte tokenizer). The first byte picks
// the tokenizer and the operation; the rest is the text, or little-endian int32 ids.
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "text/tokenizer.h"

namespace {

std::vector<std::unique_ptr<dpowb::text::Tokenizer>>& tokenizers() {
    static std::vector<std::unique_ptr<dpowb::text::Tokenizer>> all = [] {
        std::vector<std::unique_ptr<dpowb::text::Tokenizer>> v;
        v.push_back(dpowb::text::Tokenizer::byteLevel());
        if (const char* dirs = std::getenv("DPOWB_FUZZ_TOKENIZERS")) {
            std::string list = dirs;
            size_t start = 0;
            while (start <= list.size()) {
                size_t end = list.find(':', start);
                if (end == std::string::npos) end = list.size();
                if (end > start) v.push_back(dpowb::text::Tokenizer::fromDir(list.substr(start, end - start)));
                start = end + 1;
            }
        }
        return v;
    }();
    return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    auto& all = tokenizers();
    const auto& tok = *all[(data[0] >> 2) % all.size()];
    const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        if ((data[0] & 3) != 3) {
            const auto ids = tok.encode(rest, data[0] & 1);
            for (auto id : ids)
                if (id < 0 || id >= tok.vocabSize()) dpowb::fuzz::finding("encode produced an id outside the vocabulary");
            const std::string back = tok.decode(ids, data[0] & 2);
            // The byte tokenizer is lossless on valid UTF-8.
            if (&tok == all[0].get() && !(data[0] & 3) && back != rest) {
                std::string valid = dpowb::oneLine(rest, std::string::npos);
                if (valid == rest) dpowb::fuzz::finding("byte tokenizer does not round-trip valid text");
            }
        } else {
            std::vector<dpowb::text::TokenId> ids(rest.size() / 4);
            if (!ids.empty()) std::memcpy(ids.data(), rest.data(), ids.size() * 4);
            (void)tok.decode(ids, false);
            (void)tok.decode(ids, true);
        }
    } catch (const dpowb::Error& e) {
        dpowb::fuzz::checkErrorLine(e);
    }
    return 0;
}
