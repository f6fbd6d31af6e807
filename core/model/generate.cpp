// Generation loop, logit processors and the incremental detokenizer (see generate.h).
#include "model/generate.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <unordered_set>

#include "common/error.h"
#include "common/files.h"
#include "common/json_input.h"
#include "model/logprobs.h"

namespace dpowb::model {

namespace {

constexpr const char* kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD
// How many prompt ids the detokenizer sees before the new ones; enough for any tokenizer's
// leading-space or byte-merging context.
constexpr size_t kStreamContext = 6;

bool endsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// True when the last bytes of `s` are the start of a multi-byte UTF-8 character whose
// continuation bytes have not arrived yet.
bool endsInsideUtf8Char(const std::string& s) {
    size_t n = s.size();
    for (size_t back = 1; back <= 4 && back <= n; ++back) {
        auto c = static_cast<unsigned char>(s[n - back]);
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
        size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        return back < need;
    }
    return false;
}

// Restores the module's training mode when generation ends (the trainer samples mid-run).
class EvalModeGuard {
public:
    explicit EvalModeGuard(torch::nn::Module& m) : m_(m), wasTraining_(m.is_training()) { m_.eval(); }
    ~EvalModeGuard() {
        if (wasTraining_) m_.train();
    }
    EvalModeGuard(const EvalModeGuard&) = delete;
    EvalModeGuard& operator=(const EvalModeGuard&) = delete;

private:
    torch::nn::Module& m_;
    bool wasTraining_;
};

// 53 random bits as a double in [0,1): the same on every platform for a given seed.
double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * (1.0 / 9007199254740992.0); }

}  // namespace

void applyRepetitionPenalty(torch::Tensor& logits, const std::vector<text::TokenId>& history,
                            double penalty) {
    if (penalty == 1.0 || history.empty()) return;
    const int64_t V = logits.size(-1);
    std::vector<int64_t> ids;
    std::unordered_set<text::TokenId> seen;
    for (auto id : history)
        if (id >= 0 && id < V && seen.insert(id).second) ids.push_back(id);
    auto index = torch::tensor(ids, torch::kInt64).to(logits.device());
    auto score = logits.index_select(-1, index);
    score = torch::where(score < 0, score * penalty, score / penalty);
    logits.index_copy_(-1, index, score);
}

torch::Tensor filterTopK(const torch::Tensor& logits, int64_t k) {
    if (k <= 0 || k >= logits.size(-1)) return logits;
    auto kth = std::get<0>(logits.topk(k, -1)).select(-1, k - 1).unsqueeze(-1);
    return logits.masked_fill(logits < kth, -std::numeric_limits<float>::infinity());
}

torch::Tensor filterTopP(const torch::Tensor& logits, double p) {
    if (p >= 1.0) return logits;
    TORCH_CHECK(logits.dim() == 1, "filterTopP expects a (V) tensor");
    auto probs = torch::softmax(logits.to(torch::kFloat64), -1);
    auto sorted = probs.sort(/*stable=*/true, /*dim=*/-1, /*descending=*/true);
    auto sortedProbs = std::get<0>(sorted);
    auto order = std::get<1>(sorted);
    // A token is kept when the mass of the tokens ranked above it is still below p: that is
    // exactly the smallest prefix whose mass reaches p.
    auto massBefore = sortedProbs.cumsum(-1) - sortedProbs;
    auto dropSorted = massBefore >= p;
    auto drop = torch::zeros_like(dropSorted).scatter(-1, order, dropSorted);
    return logits.masked_fill(drop, -std::numeric_limits<float>::infinity());
}

text::TokenId sampleFromLogits(const torch::Tensor& logits, double u) {
    auto probs = torch::softmax(logits.to(torch::kCPU, torch::kFloat64).contiguous(), -1);
    const double* p = probs.data_ptr<double>();
    const int64_t V = probs.numel();
    double total = 0;
    for (int64_t i = 0; i < V; ++i) total += p[i];
    const double target = u * total;
    double cum = 0;
    int64_t lastNonZero = 0;
    for (int64_t i = 0; i < V; ++i) {
        if (p[i] <= 0) continue;
        lastNonZero = i;
        cum += p[i];
        if (cum > target) return static_cast<text::TokenId>(i);
    }
    return static_cast<text::TokenId>(lastNonZero);  // rounding left u*total at the very top
}

// ---- TextStream ----

TextStream::TextStream(const text::Tokenizer& tokenizer, std::vector<text::TokenId> context,
                       std::vector<std::string> stopStrings, bool skipSpecial)
    : tokenizer_(tokenizer), ids_(std::move(context)), stops_(std::move(stopStrings)), skipSpecial_(skipSpecial) {
    readOffset_ = ids_.size();
}

