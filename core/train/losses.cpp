#include "train/losses.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace dpowb::train {

AgreementUse parseAgreementUse(const std::string& name) {
    if (name == "off") return AgreementUse::Off;
    if (name == "smoothing") return AgreementUse::Smoothing;
    if (name == "weights") return AgreementUse::Weights;
    throw Error("unknown --agreement \"" + name + "\": use off, smoothing or weights");
}

const char* toString(AgreementUse use) {
    switch (use) {
        case AgreementUse::Off: return "off";
        case AgreementUse::Smoothing: return "smoothing";
        case AgreementUse::Weights: return "weights";
    }
    return "off";
}

std::vector<LossTerm> LossOptions::effectiveTerms() const {
    std::vector<LossTerm> out = terms.empty() ? std::vector<LossTerm>{{type, 1.0}} : terms;
    if (rpoAlpha > 0) {
        auto it = std::find_if(out.begin(), out.end(), [](const LossTerm& t) { return t.type == LossType::Sft; });
        if (it != out.end())
            it->weight += rpoAlpha;
        else
            out.push_back({LossType::Sft, rpoAlpha});
    }
    return out;
}

namespace {

// log(1 − e^x) for x ≤ 0, accurate at both ends (Mächler's rule: expm1 near 0, log1p far off).
torch::Tensor log1mexp(const torch::Tensor& x) {
    return torch::where(x > -std::log(2.0), torch::log(-torch::expm1(x)), torch::log1p(-torch::exp(x)));
}

// f'(u) of the f-divergence at u = π_θ/π_ref, from the log-ratio (TRL's f_divergence_type).
torch::Tensor fScore(const torch::Tensor& logRatio, FDivergence f, double alpha) {
    switch (f) {
        case FDivergence::ReverseKl: return logRatio;
        case FDivergence::ForwardKl: return 1 - torch::exp(-logRatio);
        case FDivergence::JsDivergence: return std::log(2.0) + torch::log_sigmoid(logRatio);
        case FDivergence::AlphaDivergence: {
            if (std::abs(alpha - 1.0) < 1e-6) return logRatio;  // the limit α → 1 is reverse KL
            // (u^(α−1) − 1)/(α − 1), the exponent capped where float32 still holds exp()
            return (torch::exp(((alpha - 1.0) * logRatio).clamp_max(80.0)) - 1.0) / (alpha - 1.0);
        }
    }
    return logRatio;
}

}  // namespace

