#include "train/dpo_step.h"

#include <cmath>
#include <tuple>

namespace dpowb::train {

std::vector<torch::Tensor> trainableParameters(torch::nn::Module& net) {
    std::vector<torch::Tensor> out;
    for (const auto& p : net.parameters(true))
        if (p.requires_grad()) out.push_back(p);
    return out;
}

std::unique_ptr<torch::optim::AdamW> makeOptimizer(torch::nn::Module& net, const TrainConfig& config) {
    auto options = [&](double decay) {
        return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(config.lr)
                                                                .betas({config.adamBeta1, config.adamBeta2})
                                                                .eps(config.adamEpsilon)
                                                                .weight_decay(decay));
    };
    std::vector<torch::Tensor> decay, noDecay;
    for (const auto& p : net.parameters(true)) {
        if (!p.requires_grad()) continue;
        (p.dim() >= 2 ? decay : noDecay).push_back(p);
    }
    std::vector<torch::optim::OptimizerParamGroup> groups;
    if (!decay.empty()) groups.emplace_back(decay, options(config.weightDecay));
    if (!noDecay.empty()) groups.emplace_back(noDecay, options(0.0));
    if (groups.empty()) throw Error("the model has no trainable parameters");
    return std::make_unique<torch::optim::AdamW>(std::move(groups), *options(config.weightDecay));
}

