#include "text/bpe.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <queue>

#include "common/error.h"
#include "text/unicode.h"

namespace dpowb::text {

namespace {
constexpr uint64_t kEmpty = ~uint64_t{0};
// Ids above this are refused: a hostile file could otherwise make us allocate gigabytes.
constexpr TokenId kMaxTokenId = 16 * 1024 * 1024;
constexpr size_t kCacheMaxWords = 200'000;
constexpr size_t kCacheMaxWordBytes = 256;

inline size_t hashBytes(std::string_view s) { return std::hash<std::string_view>{}(s); }
inline uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}
size_t tableSizeFor(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    return cap;
}
}  // namespace

void VocabMap::build(const std::vector<std::pair<std::string, TokenId>>& entries) {
    keys_.clear();
    ids_.clear();
    keys_.reserve(entries.size());
    ids_.reserve(entries.size());
    size_t cap = tableSizeFor(entries.size());
    slots_.assign(cap, -1);
    mask_ = cap - 1;
    for (const auto& [key, id] : entries) {
        size_t h = hashBytes(key) & mask_;
        bool replaced = false;
        while (slots_[h] >= 0) {
            if (keys_[static_cast<size_t>(slots_[h])] == key) {
                ids_[static_cast<size_t>(slots_[h])] = id;
                replaced = true;
                break;
            }
            h = (h + 1) & mask_;
        }
        if (replaced) continue;
        slots_[h] = static_cast<int32_t>(keys_.size());
        keys_.push_back(key);
        ids_.push_back(id);
    }
}

std::optional<TokenId> VocabMap::find(std::string_view key) const {
    if (slots_.empty()) return std::nullopt;
    size_t h = hashBytes(key) & mask_;
    while (slots_[h] >= 0) {
        auto i = static_cast<size_t>(slots_[h]);
        if (keys_[i] == key) return ids_[i];
        h = (h + 1) & mask_;
    }
    return std::nullopt;
}

BpeModel::BpeModel(std::vector<std::pair<std::string, TokenId>> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options)
    : options_(std::move(options)) {
    TokenId maxId = -1;
    for (const auto& [tok, id] : vocab) {
        if (id < 0 || id > kMaxTokenId)
            throw Error("model.vocab: token \"" + tok + "\" has id " + std::to_string(id) +
                        ", outside 0.." + std::to_string(kMaxTokenId));
        maxId = std::max(maxId, id);
    }
    idToToken_.assign(static_cast<size_t>(maxId + 1), std::string());
    hasToken_.assign(static_cast<size_t>(maxId + 1), false);
    for (const auto& [tok, id] : vocab) {
        idToToken_[static_cast<size_t>(id)] = tok;
        hasToken_[static_cast<size_t>(id)] = true;
    }
    vocab_.build(vocab);

    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        auto id = vocab_.find(name);
        byteIds_[b] = id ? *id : -1;
    }
    if (options_.unkToken) {
        // Like the Hugging Face library, a missing unk token is an error only once it is needed.
        unkId_ = vocab_.find(*options_.unkToken);
    }

    size_t cap = tableSizeFor(merges.size());
    merges_.assign(cap, MergeEntry{kEmpty, 0, 0});
    mergeMask_ = cap - 1;
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const auto& [a, b] = merges[rank];
        auto ia = vocab_.find(a);
        auto ib = vocab_.find(b);
        auto im = vocab_.find(a + b);
        const std::string* missing = !ia ? &a : !ib ? &b : nullptr;
        std::string mergedText;
        if (!missing && !im) {
            mergedText = a + b;
            missing = &mergedText;
        }
        if (missing)
            throw Error("model.merges[" + std::to_string(rank) + "] (\"" + a + " " + b + "\"): token \"" +
                        *missing + "\" is not in the vocabulary");
        // A later duplicate overrides the earlier rank, as in the Hugging Face library.
        insertMerge(*ia, *ib, static_cast<uint32_t>(rank), *im);
    }
}

const std::string* BpeModel::idToToken(TokenId id) const {
    if (id < 0 || static_cast<size_t>(id) >= idToToken_.size() || !hasToken_[static_cast<size_t>(id)])
        return nullptr;
    return &idToToken_[static_cast<size_t>(id)];
}

void BpeModel::insertMerge(TokenId left, TokenId right, uint32_t rank, TokenId merged) {
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
    size_t h = mix(key) & mergeMask_;
    while (merges_[h].key != kEmpty && merges_[h].key != key) h = (h + 1) & mergeMask_;
    merges_[h] = MergeEntry{key, rank, merged};
}