LossOutput dpoLoss(const LossInputs& in, const LossOptions& options) {
    TORCH_CHECK(in.policyChosen.dim() == 1 && in.policyChosen.sizes() == in.policyRejected.sizes(),
                "dpoLoss: policy log-probs must be (N) tensors of the same size");
    const double beta = options.beta;
    const double eps = options.labelSmoothing;
    const std::vector<LossTerm> terms = options.effectiveTerms();
    bool perTokenRewards = false;  // simpo, orpo: rewards and logps/* on per-token log-probs
    bool wantsNll = false;
    for (const auto& t : terms) {
        if (t.type == LossType::Simpo || t.type == LossType::Orpo) perTokenRewards = true;
        if (t.type == LossType::Sft || t.type == LossType::Orpo) wantsNll = true;
        if (options.fDivergence != FDivergence::ReverseKl && !lossInfo(t.type).fDivergence)
            throw Error(std::string("--f-divergence-type ") + toString(options.fDivergence) + " does not apply to " +
                        toString(t.type) + ": use reverse_kl with it");
    }

    torch::Tensor pc = in.policyChosen;
    torch::Tensor pr = in.policyRejected;
    torch::Tensor rc, rr;
    if (options.referenceFree || !needsReference(terms)) {
        rc = torch::zeros_like(pc);
        rr = torch::zeros_like(pr);
    } else {
        TORCH_CHECK(in.refChosen.defined() && in.refRejected.defined(),
                    "dpoLoss: reference log-probs are missing (or set referenceFree)");
        rc = in.refChosen.to(pc.options()).detach();
        rr = in.refRejected.to(pr.options()).detach();
    }
    torch::Tensor nc = in.chosenTokens.to(pc.options()).clamp_min(1);
    torch::Tensor nr = in.rejectedTokens.to(pr.options()).clamp_min(1);

    torch::Tensor chosenRatio = pc - rc;
    torch::Tensor rejectedRatio = pr - rr;
    // The f-divergence's scores; reverse KL (standard DPO) leaves the log-ratios as they are.
    torch::Tensor chosenScore = fScore(chosenRatio, options.fDivergence, options.fAlphaCoef);
    torch::Tensor rejectedScore = fScore(rejectedRatio, options.fDivergence, options.fAlphaCoef);
    torch::Tensor delta = chosenScore - rejectedScore;  // Δ of docs/MATH.md

    // ε per pair where agreement smoothing is on: the coefficients are worked out in float64
    // and cast once, so a pair whose ε is the global one gets the very factors the scalar
    // form multiplies by.
    const bool perPair = in.disagreement.defined() && options.agreement != AgreementUse::Off;
    if (perPair)
        TORCH_CHECK(in.disagreement.dim() == 1 && in.disagreement.size(0) == delta.size(0),
                    "dpoLoss: disagreement must be an (N) tensor");
    torch::Tensor pairEps;  // (N) float64 when per pair
    if (perPair && options.agreement == AgreementUse::Smoothing) {
        for (const auto& t : terms)
            TORCH_CHECK(t.type == LossType::Sigmoid || t.type == LossType::Robust || t.type == LossType::Sft,
                        "dpoLoss: agreement smoothing needs the sigmoid or robust loss");
        pairEps = in.disagreement.to(torch::kCPU, torch::kFloat64).clamp(0.0, kMaxAgreementSmoothing).clamp_min(eps);
    }
    auto onDelta = [&](const torch::Tensor& t) { return t.to(delta.options()); };

    LossOutput out;
    torch::Tensor sftNll, orpoNll;
    if (wantsNll) {
        // Token-weighted over the batch, like a cross-entropy over all chosen tokens (TRL's sft term).
        torch::Tensor full = in.policyChosenFull.defined() ? in.policyChosenFull : in.policyChosen;
        torch::Tensor tokens = in.nllTokens > 0 ? torch::tensor(in.nllTokens, full.options())
                                                : in.chosenTokens.to(full.options()).sum().clamp_min(1);
        sftNll = -full.sum() / tokens;
        orpoNll = sftNll;
        if (in.chosenPromptLogps.defined()) {
            // ORPO's NLL: the chosen rows' prompt tokens too (TRL's ORPOTrainer scores every
            // token of the row but the first).
            TORCH_CHECK(in.chosenPromptTokens.defined(), "dpoLoss: chosenPromptTokens missing");
            torch::Tensor rowTokens = in.orpoNllTokens > 0
                                          ? torch::tensor(in.orpoNllTokens, full.options())
                                          : (in.chosenTokens.to(full.options()).sum() +
                                             in.chosenPromptTokens.to(full.options()).sum()).clamp_min(1);
            orpoNll = -(full.sum() + in.chosenPromptLogps.to(full.options()).sum()) / rowTokens;
        }
        bool orpo = false;
        for (const auto& t : terms) orpo = orpo || t.type == LossType::Orpo;
        out.nll = orpo ? orpoNll : sftNll;  // nll_loss: ORPO's term where there is one, as TRL's ORPOTrainer logs
    }

    torch::Tensor total, perPairTotal;
    for (const auto& term : terms) {
        torch::Tensor losses;
        switch (term.type) {
            case LossType::Sigmoid:
                if (!pairEps.defined()) {
                    losses = -(1 - eps) * torch::log_sigmoid(beta * delta) - eps * torch::log_sigmoid(-beta * delta);
                } else {
                    losses = -onDelta(1 - pairEps) * torch::log_sigmoid(beta * delta) -
                             onDelta(pairEps) * torch::log_sigmoid(-beta * delta);
                }
                break;
            case LossType::Robust:
                if (eps >= 0.5) throw Error("robust loss needs --label-smoothing below 0.5");
                if (!pairEps.defined()) {
                    losses = (-(1 - eps) * torch::log_sigmoid(beta * delta) + eps * torch::log_sigmoid(-beta * delta)) /
                             (1 - 2 * eps);
                } else {
                    losses = (-onDelta(1 - pairEps) * torch::log_sigmoid(beta * delta) +
                              onDelta(pairEps) * torch::log_sigmoid(-beta * delta)) /
                             onDelta(1 - 2 * pairEps);
                }
                break;
            case LossType::Hinge:
                losses = torch::relu(1 - beta * delta);
                break;
            case LossType::Ipo:
                // IPO regularises per-token log-likelihood ratios (Azar et al.); TRL divides the
                // scores by the response lengths inside the loss only.
                losses = (chosenScore / nc - rejectedScore / nr - 1 / (2 * beta)).pow(2);
                break;
            case LossType::SigmoidNorm:
                losses = -torch::log_sigmoid(beta * (chosenScore / nc - rejectedScore / nr));
                break;
            case LossType::ExoPair: {
                if (!(eps > 0 && eps < 1)) throw Error("exo_pair needs --label-smoothing in (0, 1), e.g. 1e-3");
                torch::Tensor z = beta * delta;
                losses = torch::sigmoid(z) * (torch::log_sigmoid(z) - std::log1p(-eps)) +
                         torch::sigmoid(-z) * (torch::log_sigmoid(-z) - std::log(eps));
                break;
            }
            case LossType::NcaPair: {
                torch::Tensor c = beta * chosenRatio, r = beta * rejectedRatio;
                losses = -torch::log_sigmoid(c) - 0.5 * torch::log_sigmoid(-c) - 0.5 * torch::log_sigmoid(-r);
                break;
            }
            case LossType::BcoPair:
                losses = -torch::log_sigmoid(beta * chosenRatio) - torch::log_sigmoid(-beta * rejectedRatio);
                break;
            case LossType::SppoHard:
                losses = (chosenRatio - 0.5 / beta).pow(2) + (rejectedRatio + 0.5 / beta).pow(2);
                break;
            case LossType::Aot:
            case LossType::AotUnpaired: {
                // Optimal transport in one dimension: the i-th smallest against the i-th smallest.
                torch::Tensor a, b;
                if (term.type == LossType::Aot) {
                    a = std::get<0>((pc - pr).sort(0));
                    b = std::get<0>((rc - rr).sort(0));
                } else {
                    a = std::get<0>(chosenRatio.sort(0));
                    b = std::get<0>(rejectedRatio.sort(0));
                }
                torch::Tensor d = beta * (a - b);
                losses = -(1 - eps) * torch::log_sigmoid(d) - eps * torch::log_sigmoid(-d);
                break;
            }
            case LossType::ApoZero:
                losses = (1 - torch::sigmoid(beta * chosenRatio)) + torch::sigmoid(beta * rejectedRatio);
                break;
            case LossType::ApoDown:
                losses = torch::sigmoid(beta * chosenRatio) + (1 - torch::sigmoid(beta * (chosenRatio - rejectedRatio)));
                break;
            case LossType::Discopop: {
                if (!(options.discopopTau > 0)) throw Error("discopop needs --discopop-tau > 0");
                torch::Tensor z = beta * delta;
                torch::Tensor mix = torch::sigmoid(z / options.discopopTau);
                losses = -torch::log_sigmoid(z) * (1 - mix) + torch::exp(-z) * mix;
                break;
            }
            case LossType::Sft:
                losses = sftNll.expand(pc.sizes());
                break;
            case LossType::Simpo: {
                // SimPO (Meng et al.): per-token log-probs, no reference, a target margin γ.
                torch::Tensor z = beta * (pc / nc - pr / nr) - options.simpoGamma;
                losses = -(1 - eps) * torch::log_sigmoid(z) - eps * torch::log_sigmoid(-z);
                break;
            }
            case LossType::Orpo: {
                // ORPO (Hong et al.): the NLL of chosen minus β · log σ(log-odds ratio), on per-token
                // log-probs; odds(y) = p / (1 − p) with p = exp(mean token log-prob).
                // At least float32, as TRL upcasts half-precision log-probs here.
                const auto t = pc.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
                torch::Tensor ac = (pc / nc).to(t), ar = (pr / nr).to(t);
                torch::Tensor logOdds = (ac - ar) - (log1mexp(ac) - log1mexp(ar));
                torch::Tensor ratio = torch::log_sigmoid(logOdds);
                losses = (orpoNll.to(ratio.options()) - beta * ratio).to(pc.scalar_type());
                out.perPair["log_odds_ratio"] = ratio.detach();
                out.perPair["log_odds_chosen"] = logOdds.detach();
                break;
            }
        }
        if (perPair && options.agreement == AgreementUse::Weights && term.type != LossType::Sft)
            // 1 − 2d; exactly 1 where d = 0
            losses = losses * (1 - 2 * in.disagreement.to(torch::kCPU, torch::kFloat64).clamp(0.0, 0.5)).to(losses.options());
        if (in.pairWeights.defined()) losses = losses * in.pairWeights.to(losses.options()).detach();
        torch::Tensor weighted = term.weight * losses.mean();
        total = total.defined() ? total + weighted : weighted;
        torch::Tensor part = (term.weight * losses).detach();
        perPairTotal = perPairTotal.defined() ? perPairTotal + part : part;
    }

    out.loss = total;
    out.losses = perPairTotal;
    if (perTokenRewards) {
        out.chosenLogps = (pc / nc).detach();
        out.rejectedLogps = (pr / nr).detach();
        out.chosenRewards = beta * out.chosenLogps;
        out.rejectedRewards = beta * out.rejectedLogps;
    } else {
        out.chosenLogps = pc.detach();
        out.rejectedLogps = pr.detach();
        out.chosenRewards = (beta * chosenRatio).detach();
        out.rejectedRewards = (beta * rejectedRatio).detach();
    }
    return out;
}

