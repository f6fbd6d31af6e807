// tokenizer.json loading on arbitrary bytes; a file that loads then encodes and decodes a few
// texts (ASCII, multi-byte, invalid UTF-8, its own special tokens) and every id around its
// vocabulary's edges.
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::unique_ptr<dpowb::text::Tokenizer> tok;
    try {
        tok = dpowb::text::Tokenizer::fromJsonText(std::string(reinterpret_cast<const char*>(data), size),
                                                   "fuzz/tokenizer.json");
    } catch (const dpowb::Error& e) {
        dpowb::fuzz::checkErrorLine(e);
        return 0;
    }
    try {
        static const char* texts[] = {"", "Hello world", "  two  spaces\n\ttab", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
                                      "\xFF\xFE broken \xC3", "<|endoftext|><s></s>[INST]", "123 4567 89"};
        for (const char* t : texts) {
            for (bool special : {false, true}) {
                const auto ids = tok->encode(t, special);
                for (auto id : ids)
                    if (id < 0 || id >= tok->vocabSize()) dpowb::fuzz::finding("encode produced an id outside the vocabulary");
                (void)tok->decode(ids, false);
                (void)tok->decode(ids, true);
            }
        }
        const auto v = tok->vocabSize();
        std::vector<dpowb::text::TokenId> edges = {-1, 0, 1, dpowb::text::TokenId(v - 1), dpowb::text::TokenId(v),
                                                   dpowb::text::TokenId(v + 1), 2147483647};
        (void)tok->decode(edges, false);
        for (auto id : edges) (void)tok->idToToken(id);
    } catch (const dpowb::Error& e) {
        dpowb::fuzz::checkErrorLine(e);
    }
    return 0;
}
