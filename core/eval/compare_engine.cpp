#include "eval/compare_engine.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace dpowb::eval {

namespace {

Progress progressOf(const std::atomic<bool>* cancel, const std::function<void(int64_t, int64_t)>& report = {}) {
    Progress p;
    p.cancel = cancel;
    if (report) p.report = [report](int64_t done, int64_t total, const std::string&) { report(done, total); };
    return p;
}

PromptInput promptOf(const std::string& prompt, const std::vector<Message>& messages) {
    PromptInput in;
    if (messages.empty()) in.text = prompt;
    else in.messages = messages;
    return in;
}

// Two model pairs load the same networks and encode text the same way.
bool sameModels(const ModelPair& a, const ModelPair& b) {
    return a.policy == b.policy && a.reference == b.reference && a.policyAdapter == b.policyAdapter &&
           a.device == b.device && a.dtype == b.dtype && a.chatTemplate == b.chatTemplate &&
           a.maxLength == b.maxLength && a.maxPromptLength == b.maxPromptLength && a.keepEnd == b.keepEnd;
}

}  // namespace

std::string CompareSampling::toJson() const {
    const nlohmann::json o = {{"greedy", greedy},  {"temperature", greedy ? 0.0 : temperature},
                              {"top_k", topK},     {"top_p", topP},
                              {"max_new_tokens", maxNewTokens}, {"seed", seed}};
    return o.dump();
}

SamplingSettings CompareSampling::toCore() const {
    SamplingSettings s;
    s.maxNewTokens = maxNewTokens;
    s.temperature = greedy ? 0.0 : temperature;
    s.topK = topK;
    s.topP = topP;
    s.seed = seed;
    return s;
}

ScoredText CompareEngine::fromScore(const std::string& text, const CompletionScore& score) {
    ScoredText out;
    out.text = text;
    out.policyLogp = score.logpPolicy;
    out.referenceLogp = score.logpReference;
    out.tokens = score.tokens;
    static const std::string kReplacement = "\xEF\xBF\xBD";  // what a token holding part of a character decodes to

    // Each token's own decoded text is matched against the response text; the pieces are cut
    // from the response itself, so they always concatenate to it exactly.
    std::string pending;  // decoded text of the tokens not yet placed
    double accPolicy = 0, accReference = 0;
    size_t consumed = 0;  // bytes of `text` already covered by pieces
    auto flush = [&](size_t end) {
        out.pieces.push_back(text.substr(consumed, end - consumed));
        out.policyPieceLogps.push_back(accPolicy);
        out.referencePieceLogps.push_back(accReference);
        accPolicy = accReference = 0;
        consumed = end;
        pending.clear();
    };
    auto charEnd = [&](size_t at) {  // the next character boundary at or after `at`
        while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) ++at;
        return std::min(at, text.size());
    };
    for (const TokenScore& t : score.perToken) {
        accPolicy += t.logpPolicy;
        accReference += t.logpReference;
        if (consumed >= text.size()) continue;  // past the text (EOS, end of turn): the end piece
        pending += t.text;
        if (text.compare(consumed, pending.size(), pending) == 0) {
            flush(consumed + pending.size());
            continue;
        }
        const size_t broken = pending.rfind(kReplacement);
        if (broken != std::string::npos) {
            // Bytes of a character split across tokens: wait for text after the last broken
            // character, then the piece runs up to the end of that text.
            const std::string after = pending.substr(broken + kReplacement.size());
            if (after.empty()) continue;
            const size_t at = text.find(after, consumed);
            if (at != std::string::npos) flush(at + after.size());
            continue;
        }
        // A tokenizer whose tokens decode differently alone (SentencePiece's leading space):
        // find the token's text just ahead, else take as many bytes.
        const size_t at = text.find(pending, consumed);
        if (at != std::string::npos && at <= consumed + 4) flush(at + pending.size());
        else flush(charEnd(std::min(text.size(), consumed + pending.size())));
    }
    if (consumed < text.size()) flush(text.size());
    if (accPolicy != 0 || accReference != 0) {
        consumed = text.size();
        flush(text.size());  // an empty piece: the tokens after the text
    }
    return out;
}

struct CompareEngine::Impl {
    std::unique_ptr<Comparer> comparer;
};

CompareEngine::CompareEngine() : d_(std::make_unique<Impl>()) {}
CompareEngine::~CompareEngine() = default;

void CompareEngine::load(const ModelPair& models, const std::atomic<bool>* cancel) {
    if (d_->comparer && sameModels(d_->comparer->models(), models)) return;
    d_->comparer.reset();  // the old pair of models goes before the new one arrives
    d_->comparer = std::make_unique<Comparer>(models, cancel);
}

bool CompareEngine::loaded() const { return d_->comparer != nullptr; }

Comparer& CompareEngine::comparer() {
    if (!d_->comparer) throw Error("compare: no models loaded");
    return *d_->comparer;
}
const ModelPair* CompareEngine::models() const { return d_->comparer ? &d_->comparer->models() : nullptr; }

ScoredText CompareEngine::generate(Side side, const std::string& prompt, const std::vector<Message>& messages,
                                   const CompareSampling& settings, int sampleIndex,
                                   const std::function<void(const std::string&)>& onPiece,
                                   const std::atomic<bool>* cancel) {
    if (!d_->comparer) throw Error("compare: no models loaded");
    PieceCallback cb;
    if (onPiece) cb = [&onPiece](const std::string&, int, const std::string& piece) { onPiece(piece); };
    const PromptInput in = promptOf(prompt, messages);
    // The core adds the sample index to the seed, as seedFor() does.
    Completion c = d_->comparer->generateOne(in, settings.toCore(), side == Side::Policy ? "policy" : "reference",
                                                    sampleIndex, cb, progressOf(cancel));
    ScoredText out;
    if (c.finishReason == "cancelled") {
        out.text = c.text;
        out.pieces = {c.text};
        out.policyPieceLogps = out.referencePieceLogps = {0.0};
    } else {
        // Scored on the very ids generated (EOS included when it ended the text).
        out = fromScore(c.text, d_->comparer->scoreIds(in, c.ids));
    }
    out.ids = std::move(c.ids);
    out.finishReason = c.finishReason;
    return out;
}

ScoredPair CompareEngine::scorePair(const std::string& prompt, const std::vector<Message>& messages,
                                    const std::string& responseA, const std::string& responseB) {
    if (!d_->comparer) throw Error("compare: no models loaded");
    const PromptInput in = promptOf(prompt, messages);
    ScoredPair p;
    p.a = fromScore(responseA, d_->comparer->score(in, responseA));
    p.b = fromScore(responseB, d_->comparer->score(in, responseB));
    return p;
}

std::vector<PairMargin> CompareEngine::scorePairs(const std::vector<store::Pair>& pairs,
                                                         const std::function<void(int64_t, int64_t)>& progress,
                                                         const std::atomic<bool>* cancel) {
    if (!d_->comparer) throw Error("compare: no models loaded");
    return d_->comparer->scorePairs(pairs, 8, progressOf(cancel, progress));
}

}  // namespace dpowb::eval