void setLearningRate(torch::optim::Optimizer& optimizer, double lr) {
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

double clipGradients(const std::vector<torch::Tensor>& params, double maxNorm) {
    if (maxNorm > 0) return torch::nn::utils::clip_grad_norm_(params, maxNorm);
    // Same norm as clip_grad_norm_ computes, without touching the gradients.
    std::vector<torch::Tensor> norms;
    for (const auto& p : params)
        if (p.grad().defined()) norms.push_back(p.grad().norm(2).to(torch::kFloat64));
    if (norms.empty()) return 0.0;
    return torch::stack(norms).norm(2).item<double>();
}

PairLogps pairLogps(model::CausalLM& net, const std::vector<const model::EncodedPair*>& pairs, text::TokenId padId,
                    const LogpOptions& options) {
    const auto n = int64_t(pairs.size());
    model::ScoreOptions so;
    so.squaredProbs = options.wpoWeights;
    so.tokenMetrics = options.tokenMetrics;
    model::SequenceLogps s = model::pairSequenceLogps(net, pairs, padId, so);
    PairLogps out;
    out.chosen = s.logps.narrow(0, 0, n);
    out.rejected = s.logps.narrow(0, n, n);
    out.chosenFull = out.chosen;
    torch::Tensor tokens = s.tokens.to(s.logps.device());
    if (options.ldAlpha != 1.0 || options.wpoWeights) {
        // Each scored token's index within its row (rows list their tokens in position order).
        const torch::Tensor rowsHost = s.tokenRows.to(torch::kCPU, torch::kInt64).contiguous();
        const torch::Tensor countsHost = s.tokens.to(torch::kCPU, torch::kInt64).contiguous();
        const int64_t* rows = rowsHost.data_ptr<int64_t>();
        const int64_t* counts = countsHost.data_ptr<int64_t>();
        const int64_t m = rowsHost.numel();
        if (options.ldAlpha != 1.0) {
            // LD-DPO: the first min(|chosen|, |rejected|) scored tokens of each response count
            // fully, the rest with weight ldAlpha (TRL's shared and tail masks).
            std::vector<double> weight(size_t(m), 1.0);
            std::vector<int64_t> seen(size_t(2 * n), 0);
            for (int64_t k = 0; k < m; ++k) {
                const int64_t r = rows[k], pair = r % n;
                const int64_t shared = std::min(counts[pair], counts[pair + n]);
                if (seen[size_t(r)]++ >= shared) weight[size_t(k)] = options.ldAlpha;
            }
            torch::Tensor w = torch::tensor(weight, torch::TensorOptions().dtype(torch::kFloat64))
                                  .to(s.tokenLogps.device(), s.tokenLogps.scalar_type());
            torch::Tensor sums = torch::zeros({2 * n}, s.tokenLogps.options()).index_add(0, s.tokenRows, s.tokenLogps * w);
            out.chosen = sums.narrow(0, 0, n);
            out.rejected = sums.narrow(0, n, n);
        }
        if (options.wpoWeights) {
            torch::NoGradGuard noGrad;
            torch::Tensor aligned = s.tokenLogps.detach() - s.tokenLogSumSq;
            torch::Tensor mean = torch::zeros({2 * n}, aligned.options()).index_add(0, s.tokenRows, aligned) /
                                 tokens.to(aligned.options()).clamp_min(1);
            torch::Tensor w = torch::exp(mean);
            out.chosenWeight = w.narrow(0, 0, n);
            out.rejectedWeight = w.narrow(0, n, n);
        }
    }
    out.chosenTokens = tokens.narrow(0, 0, n);
    out.rejectedTokens = tokens.narrow(0, n, n);
    out.chosenLogitSums = s.meanLogits.narrow(0, 0, n);
    out.rejectedLogitSums = s.meanLogits.narrow(0, n, n);
    if (s.entropySums.defined()) {
        out.chosenEntropySums = s.entropySums.narrow(0, 0, n);
        out.rejectedEntropySums = s.entropySums.narrow(0, n, n);
        out.chosenTop1 = s.top1.narrow(0, 0, n);
    }
    // Tokens as the two rows hold them (the shared prompt counted for both), as throughput is
    // quoted in tokens of the pairs trained on.
    out.realTokens = 0;
    for (const model::EncodedPair* pair : pairs)
        out.realTokens += int64_t(2 * pair->prompt.size() + pair->chosen.size() + pair->rejected.size());
    return out;
}

namespace {

// Runs the reference: a separate network, or the policy with its adapters off (no dropout,
// no graph either way).
PairLogps liveReference(model::CausalLM& net, bool adaptersOff, const std::vector<const model::EncodedPair*>& pairs,
                        text::TokenId padId, double ldAlpha) {
    torch::NoGradGuard noGrad;
    const bool wasTraining = net.is_training();
    if (adaptersOff) net.setAdaptersEnabled(false);
    net.eval();
    PairLogps r;
    try {
        LogpOptions lo;
        lo.ldAlpha = ldAlpha;
        lo.tokenMetrics = false;
        r = pairLogps(net, pairs, padId, lo);
    } catch (...) {
        if (adaptersOff) net.setAdaptersEnabled(true);
        net.train(wasTraining);
        throw;
    }
    if (adaptersOff) net.setAdaptersEnabled(true);
    net.train(wasTraining);
    return r;
}

// ORPO's NLL covers the chosen rows' prompts too: the log-probs of each prompt's tokens after
// the first, summed per pair (with grad), and their counts. A forward of the prompts alone (a
// causal model scores them the same with or without the response after them); pairs whose
// prompt has fewer than two tokens add nothing.
std::pair<torch::Tensor, torch::Tensor> promptLogps(model::CausalLM& net, const std::vector<const model::EncodedPair*>& pairs,
                                                    text::TokenId padId, const torch::TensorOptions& like) {
    const auto n = int64_t(pairs.size());
    std::vector<SftRow> rows;
    std::vector<int64_t> index;
    for (int64_t i = 0; i < n; ++i) {
        if (pairs[size_t(i)]->prompt.size() < 2) continue;
        rows.push_back({{}, pairs[size_t(i)]->prompt});
        index.push_back(i);
    }
    torch::Tensor sums = torch::zeros({n}, like), counts = torch::zeros({n}, like);
    if (rows.empty()) return {sums, counts};
    model::ScoreOptions so;
    so.tokenMetrics = false;
    const model::SequenceLogps s = model::sequenceLogps(net, model::collateSequences(rows, padId), so);
    torch::Tensor at = torch::tensor(index, torch::TensorOptions().dtype(torch::kInt64)).to(like.device());
    sums = sums.index_add(0, at, s.logps.to(like));
    counts = counts.index_add(0, at, s.tokens.to(like));
    return {sums, counts};
}

}  // namespace

StepOutcome accumulateStep(model::CausalLM& policy, const ReferenceSource& reference,
                           const std::vector<MicroBatch>& microBatches, const LossOptions& options,
                           text::TokenId padId, MetricAccumulator* metrics, bool backward,
                           const MixedPrecision& amp) {
    StepOutcome outcome;
    for (const auto& mb : microBatches) outcome.pairs += int64_t(mb.pairs.size());
    if (outcome.pairs == 0) return outcome;
    double lossSum = 0;
    bool orpo = false;
    for (const auto& t : options.effectiveTerms()) orpo = orpo || t.type == LossType::Orpo;
    for (const auto& mb : microBatches) {
        if (mb.pairs.empty()) continue;
        // The reference first: its activations are freed before the policy's graph is built,
        // so the step's peak memory is the policy's alone.
        LossInputs in;
        LossOutput out;
        PairLogps p;
        {
            AutocastScope autocast(amp);  // forwards and loss; the backward below runs outside
            if (!reference.referenceFree && reference.net) {
                PairLogps r = liveReference(*reference.net, reference.adaptersOff, mb.pairs, padId, options.ldAlpha);
                in.refChosen = r.chosen;
                in.refRejected = r.rejected;
            }
            LogpOptions lo;
            lo.ldAlpha = options.ldAlpha;
            lo.wpoWeights = options.useWeighting;
            p = pairLogps(policy, mb.pairs, padId, lo);
            in.policyChosen = p.chosen;
            in.policyRejected = p.rejected;
            in.policyChosenFull = p.chosenFull;
            if (options.useWeighting) in.pairWeights = p.chosenWeight * p.rejectedWeight;
            in.chosenTokens = p.chosenTokens;
            in.rejectedTokens = p.rejectedTokens;
            in.chosenLogitSums = p.chosenLogitSums;
            in.rejectedLogitSums = p.rejectedLogitSums;
            in.chosenEntropySums = p.chosenEntropySums;
            in.rejectedEntropySums = p.rejectedEntropySums;
            in.chosenTop1 = p.chosenTop1;
            in.nllTokens = mb.nllTokens;
            in.orpoNllTokens = mb.orpoNllTokens;
            if (orpo) std::tie(in.chosenPromptLogps, in.chosenPromptTokens) = promptLogps(policy, mb.pairs, padId, p.chosen.options());
            if (!mb.disagreement.empty()) {
                TORCH_CHECK(mb.disagreement.size() == mb.pairs.size(), "accumulateStep: disagreement per pair missing");
                in.disagreement = torch::tensor(mb.disagreement, torch::TensorOptions().dtype(torch::kFloat64));
            }
            if (!reference.referenceFree && !reference.net) {
                TORCH_CHECK(mb.cached.size() == mb.pairs.size(), "accumulateStep: cached reference log-probs missing");
                std::vector<double> c, r;
                for (const auto& v : mb.cached) c.push_back(v.chosen), r.push_back(v.rejected);
                auto opts = torch::TensorOptions().dtype(torch::kFloat64);
                in.refChosen = torch::tensor(c, opts).to(p.chosen.options());
                in.refRejected = torch::tensor(r, opts).to(p.chosen.options());
            }
            out = dpoLoss(in, options);
        }
        const double weight = double(mb.pairs.size()) / double(outcome.pairs);
        const double value = out.loss.detach().item<double>();
        if (!std::isfinite(value)) outcome.finite = false;
        lossSum += value * weight;
        if (backward) (out.loss * weight).backward();
        if (metrics) metrics->add(in, out, options);
        outcome.realTokens += p.realTokens;
    }
    outcome.loss = lossSum;
    return outcome;
}

std::vector<store::RefLogps> referenceLogps(model::CausalLM& net, bool adaptersOff,
                                            const std::vector<const model::EncodedPair*>& pairs, int64_t batchSize,
                                            text::TokenId padId, const Progress& progress, double ldAlpha) {
    std::vector<store::RefLogps> out;
    out.reserve(pairs.size());
    for (size_t start = 0; start < pairs.size(); start += size_t(batchSize)) {
        progress.throwIfCancelled();
        std::vector<const model::EncodedPair*> chunk(pairs.begin() + std::ptrdiff_t(start),
                                                     pairs.begin() + std::ptrdiff_t(std::min(pairs.size(), start + size_t(batchSize))));
        PairLogps r = liveReference(net, adaptersOff, chunk, padId, ldAlpha);
        auto c = r.chosen.to(torch::kCPU, torch::kFloat64), j = r.rejected.to(torch::kCPU, torch::kFloat64);
        auto nc = r.chosenTokens.to(torch::kCPU, torch::kInt64), nr = r.rejectedTokens.to(torch::kCPU, torch::kInt64);
        for (int64_t i = 0; i < int64_t(chunk.size()); ++i)
            out.push_back({c[i].item<double>(), j[i].item<double>(), nc[i].item<int64_t>(), nr[i].item<int64_t>()});
        progress(int64_t(out.size()), int64_t(pairs.size()), "reference");
    }
    return out;
}

void mixIntoReference(torch::nn::Module& reference, torch::nn::Module& policy, double alpha) {
    torch::NoGradGuard noGrad;
    const auto target = reference.named_parameters(true);
    const auto source = policy.named_parameters(true);
    if (target.size() != source.size())
        throw Error("sync_ref_model: the reference has " + std::to_string(target.size()) + " parameters, the policy " +
                    std::to_string(source.size()) + "; use a reference of the policy's architecture");
    for (const auto& item : target) {
        const torch::Tensor* p = source.find(item.key());
        if (!p || p->sizes() != item.value().sizes())
            throw Error("sync_ref_model: the policy has no parameter " + item.key() + " of the reference's shape");
        torch::Tensor t = item.value();
        t.mul_(1.0 - alpha).add_(p->to(t.device(), t.scalar_type()), alpha);
    }
}

double sftScoredTokens(const std::vector<const SftRow*>& rows) {
    double n = 0;
    for (const SftRow* r : rows)
        n += double(std::max<int64_t>(0, int64_t(r->second.size()) - (r->first.empty() ? 1 : 0)));
    return n;
}

double sftStep(model::CausalLM& net, const std::vector<const SftRow*>& rows, double tokens, text::TokenId padId,
               const MixedPrecision& amp) {
    if (rows.empty()) return 0.0;
    std::vector<SftRow> chunk;
    chunk.reserve(rows.size());
    for (const SftRow* r : rows) chunk.push_back(*r);
    const model::SequenceBatch batch = model::collateSequences(chunk, padId);
    torch::Tensor loss;
    {
        AutocastScope ac(amp);  // the forward only: backward runs outside autocast
        const model::SequenceLogps s = model::sequenceLogps(net, batch);
        loss = -s.logps.sum() / std::max(1.0, tokens);
    }
    loss.backward();
    return loss.item<double>();
}

LossOptions lossOptionsOf(const TrainConfig& config) {
    LossOptions o;
    o.beta = config.beta;
    o.labelSmoothing = config.labelSmoothing;
    o.discopopTau = config.discopopTau;
    o.referenceFree = config.referenceFree;
    o.rpoAlpha = config.rpoAlpha;
    o.agreement = parseAgreementUse(config.agreement);
    o.terms = parseLossTerms(config.loss, config.lossWeights);
    o.type = o.terms.front().type;
    o.simpoGamma = config.simpoGamma;
    o.fDivergence = parseFDivergence(config.fDivergenceType);
    o.fAlphaCoef = config.fAlphaDivergenceCoef;
    o.ldAlpha = config.ldAlpha;
    o.useWeighting = config.useWeighting;
    o.referenceFree = config.referenceFree || !needsReference(o.terms);
    return o;
}

}  // namespace dpowb::train
