#include "model/logprobs.h"

#include <algorithm>

#include "common/error.h"

namespace dpowb::model {

namespace {

using Ids = std::vector<text::TokenId>;

// The special tokens the tokenizer's post-processor puts before a sequence (e.g. BOS),
// found by encoding a probe with and without them. Trailing ones (a post-processor EOS) are
// left out: EOS is appended to responses explicitly.
Ids leadingSpecials(const text::Tokenizer& tok) {
    const Ids plain = tok.encode("a", false);
    const Ids with = tok.encode("a", true);
    if (plain.empty() || with.size() < plain.size()) return {};
    auto at = std::search(with.begin(), with.end(), plain.begin(), plain.end());
    if (at == with.end()) return {};
    return Ids(with.begin(), at);
}

void truncatePair(EncodedPair& p, const EncodeOptions& o) {
    if (o.maxLength <= 0) throw Error("max length must be positive, got " + std::to_string(o.maxLength));
    if (o.maxPromptLength >= 0 && int64_t(p.prompt.size()) > o.maxPromptLength) {
        const auto keep = size_t(o.maxPromptLength);
        if (o.keepEnd) p.prompt.erase(p.prompt.begin(), p.prompt.end() - std::ptrdiff_t(keep));
        else p.prompt.resize(keep);
        p.promptTruncated = true;
    }
    const auto room = size_t(std::max<int64_t>(0, o.maxLength - int64_t(p.prompt.size())));
    for (Ids* r : {&p.chosen, &p.rejected}) {
        if (r->size() > room) {
            r->resize(room);
            p.responseTruncated = true;
        }
    }
    p.emptyResponse = p.chosen.empty() || p.rejected.empty();
}

torch::Device deviceOf(const torch::nn::Module& net) {
    for (const auto& p : net.parameters()) return p.device();
    return torch::kCPU;
}

}  // namespace

EncodedPair encodePair(const Model& model, const std::string& prompt, const std::vector<Message>& messages,
                       const std::string& chosen, const std::string& rejected, const EncodeOptions& options) {
    if (!model.tokenizer) throw Error(model.source + ": the model has no tokenizer; give pre-tokenized ids instead");
    const text::Tokenizer& tok = *model.tokenizer;

    // As TRL's DPOTrainer prepares a pair (trl/trainer/dpo_trainer.py, tokenize_fn, and
    // trl/data_utils.py, common_prefix_length): the prompt alone and prompt + response are
    // tokenized whole, a conversation rendered by the chat template (the prompt with the
    // generation prompt, prompt + response as the full conversation, so the response carries
    // whatever the template writes after it: end of turn, newline, an empty think block), plain
    // text with the response's EOS. The responses start where the prompt's tokens and each
    // prompt + response's part ways, at the earlier of the two places: a template that renders
    // the prompt differently alone, or a merge across the boundary, moves the prompt's end into
    // the responses rather than mixing two tokenizations.
    bool chat = !messages.empty();
    const text::ChatTemplate* tmpl = nullptr;
    text::ChatTemplate plain = text::ChatTemplate::named("plain");
    if (chat) {
        if (options.useChatTemplate) {
            if (!model.chatTemplate)
                throw Error(model.source + ": the model has no chat template for a chat prompt; choose one by name (" +
                            [] {
                                std::string names;
                                for (const auto& n : text::ChatTemplate::names()) names += (names.empty() ? "" : ", ") + n;
                                return names;
                            }() +
                            ") or give a text prompt");
            tmpl = &*model.chatTemplate;
        } else {
            tmpl = &plain;
        }
    }
    const bool addLead = !(tmpl && tmpl->writesBos());
    const Ids lead = addLead ? leadingSpecials(tok) : Ids{};
    auto encoded = [&](const std::string& text) {
        Ids ids = tok.encode(text, false);
        ids.insert(ids.begin(), lead.begin(), lead.end());
        return ids;
    };
    const auto eos = tok.eosId();
    // Text responses end in EOS (TRL appends its text unless the response ends in it; special
    // tokens are split off before the rest is tokenized, so appending the id is the same); a
    // rendered conversation ends as the template ends an assistant turn, and gets nothing more.
    auto withEos = [&](Ids ids) {
        if (options.appendEos && eos && (ids.empty() || ids.back() != *eos)) ids.push_back(*eos);
        return ids;
    };
    Ids promptIds, chosenFull, rejectedFull;
    if (chat) {
        promptIds = encoded(tmpl->apply(messages, /*addGenerationPrompt=*/true));
        auto conversation = [&](const std::string& response) {
            std::vector<Message> all = messages;
            all.push_back({"assistant", response});
            return encoded(tmpl->apply(all, /*addGenerationPrompt=*/false));
        };
        chosenFull = conversation(chosen);
        rejectedFull = conversation(rejected);
    } else {
        promptIds = encoded(prompt);
        chosenFull = withEos(encoded(prompt + chosen));
        rejectedFull = withEos(encoded(prompt + rejected));
    }
    auto commonPrefix = [](const Ids& a, const Ids& b) {
        size_t k = 0;
        while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
        return k;
    };
    const size_t promptLen = std::min(commonPrefix(promptIds, chosenFull), commonPrefix(promptIds, rejectedFull));

    EncodedPair p;
    p.promptNotPrefix = promptLen < promptIds.size();
    p.prompt.assign(promptIds.begin(), promptIds.begin() + std::ptrdiff_t(promptLen));
    p.chosen.assign(chosenFull.begin() + std::ptrdiff_t(promptLen), chosenFull.end());
    p.rejected.assign(rejectedFull.begin() + std::ptrdiff_t(promptLen), rejectedFull.end());
    truncatePair(p, options);
    return p;
}

EncodedPair encodePairIds(std::vector<text::TokenId> prompt, std::vector<text::TokenId> chosen,
                          std::vector<text::TokenId> rejected, const EncodeOptions& options) {
    EncodedPair p;
    p.prompt = std::move(prompt);
    p.chosen = std::move(chosen);
    p.rejected = std::move(rejected);
    truncatePair(p, options);
    return p;
}

namespace {

SequenceBatch collateRows(const std::vector<std::pair<const Ids*, const Ids*>>& rows, text::TokenId padId) {
    const auto B = int64_t(rows.size());
    int64_t T = 1;
    for (const auto& [prompt, response] : rows) T = std::max<int64_t>(T, int64_t(prompt->size() + response->size()));
    SequenceBatch b;
    b.inputIds = torch::full({B, T}, int64_t(padId), torch::kInt64);
    b.attentionMask = torch::zeros({B, T}, torch::kInt64);
    b.responseMask = torch::zeros({B, T}, torch::kBool);
    b.responseTokens = torch::zeros({B}, torch::kInt64);
    auto ids = b.inputIds.accessor<int64_t, 2>();
    auto attn = b.attentionMask.accessor<int64_t, 2>();
    auto resp = b.responseMask.accessor<bool, 2>();
    auto count = b.responseTokens.accessor<int64_t, 1>();
    for (int64_t r = 0; r < B; ++r) {
        const Ids& prompt = *rows[size_t(r)].first;
        const Ids& response = *rows[size_t(r)].second;
        const auto P = int64_t(prompt.size()), R = int64_t(response.size());
        for (int64_t t = 0; t < P; ++t) ids[r][t] = prompt[size_t(t)];
        for (int64_t t = 0; t < R; ++t) ids[r][P + t] = response[size_t(t)];
        for (int64_t t = 0; t < P + R; ++t) attn[r][t] = 1;
        // A token is scored from the logits of the position before it, so a response token at
        // position 0 (empty prompt) has nothing to predict it and is not counted.
        for (int64_t t = std::max<int64_t>(P, 1); t < P + R; ++t) {
            resp[r][t] = true;
            ++count[r];
        }
    }
    return b;
}

}  // namespace

SequenceBatch collatePairs(const std::vector<const EncodedPair*>& pairs, text::TokenId padId) {
    std::vector<std::pair<const Ids*, const Ids*>> rows;
    rows.reserve(pairs.size() * 2);
    for (const EncodedPair* p : pairs) rows.emplace_back(&p->prompt, &p->chosen);
    for (const EncodedPair* p : pairs) rows.emplace_back(&p->prompt, &p->rejected);
    return collateRows(rows, padId);
}

SequenceBatch collateSequences(const std::vector<std::pair<std::vector<text::TokenId>, std::vector<text::TokenId>>>& rows,
                               text::TokenId padId) {
    std::vector<std::pair<const Ids*, const Ids*>> refs;
    refs.reserve(rows.size());
    for (const auto& [prompt, response] : rows) refs.emplace_back(&prompt, &response);
    return collateRows(refs, padId);
}

namespace {

// The scored tokens through the LM head: h (M,C) the states that predict them, targets (M)
// their ids, rows (M) the row each belongs to; sums per row over `numRows` rows.
SequenceLogps scoreTokens(CausalLM& net, const torch::Tensor& h, const torch::Tensor& targets, const torch::Tensor& rows,
                          int64_t numRows, torch::ScalarType outType, const ScoreOptions& options) {
    torch::Tensor logits = net.lmHead(h).to(outType);  // (M,V)
    torch::Tensor lse = torch::logsumexp(logits, 1);
    torch::Tensor tokenLogps = logits.gather(1, targets.unsqueeze(1)).squeeze(1) - lse;
    SequenceLogps out;
    out.tokenLogps = tokenLogps;
    out.tokenRows = rows;
    if (options.squaredProbs) {
        torch::NoGradGuard noGrad;
        torch::Tensor l = logits.detach();
        out.tokenLogSumSq = torch::logsumexp(2 * l, 1) - 2 * lse.detach();  // log Σ p² = lse(2z) − 2 lse(z)
    }
    auto zeros = torch::zeros({numRows}, torch::TensorOptions().dtype(outType).device(h.device()));
    out.logps = zeros.index_add(0, rows, tokenLogps);
    out.meanLogits = zeros.index_add(0, rows, logits.detach().mean(1));
    if (options.tokenMetrics) {
        // Entropy as log Z − Σ p·z (p = softmax z), and whether the target is the first argmax:
        // TRL's per-token definitions, on the same logits, outside the graph. In chunks of rows,
        // so that the probabilities never take more than 2^24 elements beside the logits.
        torch::NoGradGuard noGrad;
        torch::Tensor z = logits.detach();
        const int64_t M = z.size(0), V = std::max<int64_t>(1, z.size(1));
        const int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 24) / V);
        torch::Tensor entropy = torch::zeros({M}, z.options());
        for (int64_t s = 0; s < M; s += chunk) {
            torch::Tensor zc = z.narrow(0, s, std::min(chunk, M - s));
            entropy.narrow(0, s, zc.size(0)).copy_(torch::logsumexp(zc, 1) - (torch::softmax(zc, 1) * zc).sum(1));
        }
        out.entropySums = zeros.index_add(0, rows, entropy);
        out.top1 = zeros.index_add(0, rows, (z.argmax(1) == targets).to(outType));
    }
    out.tokens = torch::zeros({numRows}, rows.options()).index_add(0, rows, torch::ones_like(rows));
    return out;
}

}  // namespace