const BpeModel::MergeEntry* BpeModel::findMerge(TokenId left, TokenId right) const {
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
    size_t h = mix(key) & mergeMask_;
    while (merges_[h].key != kEmpty) {
        if (merges_[h].key == key) return &merges_[h];
        h = (h + 1) & mergeMask_;
    }
    return nullptr;
}

void BpeModel::tokenize(std::string_view word, std::vector<TokenId>& out) const {
    if (word.empty()) return;
    if (options_.ignoreMerges) {
        if (auto id = vocab_.find(word)) {
            out.push_back(*id);
            return;
        }
    }
    bool cacheable = word.size() <= kCacheMaxWordBytes;
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cacheMutex_);
        auto it = cache_.find(std::string(word));
        if (it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    size_t before = out.size();
    tokenizeUncached(word, out);
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cacheMutex_);
        if (cache_.size() >= kCacheMaxWords) cache_.clear();
        cache_.emplace(std::string(word), std::vector<TokenId>(out.begin() + static_cast<std::ptrdiff_t>(before), out.end()));
    }
}

void BpeModel::tokenizeUncached(std::string_view word, std::vector<TokenId>& out) const {
    struct Symbol {
        TokenId id;
        int32_t prev;
        int32_t next;
        bool alive;
    };
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    auto add = [&](TokenId id) {
        auto n = static_cast<int32_t>(symbols.size());
        symbols.push_back(Symbol{id, n - 1, n + 1, true});
    };

    // Pending unknown token (fused runs of unknown characters collapse into one).
    bool pendingUnk = false;
    size_t i = 0;
    while (i < word.size()) {
        size_t len = std::min(unicode::seqLength(static_cast<unsigned char>(word[i])), word.size() - i);
        std::string_view ch = word.substr(i, len);
        i += len;
        if (auto id = vocab_.find(ch)) {
            if (pendingUnk) add(*unkId_), pendingUnk = false;
            add(*id);
            continue;
        }
        if (options_.byteFallback) {
            bool all = true;
            for (char c : ch) all &= byteIds_[static_cast<unsigned char>(c)] >= 0;
            if (all) {
                // The pending unknown is deliberately not flushed here: the Hugging Face
                // library emits it only when the next known character or the end comes.
                for (char c : ch) add(byteIds_[static_cast<unsigned char>(c)]);
                continue;
            }
        }
        if (options_.unkToken) {
            if (!unkId_)
                throw Error("the text needs the unknown token \"" + *options_.unkToken +
                            "\", which is not in the vocabulary");
            if (pendingUnk && !options_.fuseUnk) add(*unkId_);
            pendingUnk = true;
        }
    }
    if (pendingUnk) add(*unkId_);
    if (symbols.empty()) return;
    symbols.back().next = -1;

    // Lowest rank first, leftmost among equals: the order the Hugging Face library merges in.
    struct Candidate {
        uint32_t rank;
        int32_t pos;
        TokenId left, right, merged;
        bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
    for (size_t k = 0; k + 1 < symbols.size(); ++k) {
        if (const MergeEntry* m = findMerge(symbols[k].id, symbols[k + 1].id))
            queue.push(Candidate{m->rank, static_cast<int32_t>(k), symbols[k].id, symbols[k + 1].id, m->merged});
    }
    while (!queue.empty()) {
        Candidate top = queue.top();
        queue.pop();
        Symbol& left = symbols[static_cast<size_t>(top.pos)];
        if (!left.alive || left.next < 0) continue;
        Symbol& right = symbols[static_cast<size_t>(left.next)];
        // Stale when either side changed since the candidate was queued. (A symbol only grows
        // rightwards, so the same pair of ids means the same merge.)
        if (left.id != top.left || right.id != top.right) continue;
        left.id = top.merged;
        right.alive = false;
        left.next = right.next;
        if (left.next >= 0) symbols[static_cast<size_t>(left.next)].prev = top.pos;
        if (left.prev >= 0) {
            const Symbol& p = symbols[static_cast<size_t>(left.prev)];
            if (const MergeEntry* pm = findMerge(p.id, left.id))
                queue.push(Candidate{pm->rank, left.prev, p.id, left.id, pm->merged});
        }
        if (left.next >= 0) {
            const Symbol& n = symbols[static_cast<size_t>(left.next)];
            if (const MergeEntry* nm = findMerge(left.id, n.id))
                queue.push(Candidate{nm->rank, top.pos, left.id, n.id, nm->merged});
        }
    }
    for (const Symbol& s : symbols)
        if (s.alive) out.push_back(s.id);
}

}  // namespace dpowb::text