std::string TextStream::push(text::TokenId id) {
    if (stopped_) return {};
    ids_.push_back(id);
    // Decode a window that starts a little before the unread ids and compare with the
    // window's own text: the difference is what the new ids added, with the tokenizer's
    // context-dependent rules (leading spaces, byte merges) applied as in a full decode.
    std::vector<text::TokenId> prefixIds(ids_.begin() + prefixOffset_, ids_.begin() + readOffset_);
    std::vector<text::TokenId> windowIds(ids_.begin() + prefixOffset_, ids_.end());
    std::string prefixText = tokenizer_.decode(prefixIds, skipSpecial_);
    std::string windowText = tokenizer_.decode(windowIds, skipSpecial_);
    if (windowText.size() > prefixText.size() && windowText.compare(0, prefixText.size(), prefixText) == 0 &&
        !endsWith(windowText, kReplacementChar) &&
        !endsInsideUtf8Char(windowText)) {
        pending_ += windowText.substr(prefixText.size());
        prefixOffset_ = readOffset_;
        readOffset_ = ids_.size();
    }
    return release(false);
}

std::string TextStream::finish() {
    if (stopped_) return {};
    if (readOffset_ < ids_.size()) {
        std::vector<text::TokenId> prefixIds(ids_.begin() + prefixOffset_, ids_.begin() + readOffset_);
        std::vector<text::TokenId> windowIds(ids_.begin() + prefixOffset_, ids_.end());
        std::string prefixText = tokenizer_.decode(prefixIds, skipSpecial_);
        std::string windowText = tokenizer_.decode(windowIds, skipSpecial_);
        if (windowText.compare(0, prefixText.size(), prefixText) == 0) {
            pending_ += windowText.substr(prefixText.size());
        } else {
            // Byte fallback decodes a run of bytes that is not valid UTF-8 as one U+FFFD per
            // byte, which rewrites text already released; the unread ids alone keep it whole.
            pending_ += tokenizer_.decode(std::vector<text::TokenId>(ids_.begin() + readOffset_, ids_.end()), skipSpecial_);
        }
        prefixOffset_ = readOffset_ = ids_.size();
    }
    return release(true);
}

std::string TextStream::release(bool final) {
    // The earliest complete stop string ends the text.
    size_t stopAt = std::string::npos;
    for (const auto& s : stops_) stopAt = std::min(stopAt, pending_.find(s));
    std::string out;
    if (stopAt != std::string::npos) {
        out = pending_.substr(0, stopAt);
        pending_.clear();
        stopped_ = true;
    } else {
        // Hold back the longest tail that could still grow into a stop string.
        size_t hold = 0;
        if (!final) {
            for (const auto& s : stops_) {
                for (size_t len = std::min(s.size() - 1, pending_.size()); len > hold; --len) {
                    if (pending_.compare(pending_.size() - len, len, s, 0, len) == 0) {
                        hold = len;
                        break;
                    }
                }
            }
        }
        out = pending_.substr(0, pending_.size() - hold);
        pending_.erase(0, pending_.size() - hold);
    }
    released_ += out;
    return out;
}

// ---- prompts and defaults ----

std::vector<text::TokenId> encodePrompt(const Model& model, const std::string& prompt,
                                        const std::vector<Message>& messages) {
    EncodeOptions o;
    o.maxLength = std::numeric_limits<int64_t>::max() / 4;
    o.maxPromptLength = -1;  // no truncation: the caller sees the real length
    o.appendEos = false;
    return encodePair(model, prompt, messages, std::string(), std::string(), o).prompt;
}

GenerateOptions generationDefaults(const Model& model) {
    GenerateOptions o;
    o.temperature = 0;
    std::set<text::TokenId> stops;
    if (model.chatTemplate && model.tokenizer && !model.chatTemplate->endOfTurn().empty()) {
        auto ids = model.tokenizer->encode(model.chatTemplate->endOfTurn(), false);
        if (ids.size() == 1) stops.insert(ids[0]);
    }
    namespace fs = std::filesystem;
    const fs::path path = fs::path(model.source) / "generation_config.json";
    if (model.source != "builtin:tiny" && fs::exists(path)) {
        nlohmann::json g = parseUntrustedJson(readFile(path, 16u << 20), path.string());
        auto number = [&](const char* key, double fallback) {
            if (!g.contains(key) || g[key].is_null()) return fallback;
            if (!g[key].is_number()) throw Error(path.string() + ": field \"" + key + "\": expected a number");
            return g[key].get<double>();
        };
        if (g.value("do_sample", false) == true) {
            o.temperature = number("temperature", 1.0);
            o.topK = static_cast<int64_t>(number("top_k", 50));
            o.topP = number("top_p", 1.0);
        }
        o.repetitionPenalty = number("repetition_penalty", 1.0);
        o.maxNewTokens = static_cast<int64_t>(number("max_new_tokens", double(o.maxNewTokens)));
        if (g.contains("eos_token_id")) {
            const auto& e = g["eos_token_id"];
            if (e.is_number_integer()) stops.insert(e.get<text::TokenId>());
            else if (e.is_array())
                for (const auto& x : e)
                    if (x.is_number_integer()) stops.insert(x.get<text::TokenId>());
        }
    }
    o.stopTokenIds.assign(stops.begin(), stops.end());
    return o;
}

