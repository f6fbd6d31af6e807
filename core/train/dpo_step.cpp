#include "train/dpo_step.h"

#include <cmath>

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

PairLogps pairLogps(model::CausalLM& net, const std::vector<const model::EncodedPair*>& pairs, text::TokenId padId) {
    const auto n = int64_t(pairs.size());
    model::SequenceLogps s = model::pairSequenceLogps(net, pairs, padId);
    PairLogps out;
    out.chosen = s.logps.narrow(0, 0, n);
    out.rejected = s.logps.narrow(0, n, n);
    torch::Tensor tokens = s.tokens.to(s.logps.device());
    out.chosenTokens = tokens.narrow(0, 0, n);
    out.rejectedTokens = tokens.narrow(0, n, n);
    out.chosenLogitSums = s.meanLogits.narrow(0, 0, n);
    out.rejectedLogitSums = s.meanLogits.narrow(0, n, n);
    out.chosenEntropySums = s.entropySums.narrow(0, 0, n);
    out.rejectedEntropySums = s.entropySums.narrow(0, n, n);
    out.chosenTop1 = s.top1.narrow(0, 0, n);
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
                        text::TokenId padId) {
    torch::NoGradGuard noGrad;
    const bool wasTraining = net.is_training();
    if (adaptersOff) net.setAdaptersEnabled(false);
    net.eval();
    PairLogps r;
    try {
        r = pairLogps(net, pairs, padId);
    } catch (...) {
        if (adaptersOff) net.setAdaptersEnabled(true);
        net.train(wasTraining);
        throw;
    }
    if (adaptersOff) net.setAdaptersEnabled(true);
    net.train(wasTraining);
    return r;
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
                PairLogps r = liveReference(*reference.net, reference.adaptersOff, mb.pairs, padId);
                in.refChosen = r.chosen;
                in.refRejected = r.rejected;
            }
            p = pairLogps(policy, mb.pairs, padId);
            in.policyChosen = p.chosen;
            in.policyRejected = p.rejected;
            in.chosenTokens = p.chosenTokens;
            in.rejectedTokens = p.rejectedTokens;
            in.chosenLogitSums = p.chosenLogitSums;
            in.rejectedLogitSums = p.rejectedLogitSums;
            in.chosenEntropySums = p.chosenEntropySums;
            in.rejectedEntropySums = p.rejectedEntropySums;
            in.chosenTop1 = p.chosenTop1;
            in.nllTokens = mb.nllTokens;
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
                                            text::TokenId padId, const Progress& progress) {
    std::vector<store::RefLogps> out;
    out.reserve(pairs.size());
    for (size_t start = 0; start < pairs.size(); start += size_t(batchSize)) {
        progress.throwIfCancelled();
        std::vector<const model::EncodedPair*> chunk(pairs.begin() + std::ptrdiff_t(start),
                                                     pairs.begin() + std::ptrdiff_t(std::min(pairs.size(), start + size_t(batchSize))));
        PairLogps r = liveReference(net, adaptersOff, chunk, padId);
        auto c = r.chosen.to(torch::kCPU, torch::kFloat64), j = r.rejected.to(torch::kCPU, torch::kFloat64);
        auto nc = r.chosenTokens.to(torch::kCPU, torch::kInt64), nr = r.rejectedTokens.to(torch::kCPU, torch::kInt64);
        for (int64_t i = 0; i < int64_t(chunk.size()); ++i)
            out.push_back({c[i].item<double>(), j[i].item<double>(), nc[i].item<int64_t>(), nr[i].item<int64_t>()});
        progress(int64_t(out.size()), int64_t(pairs.size()), "reference");
    }
    return out;
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
    o.type = parseLossType(config.loss);
    o.beta = config.beta;
    o.labelSmoothing = config.labelSmoothing;
    o.discopopTau = config.discopopTau;
    o.referenceFree = config.referenceFree;
    o.rpoAlpha = config.rpoAlpha;
    o.agreement = parseAgreementUse(config.agreement);
    return o;
}

}  // namespace dpowb::train