SequenceLogps sequenceLogps(CausalLM& net, const SequenceBatch& batch, const ScoreOptions& options) {
    const torch::Device dev = deviceOf(net);
    const int64_t B = batch.inputIds.size(0), T = batch.inputIds.size(1);
    torch::Tensor ids = batch.inputIds.to(dev);
    torch::Tensor hidden = net.hidden(ids, batch.attentionMask.to(dev));  // (B,T,C)
    const auto outType = hidden.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;

    // Position t-1 predicts token t: only the rows' response positions reach the LM head.
    torch::Tensor predicted = batch.responseMask.to(dev).narrow(1, 1, T - 1);            // (B,T-1)
    torch::Tensor h = hidden.narrow(1, 0, T - 1).index({predicted});                     // (N,C)
    torch::Tensor targets = ids.narrow(1, 1, T - 1).index({predicted});                  // (N)
    torch::Tensor rows = torch::arange(B, torch::TensorOptions().dtype(torch::kInt64).device(dev))
                             .unsqueeze(1)
                             .expand({B, T - 1})
                             .index({predicted});  // (N) row of each scored token
    return scoreTokens(net, h, targets, rows, B, outType, options);
}

SequenceLogps pairSequenceLogps(CausalLM& net, const std::vector<const EncodedPair*>& pairs, text::TokenId padId,
                                const ScoreOptions& options) {
    const auto N = int64_t(pairs.size());
    int64_t promptMax = 0, responseMax = 1;
    for (const EncodedPair* p : pairs) {
        promptMax = std::max<int64_t>(promptMax, int64_t(p->prompt.size()));
        responseMax = std::max<int64_t>({responseMax, int64_t(p->chosen.size()), int64_t(p->rejected.size())});
    }
    const auto& window = net.config().slidingWindow;
    if (N == 0 || promptMax == 0 || (window && *window < promptMax + responseMax))
        return sequenceLogps(net, collatePairs(pairs, padId), options);
    const torch::Device dev = deviceOf(net);
    const auto longOpts = torch::TensorOptions().dtype(torch::kInt64);

    // The prompts, right-padded: (N, Pmax).
    torch::Tensor promptIds = torch::full({N, promptMax}, int64_t(padId), longOpts);
    torch::Tensor promptMask = torch::zeros({N, promptMax}, longOpts);
    // The responses, chosen rows then rejected rows, right-padded: (2N, Rmax), at positions
    // continuing from their own prompt's end.
    torch::Tensor responseIds = torch::full({2 * N, responseMax}, int64_t(padId), longOpts);
    torch::Tensor responseMask = torch::zeros({2 * N, responseMax}, longOpts);
    torch::Tensor positions = torch::zeros({2 * N, responseMax}, longOpts);
    // Which hidden state predicts each scored token: an index into the prompt states
    // (N·Pmax of them) followed by the response states (2N·Rmax).
    std::vector<int64_t> from, target, row;
    {
        auto pi = promptIds.accessor<int64_t, 2>();
        auto pm = promptMask.accessor<int64_t, 2>();
        auto ri = responseIds.accessor<int64_t, 2>();
        auto rm = responseMask.accessor<int64_t, 2>();
        auto pos = positions.accessor<int64_t, 2>();
        for (int64_t i = 0; i < N; ++i) {
            const Ids& prompt = pairs[size_t(i)]->prompt;
            const auto P = int64_t(prompt.size());
            for (int64_t t = 0; t < P; ++t) pi[i][t] = prompt[size_t(t)], pm[i][t] = 1;
            for (int side = 0; side < 2; ++side) {
                const Ids& response = side == 0 ? pairs[size_t(i)]->chosen : pairs[size_t(i)]->rejected;
                const int64_t r = side * N + i;
                // Padding stays at position 0: a learned position table (GPT-2) ends at the
                // longest real row, not at the longest prompt plus the longest response.
                for (int64_t t = 0; t < int64_t(response.size()); ++t) {
                    ri[r][t] = response[size_t(t)];
                    rm[r][t] = 1;
                    pos[r][t] = P + t;
                    // As collatePairs: with an empty prompt the first token has no predictor.
                    if (t == 0 && P == 0) continue;
                    from.push_back(t == 0 ? i * promptMax + P - 1 : N * promptMax + r * responseMax + t - 1);
                    target.push_back(response[size_t(t)]);
                    row.push_back(r);
                }
            }
        }
    }

    KVCache cache;
    torch::Tensor promptHidden = net.hidden(promptIds.to(dev), promptMask.to(dev), &cache);  // (N,Pmax,C)
    for (size_t l = 0; l < cache.k.size(); ++l) {
        cache.k[l] = torch::cat({cache.k[l], cache.k[l]}, 0);
        cache.v[l] = torch::cat({cache.v[l], cache.v[l]}, 0);
    }
    cache.mask = torch::cat({cache.mask, cache.mask}, 0);
    torch::Tensor responseHidden = net.hiddenAt(responseIds.to(dev), responseMask.to(dev), &cache, positions.to(dev));
    if (!responseHidden.defined()) return sequenceLogps(net, collatePairs(pairs, padId), options);
    const auto outType = responseHidden.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;

    const int64_t C = promptHidden.size(-1);
    torch::Tensor states = torch::cat({promptHidden.reshape({-1, C}), responseHidden.reshape({-1, C})}, 0);
    torch::Tensor h = states.index_select(0, torch::tensor(from, longOpts).to(dev));  // (M,C)
    torch::Tensor targets = torch::tensor(target, longOpts).to(dev);
    torch::Tensor rows = torch::tensor(row, longOpts).to(dev);
    return scoreTokens(net, h, targets, rows, 2 * N, outType, options);
}

}  // namespace dpowb::model