// ---- the loop ----

GenerateResult generate(Model& model, const std::vector<text::TokenId>& promptIds,
                        const GenerateOptions& options, const TokenCallback& onToken,
                        const Progress& progress) {
    options.validate();
    if (!model.net || !model.tokenizer) throw Error("generate: the model is not loaded");
    CausalLM& net = *model.net;
    torch::NoGradGuard noGrad;
    EvalModeGuard evalMode(net);

    std::vector<text::TokenId> prompt = promptIds;
    if (prompt.empty()) {
        // A causal LM needs at least one position to predict from.
        std::optional<int64_t> bos = model.config.bosTokenId;
        if (auto b = model.tokenizer->bosId()) bos = *b;
        if (!bos) throw Error("generate: the prompt is empty and the model has no BOS token to start from");
        prompt.push_back(static_cast<text::TokenId>(*bos));
    }

    std::set<text::TokenId> endIds(options.stopTokenIds.begin(), options.stopTokenIds.end());
    if (options.stopAtEos) {
        if (model.config.eosTokenId) endIds.insert(static_cast<text::TokenId>(*model.config.eosTokenId));
        if (auto e = model.tokenizer->eosId()) endIds.insert(*e);
    }

    const int64_t maxPositions = model.config.maxPositions;
    if (maxPositions > 0 && int64_t(prompt.size()) >= maxPositions)
        throw Error("generate: the prompt has " + std::to_string(prompt.size()) +
                    " tokens; the model's context is " + std::to_string(maxPositions));

    std::mt19937_64 rng(options.seed);
    std::vector<text::TokenId> context(prompt.end() - std::min(prompt.size(), kStreamContext), prompt.end());
    TextStream stream(*model.tokenizer, std::move(context), options.stopStrings);
    const int64_t samplableVocab = model.tokenizer->vocabSize();

    GenerateResult result;
    result.finishReason = "length";
    std::vector<text::TokenId> history = prompt;
    KVCache cache;
    auto input = torch::tensor(std::vector<int64_t>(prompt.begin(), prompt.end()), torch::kInt64)
                     .view({1, -1})
                     .to(model.device);

    for (int64_t step = 0; step < options.maxNewTokens; ++step) {
        if (progress.cancelled()) {
            result.finishReason = "cancelled";
            break;
        }
        if (maxPositions > 0 && int64_t(history.size()) >= maxPositions) break;  // "length"

        auto hidden = net.hidden(input, torch::Tensor(), &cache);              // (1,T,C)
        auto logits = net.lmHead(hidden.select(1, hidden.size(1) - 1))         // (1,V)
                          .squeeze(0)
                          .to(torch::kCPU, torch::kFloat32);                   // (V)

        auto scores = logits.clone();
        // Ids past the tokenizer's vocabulary (padded embedding rows) cannot be decoded.
        if (samplableVocab > 0 && samplableVocab < scores.size(0))
            scores.slice(0, samplableVocab).fill_(-std::numeric_limits<float>::infinity());
        applyRepetitionPenalty(scores, history, options.repetitionPenalty);
        text::TokenId next;
        if (options.temperature == 0) {
            next = static_cast<text::TokenId>(scores.argmax().item<int64_t>());
        } else {
            scores = scores / options.temperature;
            scores = filterTopK(scores, options.topK);
            scores = filterTopP(scores, options.topP);
            next = sampleFromLogits(scores, uniform01(rng));
        }

        result.ids.push_back(next);
        result.tokenLogps.push_back(torch::log_softmax(logits.to(torch::kFloat64), 0)[next].item<double>());
        history.push_back(next);
        progress(step + 1, options.maxNewTokens, "generate");

        if (endIds.count(next)) {
            result.finishReason = "eos";
            break;
        }
        std::string piece = stream.push(next);
        if (!piece.empty() && onToken) onToken(piece, next);
        if (stream.stopped()) {
            result.finishReason = "stop";
            break;
        }
        input = torch::tensor({static_cast<int64_t>(next)}, torch::kInt64).view({1, 1}).to(model.device);
    }

    std::string tail = stream.finish();
    if (!tail.empty() && onToken) onToken(tail, result.ids.empty() ? text::TokenId(-1) : result.ids.back());
    if (stream.stopped() && result.finishReason == "length") result.finishReason = "stop";
    result.text = stream.text();
    return result;
}

}  // namespace dpowb::model