namespace {
double sumOf(const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kDouble).sum().item<double>(); }
}  // namespace

void MetricAccumulator::add(const LossInputs& in, const LossOutput& out, const LossOptions& options) {
    const int64_t n = out.chosenRewards.size(0);
    if (n == 0) return;
    pairs_ += n;
    sums_["loss"] += out.loss.detach().to(torch::kCPU, torch::kDouble).item<double>() * double(n);
    sums_["rewards/chosen"] += sumOf(out.chosenRewards);
    sums_["rewards/rejected"] += sumOf(out.rejectedRewards);
    sums_["rewards/margins"] += sumOf(out.chosenRewards - out.rejectedRewards);
    sums_["rewards/accuracies"] += sumOf((out.chosenRewards > out.rejectedRewards).to(torch::kDouble));
    sums_["logps/chosen"] += sumOf(out.chosenLogps.defined() ? out.chosenLogps : in.policyChosen);
    sums_["logps/rejected"] += sumOf(out.rejectedLogps.defined() ? out.rejectedLogps : in.policyRejected);
    for (const auto& [name, values] : out.perPair) sums_[name] += sumOf(values);
    // The per-token metrics come from one forward, so they come together (or not at all).
    if (in.chosenLogitSums.defined() && in.rejectedLogitSums.defined()) {
        sums_["logits/chosen"] += sumOf(in.chosenLogitSums);
        sums_["logits/rejected"] += sumOf(in.rejectedLogitSums);
        if (in.chosenEntropySums.defined() && in.rejectedEntropySums.defined())
            sums_["entropy"] += sumOf(in.chosenEntropySums) + sumOf(in.rejectedEntropySums);
        if (in.chosenTop1.defined()) sums_["mean_token_accuracy"] += sumOf(in.chosenTop1);
        chosenTokens_ += sumOf(in.chosenTokens);
        rejectedTokens_ += sumOf(in.rejectedTokens);
    }
    if (keepPairs_) {
        auto host = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kDouble).contiguous(); };
        const auto rc = host(out.chosenRewards), rr = host(out.rejectedRewards);
        const auto tc = host(in.chosenTokens), tr = host(in.rejectedTokens);
        const double *c = rc.data_ptr<double>(), *r = rr.data_ptr<double>();
        const double *lc = tc.data_ptr<double>(), *lr = tr.data_ptr<double>();
        const auto zeros = torch::zeros({n}, torch::kDouble);
        const auto hpc = host(in.policyChosen), hpr = host(in.policyRejected);
        const auto hrc = in.refChosen.defined() && !options.referenceFree ? host(in.refChosen) : zeros;
        const auto hrr = in.refRejected.defined() && !options.referenceFree ? host(in.refRejected) : zeros;
        for (int64_t i = 0; i < n; ++i) {
            PairOutcome o;
            o.policyChosen = hpc.data_ptr<double>()[i];
            o.policyRejected = hpr.data_ptr<double>()[i];
            o.referenceChosen = hrc.data_ptr<double>()[i];
            o.referenceRejected = hrr.data_ptr<double>()[i];
            o.chosenReward = c[i];
            o.rejectedReward = r[i];
            o.chosenTokens = int64_t(lc[i]);
            o.rejectedTokens = int64_t(lr[i]);
            pairOutcomes_.push_back(o);
        }
    }
    if (out.nll.defined()) sums_["nll_loss"] += out.nll.detach().to(torch::kCPU, torch::kDouble).item<double>() * double(n);
}

