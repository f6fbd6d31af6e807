// The BPE model of a Hugging Face tokenizer.json: vocabulary, ranked merges, byte fallback,
// unknown-token fusing and `ignore_merges`, with a word -> ids cache. Internal to core/text.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "text/tokenizer.h"

namespace dpowb::text {

// Open-addressing map from token text to id; lookups take a string_view, so the hot path
// never builds a std::string.
class VocabMap {
public:
    void build(const std::vector<std::pair<std::string, TokenId>>& entries);
    std::optional<TokenId> find(std::string_view key) const;
    size_t size() const { return keys_.size(); }

private:
    std::vector<std::string> keys_;
    std::vector<TokenId> ids_;
    std::vector<int32_t> slots_;  // index into keys_, -1 when empty
    size_t mask_ = 0;
};

struct BpeOptions {
    bool byteFallback = false;
    bool fuseUnk = false;
    bool ignoreMerges = false;
    std::optional<std::string> unkToken;
};

class BpeModel {
public:
    // `vocab` maps token text to id; `merges` are (left, right) token texts in rank order.
    // Throws dpowb::Error (without a file name) when a merge names a token the vocabulary lacks.
    BpeModel(std::vector<std::pair<std::string, TokenId>> vocab,
             const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options);

    // Appends the ids of one pre-tokenized word.
    void tokenize(std::string_view word, std::vector<TokenId>& out) const;

    std::optional<TokenId> tokenToId(std::string_view token) const { return vocab_.find(token); }
    const std::string* idToToken(TokenId id) const;
    TokenId maxId() const { return static_cast<TokenId>(idToToken_.size()) - 1; }

private:
    struct MergeEntry {
        uint64_t key;  // (left id << 32) | right id; ~0 marks an empty slot
        uint32_t rank;
        TokenId merged;
    };
    const MergeEntry* findMerge(TokenId left, TokenId right) const;
    void insertMerge(TokenId left, TokenId right, uint32_t rank, TokenId merged);
    void tokenizeUncached(std::string_view word, std::vector<TokenId>& out) const;

    VocabMap vocab_;
    std::vector<std::string> idToToken_;
    std::vector<bool> hasToken_;
    std::vector<MergeEntry> merges_;
    size_t mergeMask_ = 0;
    BpeOptions options_;
    std::optional<TokenId> unkId_;
    TokenId byteIds_[256];

    // Words repeat heavily in text; HF keeps a similar cache.
    mutable std::mutex cacheMutex_;
    mutable std::unordered_map<std::string, std::vector<TokenId>> cache_;
};

}  // namespace dpowb::text
