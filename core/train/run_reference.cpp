// The reference: a second network (or the policy with its adapters off), or, with
// --precompute-ref, its log-probs computed once (cached in the project file) and the network
// released.
#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "store/project.h"
#include "train/run.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dpowb::train::detail {

void Run::prepareReference() {
    if (!cfg_.usesReference()) return;
    obs_.onPhase("reference", 0, 0);
    const model::LoadOptions lo = weightOptions();
    std::string fingerprint;
    if (cfg_.sftEpochs > 0) {
        reference_ = model::loadModel(referenceDir_, lo);
        fingerprint = reference_->fingerprint;
        result_.referenceDir = referenceDir_;
    } else if (!cfg_.ref.empty()) {
        reference_ = model::loadModel(cfg_.ref, lo);
        fingerprint = reference_->fingerprint;
        result_.referenceDir = cfg_.ref;
    } else if (cfg_.loraRank > 0) {
        refAdaptersOff_ = true;  // the base network, adapters off: no second copy
        fingerprint = policy_->fingerprint;
        result_.referenceDir = cfg_.model;
    } else {
        reference_ = model::loadModel(cfg_.model, lo);
        fingerprint = reference_->fingerprint;
        result_.referenceDir = cfg_.model;
    }
    if (reference_) {
        reference_->net->eval();
        for (auto& p : reference_->net->parameters()) p.set_requires_grad(false);
    }
    if (project_ && writer()) {
        auto run = project_->run(result_.runId);
        run->referencePath = result_.referenceDir;
        project_->updateRun(*run);
    }
    if (!cfg_.precomputeRef) return;

    // Cached per response sequence, keyed by the reference's weights, the settings and the
    // exact prompt + response token ids (store::refSequenceHash): a relabelled pair (chosen and
    // rejected swapped), an edited or a re-imported one finds only values of the very same ids.
    // The settings are in the key too (the ids already carry template and truncation; dtype,
    // autocast and the kind of device change the values), so a change never mixes entries.
    const std::string settings = "max_length=" + std::to_string(cfg_.maxLength) +
                                 ";max_prompt_length=" + std::to_string(cfg_.maxPromptLength) +
                                 ";truncation=" + cfg_.truncationMode + ";template=" +
                                 (policy_->chatTemplate ? policy_->chatTemplate->name() : std::string("none")) +
                                 ";dtype=" + cfg_.dtype + (amp_.enabled ? " autocast" : "") + ";device=" +
                                 (model::resolveDevice(cfg_.device).is_cuda() ? "cuda" : "cpu") + ";sequence-v2" +
                                 (cfg_.ldAlpha != 1.0 ? ";ld_alpha=" + std::to_string(cfg_.ldAlpha) : std::string());
    std::vector<Example*> all;
    for (auto* set : {&train_, &eval_})
        for (auto& e : *set) all.push_back(&e);
    // A response is scored from its first token when there is a prompt, from its second otherwise.
    auto scored = [](const model::EncodedPair& enc, const std::vector<text::TokenId>& response) {
        return int64_t(response.size()) - (enc.prompt.empty() ? 1 : 0);
    };
    std::vector<std::string> hashes;  // chosen, rejected of each example
    hashes.reserve(2 * all.size());
    for (auto* e : all) {
        hashes.push_back(store::refSequenceHash(e->enc.prompt, e->enc.chosen));
        hashes.push_back(store::refSequenceHash(e->enc.prompt, e->enc.rejected));
        if (cfg_.ldAlpha != 1.0) {
            // LD-DPO weighs a response by the pair's shorter length: the key names it too.
            const int64_t shared = std::min(scored(e->enc, e->enc.chosen), scored(e->enc, e->enc.rejected));
            for (size_t i = hashes.size() - 2; i < hashes.size(); ++i)
                hashes[i] += ";shared=" + std::to_string(shared);
        }
    }
    std::vector<std::optional<store::RefSeqLogp>> hits(hashes.size());
    if (project_) hits = project_->refSeqLogps(fingerprint, settings, hashes);
    if (dist_) {
        // A value counts as cached only when every rank found it, so all agree on what to compute.
        std::vector<double> found(hits.size());
        for (size_t i = 0; i < hits.size(); ++i) found[i] = hits[i] ? 1.0 : 0.0;
        found = dist_->sum(found);
        for (size_t i = 0; i < hits.size(); ++i)
            if (found[i] < double(world_)) hits[i].reset();
    }
    for (size_t k = 0; k < all.size(); ++k) {  // a count that disagrees is not a hit
        auto& c = hits[2 * k];
        auto& r = hits[2 * k + 1];
        if (c && c->tokens != scored(all[k]->enc, all[k]->enc.chosen)) c.reset();
        if (r && r->tokens != scored(all[k]->enc, all[k]->enc.rejected)) r.reset();
    }
    int64_t reused = 0, computed = 0;
    std::vector<size_t> missing;  // examples with at least one sequence to compute
    for (size_t k = 0; k < all.size(); ++k) {
        auto& c = hits[2 * k];
        auto& r = hits[2 * k + 1];
        if (c && r) {
            all[k]->ref = {c->logp, r->logp, c->tokens, r->tokens};
            reused += 2;
        } else {
            missing.push_back(k);
        }
    }
    if (!missing.empty()) {
        std::vector<const model::EncodedPair*> pairs;
        for (auto k : missing) pairs.push_back(&all[k]->enc);
        model::CausalLM& net = refAdaptersOff_ ? *policy_->net : *reference_->net;
        std::vector<store::RefLogps> values;
        if (!dist_) {
            AutocastScope ac(amp_);
            values = referenceLogps(net, refAdaptersOff_, pairs, std::max<int64_t>(cfg_.batchSize, 16), padId_,
                                    progress("reference"), cfg_.ldAlpha);
        } else {
            // Each rank computes one contiguous slice; a sum over the ranks (the other slices
            // are zeros) gives every rank every value.
            const size_t n = pairs.size();
            const auto [b, e] = shardRange(n, rank_, world_);
            std::vector<const model::EncodedPair*> mine(pairs.begin() + std::ptrdiff_t(b), pairs.begin() + std::ptrdiff_t(e));
            std::vector<store::RefLogps> part;
            {
                AutocastScope ac(amp_);
                part = referenceLogps(net, refAdaptersOff_, mine, std::max<int64_t>(cfg_.batchSize, 16), padId_,
                                      progress("reference"), cfg_.ldAlpha);
            }
            std::vector<double> flat(4 * n, 0.0);
            for (size_t i = 0; i < part.size(); ++i) {
                flat[4 * (b + i)] = part[i].chosen;
                flat[4 * (b + i) + 1] = part[i].rejected;
                flat[4 * (b + i) + 2] = double(part[i].chosenTokens);
                flat[4 * (b + i) + 3] = double(part[i].rejectedTokens);
            }
            flat = dist_->sum(flat);
            for (size_t i = 0; i < n; ++i)
                values.push_back({flat[4 * i], flat[4 * i + 1], int64_t(flat[4 * i + 2]), int64_t(flat[4 * i + 3])});
        }
        std::vector<std::pair<std::string, store::RefSeqLogp>> rows;
        for (size_t i = 0; i < missing.size(); ++i) {
            const size_t k = missing[i];
            store::RefLogps v = values[i];
            // A sequence found in the cache keeps the cached value (one key, one value); only
            // the other one is new.
            if (hits[2 * k]) {
                v.chosen = hits[2 * k]->logp;
                ++reused;
            } else {
                rows.emplace_back(hashes[2 * k], store::RefSeqLogp{v.chosen, v.chosenTokens});
                ++computed;
            }
            if (hits[2 * k + 1]) {
                v.rejected = hits[2 * k + 1]->logp;
                ++reused;
            } else {
                rows.emplace_back(hashes[2 * k + 1], store::RefSeqLogp{v.rejected, v.rejectedTokens});
                ++computed;
            }
            all[k]->ref = v;
        }
        if (project_ && writer()) project_->putRefSeqLogps(fingerprint, settings, rows);
    }
    result_.refSequencesComputed = computed;
    result_.refSequencesReused = reused;
    info("reference log-probs precomputed: " + std::to_string(computed) + " sequences computed, " +
         std::to_string(reused) + " from the project's cache");
    refPrecomputed_ = true;
    reference_.reset();  // released: training needs only the cached values
}

}  // namespace dpowb::train::detail