void MetricAccumulator::addScalar(const std::string& name, double value) {
    auto& s = scalars_[name];
    s.first += value;
    s.second += 1;
}

std::map<std::string, double> MetricAccumulator::mean() const {
    std::map<std::string, double> m;
    if (pairs_ > 0) {
        for (const auto& [name, sum] : sums_) {
            if (name == "logits/chosen" || name == "mean_token_accuracy")
                m[name] = chosenTokens_ > 0 ? sum / chosenTokens_ : 0.0;
            else if (name == "logits/rejected")
                m[name] = rejectedTokens_ > 0 ? sum / rejectedTokens_ : 0.0;
            else if (name == "entropy")
                m[name] = chosenTokens_ + rejectedTokens_ > 0 ? sum / (chosenTokens_ + rejectedTokens_) : 0.0;
            else
                m[name] = sum / double(pairs_);
        }
    }
    for (const auto& [name, s] : scalars_)
        if (s.second > 0) m[name] = s.first / s.second;
    return m;
}

void MetricAccumulator::clear() {
    pairs_ = 0;
    chosenTokens_ = rejectedTokens_ = 0;
    sums_.clear();
    scalars_.clear();
    pairOutcomes_.clear();
}

std::map<std::string, double> MetricAccumulator::state() const {
    std::map<std::string, double> s;
    s[".pairs"] = double(pairs_);
    s[".chosen_tokens"] = chosenTokens_;
    s[".rejected_tokens"] = rejectedTokens_;
    for (const auto& [k, v] : sums_) s["sum:" + k] = v;
    for (const auto& [k, v] : scalars_) {
        s["scalar_sum:" + k] = v.first;
        s["scalar_count:" + k] = v.second;
    }
    return s;
}

void MetricAccumulator::restore(const std::map<std::string, double>& state) {
    clear();
    for (const auto& [k, v] : state) {
        if (k == ".pairs") pairs_ = int64_t(v);
        else if (k == ".chosen_tokens") chosenTokens_ = v;
        else if (k == ".rejected_tokens") rejectedTokens_ = v;
        else if (k.rfind("sum:", 0) == 0) sums_[k.substr(4)] = v;
        else if (k.rfind("scalar_sum:", 0) == 0) scalars_[k.substr(11)].first = v;
        else if (k.rfind("scalar_count:", 0) == 0) scalars_[k.substr(13)].second = v;
    }
}

}  // namespace dpowb::train
