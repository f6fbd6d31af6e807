// The DPO losses and TRL's metrics against the formulas of docs/MATH.md, evaluated here in double
// precision on hand-picked log-probs; gradients against finite differences; the LR schedule
// and the configuration round trip.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <limits>
#include <torch/torch.h>

#include "common/error.h"
#include "train/losses.h"
#include "train/schedule.h"
#include "train/trainer.h"

using namespace dpowb::train;

namespace {

double logSigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }

// The four log-probs of 4 pairs, chosen so that some pairs are ranked right and some wrong.
struct Case {
    std::vector<double> pc{-12.5, -30.0, -7.25, -50.0};
    std::vector<double> pr{-14.0, -28.5, -7.25, -61.0};
    std::vector<double> rc{-13.0, -29.0, -8.0, -52.5};
    std::vector<double> rr{-13.5, -29.5, -6.0, -60.0};
    std::vector<double> nc{5, 12, 3, 20};
    std::vector<double> nr{6, 10, 4, 25};
};

torch::Tensor T(const std::vector<double>& v) { return torch::tensor(v, torch::kDouble); }

LossInputs inputsOf(const Case& c) {
    LossInputs in;
    in.policyChosen = T(c.pc).requires_grad_(true);
    in.policyRejected = T(c.pr).requires_grad_(true);
    in.refChosen = T(c.rc);
    in.refRejected = T(c.rr);
    in.chosenTokens = T(c.nc);
    in.rejectedTokens = T(c.nr);
    return in;
}

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

constexpr double kTau = 0.05;   // discopop's τ in these rows (TRL's default)
constexpr double kGamma = 0.5;  // simpo's γ in these rows (TRL's default)

// log(1 − e^x), x < 0, in the plainest form (the values here are far from both ends).
double log1mexp(double x) { return std::log(1 - std::exp(x)); }

// The batch's NLL of the chosen responses per token: −Σ log π(y_w) / Σ |y_w|.
double batchNll(const std::vector<double>& pc, const std::vector<double>& nc) {
    double logp = 0, tokens = 0;
    for (size_t i = 0; i < pc.size(); ++i) logp += pc[i], tokens += nc[i];
    return -logp / tokens;
}

// Per-pair loss straight from docs/MATH.md's table (every loss but the aot pair, which pairs
// sorted positions: expectedAotLoss). `nll` is the batch's (sft and orpo).
double expectedPairLoss(LossType type, double beta, double eps, double pc, double pr, double rc, double rr,
                        double nc, double nr, double nll = 0) {
    const double c = pc - rc, r = pr - rr;  // the log-ratios
    double d = c - r;
    switch (type) {
        case LossType::Sigmoid: return -(1 - eps) * logSigmoid(beta * d) - eps * logSigmoid(-beta * d);
        case LossType::Robust: return (-(1 - eps) * logSigmoid(beta * d) + eps * logSigmoid(-beta * d)) / (1 - 2 * eps);
        case LossType::Hinge: return std::max(0.0, 1 - beta * d);
        case LossType::Ipo: return std::pow(c / nc - r / nr - 1 / (2 * beta), 2);
        case LossType::SigmoidNorm: return -logSigmoid(beta * (c / nc - r / nr));
        case LossType::ExoPair: {
            const double z = beta * d;
            return sigmoid(z) * (logSigmoid(z) - std::log(1 - eps)) + sigmoid(-z) * (logSigmoid(-z) - std::log(eps));
        }
        case LossType::NcaPair:
            return -logSigmoid(beta * c) - 0.5 * logSigmoid(-beta * c) - 0.5 * logSigmoid(-beta * r);
        case LossType::BcoPair: return -logSigmoid(beta * c) - logSigmoid(-beta * r);
        case LossType::SppoHard: return std::pow(c - 0.5 / beta, 2) + std::pow(r + 0.5 / beta, 2);
        case LossType::ApoZero: return (1 - sigmoid(beta * c)) + sigmoid(beta * r);
        case LossType::ApoDown: return sigmoid(beta * c) + (1 - sigmoid(beta * d));
        case LossType::Discopop: {
            const double z = beta * d, mix = sigmoid(z / kTau);
            return -logSigmoid(z) * (1 - mix) + std::exp(-z) * mix;
        }
        case LossType::Sft: return nll;
        case LossType::Simpo: {
            const double z = beta * (pc / nc - pr / nr) - kGamma;
            return -(1 - eps) * logSigmoid(z) - eps * logSigmoid(-z);
        }
        case LossType::Orpo: {
            const double ac = pc / nc, ar = pr / nr;
            const double logOdds = (ac - ar) - (log1mexp(ac) - log1mexp(ar));
            return nll - beta * logSigmoid(logOdds);
        }
        case LossType::Aot:
        case LossType::AotUnpaired: break;
    }
    return std::nan("");
}

// aot: the i-th smallest policy margin log π(y_w) − log π(y_l) against the i-th smallest
// reference margin; aot_unpaired: the i-th smallest chosen log-ratio against the i-th smallest
// rejected one; each difference then goes through cDPO's form. The mean over the batch.
double expectedAotLoss(bool paired, double beta, double eps, const std::vector<double>& pc,
                       const std::vector<double>& pr, const std::vector<double>& rc, const std::vector<double>& rr) {
    std::vector<double> a, b;
    for (size_t i = 0; i < pc.size(); ++i) {
        a.push_back(paired ? pc[i] - pr[i] : pc[i] - rc[i]);
        b.push_back(paired ? rc[i] - rr[i] : pr[i] - rr[i]);
    }
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    double sum = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double d = beta * (a[i] - b[i]);
        sum += -(1 - eps) * logSigmoid(d) - eps * logSigmoid(-d);
    }
    return sum / double(a.size());
}

}  // namespace

class TestLosses : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void lossAndMetrics_data();
    void lossAndMetrics();
    void gradientMatchesFiniteDifferences_data() { lossAndMetrics_data(); }
    void gradientMatchesFiniteDifferences();
    void sigmoidGradientMatchesClosedForm();
    void policyEqualsReferenceGivesLog2();
    void rpoAddsChosenNll();
    void orpoNllCoversThePrompt();
    void combinedTermsSumWithWeights();
    void fDivergenceScores_data();
    void fDivergenceScores();
    void pairWeightsScaleEveryTerm();
    void accumulatorWeightsPairsAndTokens();
    void accuracyRuleAtTies_data();
    void accuracyRuleAtTies();
    void accumulatorStateRoundTrip();
    void unknownLossIsRejected();
    void agreementPerPair_data();
    void agreementPerPair();
    void unanimousPairsTrainAsBefore_data();
    void unanimousPairsTrainAsBefore();
    void schedule_data();
    void schedule();
    void configRoundTrip();
    void configValidation_data();
    void configValidation();
};

void TestLosses::lossAndMetrics_data() {
    QTest::addColumn<int>("type");
    QTest::addColumn<double>("beta");
    QTest::addColumn<double>("eps");
    QTest::addColumn<bool>("refFree");
    QTest::newRow("sigmoid") << int(LossType::Sigmoid) << 0.1 << 0.0 << false;
    QTest::newRow("sigmoid beta 0.5") << int(LossType::Sigmoid) << 0.5 << 0.0 << false;
    QTest::newRow("cdpo") << int(LossType::Sigmoid) << 0.1 << 0.2 << false;
    QTest::newRow("robust") << int(LossType::Robust) << 0.3 << 0.1 << false;
    QTest::newRow("robust eps 0") << int(LossType::Robust) << 0.3 << 0.0 << false;
    QTest::newRow("hinge") << int(LossType::Hinge) << 0.1 << 0.0 << false;
    QTest::newRow("hinge large beta") << int(LossType::Hinge) << 2.0 << 0.0 << false;
    QTest::newRow("ipo") << int(LossType::Ipo) << 0.1 << 0.0 << false;
    QTest::newRow("ipo beta 1") << int(LossType::Ipo) << 1.0 << 0.0 << false;
    QTest::newRow("sigmoid reference-free") << int(LossType::Sigmoid) << 0.1 << 0.0 << true;
    QTest::newRow("ipo reference-free") << int(LossType::Ipo) << 0.5 << 0.0 << true;
    // TRL 1.x's losses, with TRL's defaults where it has them.
    QTest::newRow("sigmoid_norm") << int(LossType::SigmoidNorm) << 0.1 << 0.0 << false;
    QTest::newRow("sigmoid_norm beta 2") << int(LossType::SigmoidNorm) << 2.0 << 0.0 << false;
    QTest::newRow("exo_pair eps 1e-3") << int(LossType::ExoPair) << 0.1 << 1e-3 << false;
    QTest::newRow("exo_pair eps 0.2") << int(LossType::ExoPair) << 0.5 << 0.2 << false;
    QTest::newRow("nca_pair") << int(LossType::NcaPair) << 0.1 << 0.0 << false;
    QTest::newRow("bco_pair") << int(LossType::BcoPair) << 0.3 << 0.0 << false;
    QTest::newRow("sppo_hard") << int(LossType::SppoHard) << 0.1 << 0.0 << false;
    QTest::newRow("sppo_hard beta 1") << int(LossType::SppoHard) << 1.0 << 0.0 << false;
    QTest::newRow("aot") << int(LossType::Aot) << 0.1 << 0.0 << false;
    QTest::newRow("aot eps 0.1") << int(LossType::Aot) << 0.3 << 0.1 << false;
    QTest::newRow("aot_unpaired") << int(LossType::AotUnpaired) << 0.1 << 0.0 << false;
    QTest::newRow("aot_unpaired eps 0.1") << int(LossType::AotUnpaired) << 0.3 << 0.1 << false;
    QTest::newRow("apo_zero") << int(LossType::ApoZero) << 0.1 << 0.0 << false;
    QTest::newRow("apo_down") << int(LossType::ApoDown) << 0.1 << 0.0 << false;
    QTest::newRow("discopop") << int(LossType::Discopop) << 0.1 << 0.0 << false;
    QTest::newRow("discopop beta 1") << int(LossType::Discopop) << 1.0 << 0.0 << false;
    QTest::newRow("bco_pair reference-free") << int(LossType::BcoPair) << 0.1 << 0.0 << true;
    QTest::newRow("sft") << int(LossType::Sft) << 0.1 << 0.0 << false;
    QTest::newRow("simpo") << int(LossType::Simpo) << 2.0 << 0.0 << false;
    QTest::newRow("simpo eps 0.1") << int(LossType::Simpo) << 2.5 << 0.1 << false;
    QTest::newRow("orpo") << int(LossType::Orpo) << 0.1 << 0.0 << false;
    QTest::newRow("orpo beta 1") << int(LossType::Orpo) << 1.0 << 0.0 << false;
}

void TestLosses::lossAndMetrics() {
    QFETCH(int, type);
    QFETCH(double, beta);
    QFETCH(double, eps);
    QFETCH(bool, refFree);
    const auto lt = LossType(type);
    Case c;
    if (refFree) std::fill(c.rc.begin(), c.rc.end(), 0.0), std::fill(c.rr.begin(), c.rr.end(), 0.0);
    LossInputs in = inputsOf(Case{});  // reference values must be ignored when reference-free
    if (!refFree) in = inputsOf(c);
    LossOptions opt{lt, beta, eps, refFree, 0.0};
    opt.discopopTau = kTau;
    opt.simpoGamma = kGamma;
    LossOutput out = dpoLoss(in, opt);

    // sft, simpo and orpo use no reference: its values must not matter.
    const bool noRef = lt == LossType::Sft || lt == LossType::Simpo || lt == LossType::Orpo;
    if (noRef) std::fill(c.rc.begin(), c.rc.end(), 0.0), std::fill(c.rr.begin(), c.rr.end(), 0.0);
    // TRL 1.x: rewards are β times the summed log-ratios (ipo and sigmoid_norm normalise inside
    // the loss only); SimPO and ORPO (TRL's CPO and ORPO trainers) report β times the per-token
    // log-probs, and those as logps/*.
    const bool perToken = lt == LossType::Simpo || lt == LossType::Orpo;
    const size_t n = c.pc.size();
    const double nll = batchNll(c.pc, c.nc);
    const bool aot = lt == LossType::Aot || lt == LossType::AotUnpaired;
    double loss = aot ? n * expectedAotLoss(lt == LossType::Aot, beta, eps, c.pc, c.pr, c.rc, c.rr) : 0;
    double rch = 0, rrej = 0, acc = 0, lpc = 0, lpr = 0;
    for (size_t i = 0; i < n; ++i) {
        if (!aot) loss += expectedPairLoss(lt, beta, eps, c.pc[i], c.pr[i], c.rc[i], c.rr[i], c.nc[i], c.nr[i], nll);
        double div_c = perToken ? c.nc[i] : 1, div_r = perToken ? c.nr[i] : 1;
        double a = beta * (c.pc[i] - c.rc[i]) / div_c, b = beta * (c.pr[i] - c.rr[i]) / div_r;
        rch += a, rrej += b, acc += (a > b) ? 1 : 0;
        lpc += c.pc[i] / div_c, lpr += c.pr[i] / div_r;
    }
    QVERIFY2(std::abs(out.loss.item<double>() - loss / n) < 1e-12,
             qPrintable(QString("loss %1, formula %2").arg(out.loss.item<double>(), 0, 'g', 17).arg(loss / n, 0, 'g', 17)));

    MetricAccumulator m;
    m.add(in, out, opt);
    auto v = m.mean();
    QVERIFY(std::abs(v.at("loss") - loss / n) < 1e-12);
    QVERIFY(std::abs(v.at("rewards/chosen") - rch / n) < 1e-12);
    QVERIFY(std::abs(v.at("rewards/rejected") - rrej / n) < 1e-12);
    QVERIFY(std::abs(v.at("rewards/margins") - (rch - rrej) / n) < 1e-12);
    QCOMPARE(v.at("rewards/accuracies"), acc / n);
    QVERIFY(std::abs(v.at("logps/chosen") - lpc / n) < 1e-12);
    QVERIFY(std::abs(v.at("logps/rejected") - lpr / n) < 1e-12);
    const bool withNll = lt == LossType::Sft || lt == LossType::Orpo;
    QCOMPARE(bool(v.count("nll_loss")), withNll);
    if (withNll) QVERIFY(std::abs(v.at("nll_loss") - nll) < 1e-12);
    if (lt == LossType::Orpo) {  // TRL's ORPO logs the mean log σ(log-odds) and the mean log-odds
        double ratio = 0, odds = 0;
        for (size_t i = 0; i < n; ++i) {
            const double ac = c.pc[i] / c.nc[i], ar = c.pr[i] / c.nr[i];
            const double lo = (ac - ar) - (log1mexp(ac) - log1mexp(ar));
            odds += lo, ratio += logSigmoid(lo);
        }
        QVERIFY(std::abs(v.at("log_odds_ratio") - ratio / n) < 1e-12);
        QVERIFY(std::abs(v.at("log_odds_chosen") - odds / n) < 1e-12);
    }
}

// TRL's loss_type list with loss_weights: the loss is Σ w · mean(term). MPO's weights, and
// --rpo-alpha as the sft term's alias.
void TestLosses::combinedTermsSumWithWeights() {
    Case c;
    LossInputs in = inputsOf(c);
    LossOptions mpo{LossType::Sigmoid, 0.1, 0.0, false, 0.0};
    mpo.terms = parseLossTerms("sigmoid,bco_pair,sft", {0.8, 0.2, 1.0});
    LossOutput out = dpoLoss(in, mpo);
    const size_t n = c.pc.size();
    const double nll = batchNll(c.pc, c.nc);
    double sig = 0, bco = 0;
    for (size_t i = 0; i < n; ++i) {
        sig += expectedPairLoss(LossType::Sigmoid, 0.1, 0, c.pc[i], c.pr[i], c.rc[i], c.rr[i], c.nc[i], c.nr[i]);
        bco += expectedPairLoss(LossType::BcoPair, 0.1, 0, c.pc[i], c.pr[i], c.rc[i], c.rr[i], c.nc[i], c.nr[i]);
    }
    const double expected = 0.8 * sig / n + 0.2 * bco / n + 1.0 * nll;
    QVERIFY(std::abs(out.loss.item<double>() - expected) < 1e-12);
    QVERIFY(std::abs(out.nll.item<double>() - nll) < 1e-12);
    // --rpo-alpha 1 on sigmoid,bco_pair (0.8, 0.2) is the same loss.
    LossOptions alias{LossType::Sigmoid, 0.1, 0.0, false, 1.0};
    alias.terms = parseLossTerms("sigmoid,bco_pair", {0.8, 0.2});
    QCOMPARE(alias.effectiveTerms().size(), size_t(3));
    QVERIFY(std::abs(dpoLoss(in, alias).loss.item<double>() - expected) < 1e-12);
    // Lists that cannot work say so.
    QVERIFY_THROWS_EXCEPTION(dpowb::Error, parseLossTerms("sigmoid,sigmoid"));
    QVERIFY_THROWS_EXCEPTION(dpowb::Error, parseLossTerms("sigmoid,bco_pair", {1.0}));
    QVERIFY_THROWS_EXCEPTION(dpowb::Error, parseLossTerms("sigmoid,", {}));
    QVERIFY_THROWS_EXCEPTION(dpowb::Error, parseLossTerms("simpo,sigmoid"));
    QVERIFY_THROWS_EXCEPTION(dpowb::Error, parseLossTerms("sigmoid", {-1.0}));
    QCOMPARE(parseLossTerms("orpo, sft").size(), size_t(2));
}

// f-DPO (TRL's f_divergence_type): the delta-based losses see f'(π_θ/π_ref) in place of the
// log-ratio; rewards stay β times the log-ratios.
void TestLosses::fDivergenceScores_data() {
    QTest::addColumn<int>("type");
    QTest::addColumn<int>("divergence");
    QTest::addColumn<double>("alpha");
    for (auto lt : {LossType::Sigmoid, LossType::Hinge, LossType::Ipo}) {
        const QString name = toString(lt);
        QTest::newRow(qPrintable(name + " forward_kl")) << int(lt) << int(FDivergence::ForwardKl) << 0.5;
        QTest::newRow(qPrintable(name + " js")) << int(lt) << int(FDivergence::JsDivergence) << 0.5;
        QTest::newRow(qPrintable(name + " alpha 0.5")) << int(lt) << int(FDivergence::AlphaDivergence) << 0.5;
        QTest::newRow(qPrintable(name + " alpha 0.3")) << int(lt) << int(FDivergence::AlphaDivergence) << 0.3;
    }
    QTest::newRow("sigmoid alpha 1 = reverse kl") << int(LossType::Sigmoid) << int(FDivergence::AlphaDivergence) << 1.0;
}

void TestLosses::fDivergenceScores() {
    QFETCH(int, type);
    QFETCH(int, divergence);
    QFETCH(double, alpha);
    const auto lt = LossType(type);
    const auto f = FDivergence(divergence);
    auto score = [&](double u) {  // u = log π_θ − log π_ref
        switch (f) {
            case FDivergence::ReverseKl: return u;
            case FDivergence::ForwardKl: return 1 - std::exp(-u);
            case FDivergence::JsDivergence: return std::log(2.0) + logSigmoid(u);
            case FDivergence::AlphaDivergence:
                return alpha == 1.0 ? u : (std::exp((alpha - 1) * u) - 1) / (alpha - 1);
        }
        return u;
    };
    Case c;
    LossInputs in = inputsOf(c);
    LossOptions opt{lt, 0.3, 0.0, false, 0.0};
    opt.fDivergence = f;
    opt.fAlphaCoef = alpha;
    LossOutput out = dpoLoss(in, opt);
    double loss = 0, rewards = 0;
    const size_t n = c.pc.size();
    for (size_t i = 0; i < n; ++i) {
        // The per-pair formula with the scores standing in for the log-ratios (reference at 0).
        loss += expectedPairLoss(lt, 0.3, 0, score(c.pc[i] - c.rc[i]), score(c.pr[i] - c.rr[i]), 0, 0, c.nc[i], c.nr[i]);
        rewards += 0.3 * (c.pc[i] - c.rc[i]);
    }
    QVERIFY2(std::abs(out.loss.item<double>() - loss / n) < 1e-12,
             qPrintable(QString("%1 vs %2").arg(out.loss.item<double>()).arg(loss / n)));
    QVERIFY(std::abs(out.chosenRewards.sum().item<double>() - rewards) < 1e-12);
    // A loss without an f-divergence form refuses another divergence.
    LossOptions bco{LossType::BcoPair, 0.3, 0.0, false, 0.0};
    bco.fDivergence = f;
    if (f != FDivergence::ReverseKl && !(f == FDivergence::AlphaDivergence && alpha == 1.0))
        QVERIFY_THROWS_EXCEPTION(dpowb::Error, dpoLoss(in, bco));
}

// WPO (TRL's use_weighting): each term's per-pair loss is multiplied by the pair's weight, the
// sft term's too; the weights carry no gradient.
void TestLosses::pairWeightsScaleEveryTerm() {
    Case c;
    LossInputs in = inputsOf(c);
    const std::vector<double> w{0.5, 0.25, 1.0, 0.125};
    in.pairWeights = T(w);
    LossOptions opt{LossType::Sigmoid, 0.1, 0.0, false, 0.0};
    opt.terms = parseLossTerms("sigmoid,sft", {1.0, 0.5});
    LossOutput out = dpoLoss(in, opt);
    const double nll = batchNll(c.pc, c.nc);
    double expected = 0;
    for (size_t i = 0; i < w.size(); ++i)
        expected += w[i] * (expectedPairLoss(LossType::Sigmoid, 0.1, 0, c.pc[i], c.pr[i], c.rc[i], c.rr[i], c.nc[i], c.nr[i]) +
                            0.5 * nll);
    QVERIFY(std::abs(out.loss.item<double>() - expected / double(w.size())) < 1e-12);
}

void TestLosses::gradientMatchesFiniteDifferences() {
    QFETCH(int, type);
    QFETCH(double, beta);
    QFETCH(double, eps);
    QFETCH(bool, refFree);
    LossOptions opt{LossType(type), beta, eps, refFree, 0.3};  // with the NLL term as well
    opt.discopopTau = kTau;
    Case c;
    LossInputs in = inputsOf(c);
    dpoLoss(in, opt).loss.backward();
    const double h = 1e-6;
    for (int side = 0; side < 2; ++side) {
        torch::Tensor& x = side == 0 ? in.policyChosen : in.policyRejected;
        // sft alone leaves the rejected side without a gradient: zero, as finite differences say.
        torch::Tensor grad = x.grad().defined() ? x.grad().clone() : torch::zeros_like(x);
        for (int64_t i = 0; i < x.size(0); ++i) {
            torch::NoGradGuard ng;
            double orig = x[i].item<double>();
            x[i].fill_(orig + h);
            double up = dpoLoss(in, opt).loss.item<double>();
            x[i].fill_(orig - h);
            double down = dpoLoss(in, opt).loss.item<double>();
            x[i].fill_(orig);
            double fd = (up - down) / (2 * h);
            QVERIFY2(std::abs(fd - grad[i].item<double>()) < 1e-7,
                     qPrintable(QString("side %1 pair %2: autograd %3, finite difference %4")
                                    .arg(side).arg(i).arg(grad[i].item<double>()).arg(fd)));
        }
    }
}

void TestLosses::sigmoidGradientMatchesClosedForm() {
    // docs/MATH.md: dL/dlogp(y_w) = -β·σ(r̂(y_l) − r̂(y_w)) / N, and the opposite for y_l.
    Case c;
    LossInputs in = inputsOf(c);
    const double beta = 0.25;
    dpoLoss(in, LossOptions{LossType::Sigmoid, beta, 0.0, false, 0.0}).loss.backward();
    const double n = double(c.pc.size());
    for (size_t i = 0; i < c.pc.size(); ++i) {
        double rw = beta * (c.pc[i] - c.rc[i]), rl = beta * (c.pr[i] - c.rr[i]);
        double s = 1 / (1 + std::exp(-(rl - rw)));
        QVERIFY(std::abs(in.policyChosen.grad()[i].item<double>() - (-beta * s / n)) < 1e-12);
        QVERIFY(std::abs(in.policyRejected.grad()[i].item<double>() - (beta * s / n)) < 1e-12);
    }
}

void TestLosses::policyEqualsReferenceGivesLog2() {
    Case c;
    LossInputs in = inputsOf(c);
    in.refChosen = in.policyChosen.detach().clone();
    in.refRejected = in.policyRejected.detach().clone();
    LossOptions opt{LossType::Sigmoid, 0.1, 0.0, false, 0.0};
    LossOutput out = dpoLoss(in, opt);
    QVERIFY(std::abs(out.loss.item<double>() - std::log(2.0)) < 1e-15);
    MetricAccumulator m;
    m.add(in, out, opt);
    QCOMPARE(m.mean().at("rewards/accuracies"), 0.0);  // strictly greater: ties are not right
    QCOMPARE(m.mean().at("rewards/margins"), 0.0);
}

void TestLosses::rpoAddsChosenNll() {
    Case c;
    LossInputs in = inputsOf(c);
    const double alpha = 0.7;
    LossOptions plain{LossType::Sigmoid, 0.1, 0.0, false, 0.0};
    LossOptions rpo{LossType::Sigmoid, 0.1, 0.0, false, alpha};
    double tokens = 0, logp = 0;
    for (size_t i = 0; i < c.pc.size(); ++i) tokens += c.nc[i], logp += c.pc[i];
    LossOutput a = dpoLoss(in, plain), b = dpoLoss(in, rpo);
    QVERIFY(!a.nll.defined());
    QVERIFY(std::abs(b.nll.item<double>() - (-logp / tokens)) < 1e-12);
    QVERIFY(std::abs(b.loss.item<double>() - (a.loss.item<double>() + alpha * (-logp / tokens))) < 1e-12);
    MetricAccumulator m;
    m.add(in, b, rpo);
    QVERIFY(std::abs(m.mean().at("nll_loss") - (-logp / tokens)) < 1e-12);
}

// ORPO's NLL, as TRL's ORPOTrainer computes it, is over the chosen rows' prompt tokens too; the
// sft term beside it keeps the responses' alone.
void TestLosses::orpoNllCoversThePrompt() {
    Case c;
    LossInputs in = inputsOf(c);
    const std::vector<double> promptLogps{-6.5, -2.0, -11.25, 0.0}, promptTokens{3, 1, 5, 0};
    in.chosenPromptLogps = T(promptLogps);
    in.chosenPromptTokens = T(promptTokens);
    LossOptions opt;
    opt.beta = 0.1;
    opt.terms = parseLossTerms("orpo,sft", {1.0, 0.5});
    const LossOutput out = dpoLoss(in, opt);

    double logp = 0, tokens = 0;
    for (size_t i = 0; i < c.pc.size(); ++i) logp += c.pc[i] + promptLogps[i], tokens += c.nc[i] + promptTokens[i];
    const double rowNll = -logp / tokens, responseNll = batchNll(c.pc, c.nc);
    QVERIFY(std::abs(rowNll - responseNll) > 1e-3);  // the two differ in this data
    double want = 0;
    for (size_t i = 0; i < c.pc.size(); ++i) {
        const double ac = c.pc[i] / c.nc[i], ar = c.pr[i] / c.nr[i];
        want += (rowNll - 0.1 * logSigmoid((ac - ar) - (log1mexp(ac) - log1mexp(ar)))) / double(c.pc.size());
    }
    want += 0.5 * responseNll;
    QVERIFY(std::abs(out.loss.item<double>() - want) < 1e-12);
    QVERIFY(std::abs(out.nll.item<double>() - rowNll) < 1e-12);  // nll_loss: ORPO's, as TRL logs it

    // A data-parallel shard's count replaces the batch's.
    in.orpoNllTokens = 100;
    QVERIFY(std::abs(dpoLoss(in, opt).nll.item<double>() + logp / 100) < 1e-12);
}

void TestLosses::accumulatorWeightsPairsAndTokens() {
    // Two batches of different sizes: pair-weighted means, token-weighted logits, entropy (over
    // both responses' tokens) and token accuracy (over the chosen tokens).
    Case c;
    LossOptions opt{LossType::Sigmoid, 0.1, 0.0, false, 0.0};
    LossInputs a = inputsOf(c);
    a.chosenLogitSums = T({1.0, 2.0, 3.0, 4.0});
    a.rejectedLogitSums = T({-1.0, 0.5, 0.5, 2.0});
    a.chosenEntropySums = T({10.0, 20.0, 5.0, 1.0});
    a.rejectedEntropySums = T({2.0, 3.0, 4.0, 5.0});
    a.chosenTop1 = T({1.0, 0.0, 2.0, 3.0});
    LossInputs b;
    b.policyChosen = T({-3.0});
    b.policyRejected = T({-9.0});
    b.refChosen = T({-4.0});
    b.refRejected = T({-8.0});
    b.chosenTokens = T({2});
    b.rejectedTokens = T({3});
    b.chosenLogitSums = T({7.0});
    b.rejectedLogitSums = T({-6.0});
    b.chosenEntropySums = T({4.0});
    b.rejectedEntropySums = T({9.0});
    b.chosenTop1 = T({2.0});
    MetricAccumulator m;
    LossOutput oa = dpoLoss(a, opt), ob = dpoLoss(b, opt);
    m.add(a, oa, opt);
    m.add(b, ob, opt);
    m.addScalar("grad_norm", 1.5);
    m.addScalar("grad_norm", 2.5);
    auto v = m.mean();
    QCOMPARE(m.pairs(), int64_t(5));
    double expectLoss = (oa.loss.item<double>() * 4 + ob.loss.item<double>()) / 5;
    QVERIFY(std::abs(v.at("loss") - expectLoss) < 1e-12);
    double accA = 0;
    for (size_t i = 0; i < 4; ++i) accA += (c.pc[i] - c.rc[i]) > (c.pr[i] - c.rr[i]);
    QCOMPARE(v.at("rewards/accuracies"), (accA + 1.0) / 5);  // pair b ranks right: +0.1 > -0.1
    QVERIFY(std::abs(v.at("logits/chosen") - (10.0 + 7.0) / (40.0 + 2.0)) < 1e-12);
    QVERIFY(std::abs(v.at("logits/rejected") - (2.0 - 6.0) / (45.0 + 3.0)) < 1e-12);
    QVERIFY(std::abs(v.at("entropy") - (36.0 + 14.0 + 4.0 + 9.0) / (40.0 + 2.0 + 45.0 + 3.0)) < 1e-12);
    QVERIFY(std::abs(v.at("mean_token_accuracy") - (6.0 + 2.0) / (40.0 + 2.0)) < 1e-12);
    QCOMPARE(v.at("grad_norm"), 2.0);
}

// rewards/accuracies follows TRL's rule exactly: a pair counts as right when its chosen reward
// is strictly greater than its rejected reward, (chosen_rewards > rejected_rewards).float();
// a tie, at 0 or anywhere else, counts as wrong. Hand-made log-prob ratios (reference at 0,
// so each reward is β times the ratio) at and around ties, in both precisions.
void TestLosses::accuracyRuleAtTies_data() {
    QTest::addColumn<bool>("float32");
    QTest::addColumn<QList<double>>("chosen");    // log π_θ − log π_ref of the chosen responses
    QTest::addColumn<QList<double>>("rejected");  // of the rejected responses
    QTest::addColumn<double>("accuracy");
    for (bool f32 : {true, false}) {
        const char* p = f32 ? "float32" : "float64";
        // 16 times the smallest normal number: its reward β·ratio (β = 0.1) is still normal, so the row
        // does not depend on whether the CPU flushes subnormals to zero.
        const double tiny = 16 * (f32 ? double(std::numeric_limits<float>::min()) : std::numeric_limits<double>::min());
        const double above = f32 ? double(std::nextafter(0.5f, 1.0f)) : std::nextafter(0.5, 1.0);
        QTest::newRow(qPrintable(QString("%1: tie at 0").arg(p))) << f32 << QList<double>{0.0} << QList<double>{0.0} << 0.0;
        QTest::newRow(qPrintable(QString("%1: tie away from 0").arg(p))) << f32 << QList<double>{0.5} << QList<double>{0.5} << 0.0;
        QTest::newRow(qPrintable(QString("%1: +1e-9").arg(p))) << f32 << QList<double>{1e-9} << QList<double>{0.0} << 1.0;
        QTest::newRow(qPrintable(QString("%1: -1e-9").arg(p))) << f32 << QList<double>{-1e-9} << QList<double>{0.0} << 0.0;
        QTest::newRow(qPrintable(QString("%1: +tiny").arg(p))) << f32 << QList<double>{tiny} << QList<double>{0.0} << 1.0;
        QTest::newRow(qPrintable(QString("%1: -tiny").arg(p))) << f32 << QList<double>{0.0} << QList<double>{tiny} << 0.0;
        QTest::newRow(qPrintable(QString("%1: one ulp above a tie").arg(p))) << f32 << QList<double>{above} << QList<double>{0.5} << 1.0;
        QTest::newRow(qPrintable(QString("%1: -0 against +0").arg(p))) << f32 << QList<double>{-0.0} << QList<double>{0.0} << 0.0;
        // A batch: right, tied, wrong, barely right -> 2 of 4.
        QTest::newRow(qPrintable(QString("%1: batch").arg(p)))
            << f32 << QList<double>{1.0, 0.0, -1.0, 1e-9} << QList<double>{0.0, 0.0, 0.0, 0.0} << 0.5;
    }
}

void TestLosses::accuracyRuleAtTies() {
    QFETCH(bool, float32);
    QFETCH(QList<double>, chosen);
    QFETCH(QList<double>, rejected);
    QFETCH(double, accuracy);
    const auto dtype = float32 ? torch::kFloat32 : torch::kFloat64;
    const auto n = int64_t(chosen.size());
    auto tensorOf = [&](const QList<double>& v) {
        return torch::tensor(std::vector<double>(v.begin(), v.end()), torch::kFloat64).to(dtype);
    };
    LossInputs in;
    in.policyChosen = tensorOf(chosen);
    in.policyRejected = tensorOf(rejected);
    in.refChosen = torch::zeros({n}, dtype);
    in.refRejected = torch::zeros({n}, dtype);
    in.chosenTokens = torch::ones({n}, dtype);
    in.rejectedTokens = torch::ones({n}, dtype);
    for (bool referenceFree : {false, true}) {
        LossOptions o;
        o.referenceFree = referenceFree;
        LossOutput out = dpoLoss(in, o);
        MetricAccumulator m;
        m.add(in, out, o);
        QCOMPARE(m.mean().at("rewards/accuracies"), accuracy);
    }
}

void TestLosses::accumulatorStateRoundTrip() {
    Case c;
    LossOptions opt{LossType::Sigmoid, 0.1, 0.0, false, 0.5};
    LossInputs in = inputsOf(c);
    MetricAccumulator m;
    m.add(in, dpoLoss(in, opt), opt);
    m.addScalar("tokens_per_second", 123.0);
    MetricAccumulator r;
    r.restore(m.state());
    QCOMPARE(r.mean(), m.mean());
    QCOMPARE(r.pairs(), m.pairs());
}

void TestLosses::unknownLossIsRejected() {
    QVERIFY_THROWS_EXCEPTION(dpowb::Error, parseLossType("kto"));
    for (const auto& info : lossTypes()) QCOMPARE(toString(parseLossType(info.name)), info.name);
    // TRL 1.x's loss_type names, each accepted as it is spelled there.
    for (const char* name : {"sigmoid", "robust", "hinge", "ipo", "sigmoid_norm", "exo_pair", "nca_pair", "bco_pair",
                             "sppo_hard", "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop"})
        QCOMPARE(toString(parseLossType(name)), name);
    try {
        parseLossType("kto");
    } catch (const dpowb::Error& e) {
        QVERIFY2(std::string(e.what()).find("apo_zero") != std::string::npos, e.what());  // names the choices
    }
}

// Per-pair agreement (losses.h AgreementUse) against docs/MATH.md's formulas in double: smoothing
// gives pair i the ε_i = max(ε, min(d_i, 0.4)) of cDPO / robust; weights multiply pair i's loss
// by 1 − 2·d_i. The four pairs: unanimous, 2 of 3 (d = 1/3), 3 of 4 (1/4), 4 of 7 (3/7, past
// the 0.4 bound).
void TestLosses::agreementPerPair_data() {
    QTest::addColumn<int>("type");
    QTest::addColumn<int>("use");
    QTest::addColumn<double>("eps");
    QTest::newRow("sigmoid smoothing") << int(LossType::Sigmoid) << int(AgreementUse::Smoothing) << 0.0;
    QTest::newRow("sigmoid smoothing, global 0.3") << int(LossType::Sigmoid) << int(AgreementUse::Smoothing) << 0.3;
    QTest::newRow("robust smoothing") << int(LossType::Robust) << int(AgreementUse::Smoothing) << 0.0;
    QTest::newRow("robust smoothing, global 0.1") << int(LossType::Robust) << int(AgreementUse::Smoothing) << 0.1;
    QTest::newRow("sigmoid weights") << int(LossType::Sigmoid) << int(AgreementUse::Weights) << 0.0;
    QTest::newRow("cdpo weights") << int(LossType::Sigmoid) << int(AgreementUse::Weights) << 0.2;
    QTest::newRow("ipo weights") << int(LossType::Ipo) << int(AgreementUse::Weights) << 0.0;
    QTest::newRow("hinge weights") << int(LossType::Hinge) << int(AgreementUse::Weights) << 0.0;
}

void TestLosses::agreementPerPair() {
    QFETCH(int, type);
    QFETCH(int, use);
    QFETCH(double, eps);
    const auto lt = LossType(type);
    const auto au = AgreementUse(use);
    const double beta = 0.2;
    const std::vector<double> d{0.0, 1.0 / 3.0, 0.25, 3.0 / 7.0};
    Case c;
    LossInputs in = inputsOf(c);
    in.disagreement = T(d);
    LossOptions opt{lt, beta, eps, false, 0.0, au};
    LossOutput out = dpoLoss(in, opt);
    double expected = 0;
    for (size_t i = 0; i < d.size(); ++i) {
        double e = eps, w = 1;
        if (au == AgreementUse::Smoothing) e = std::max(eps, std::min(d[i], 0.4));
        else w = 1 - 2 * d[i];
        const double li = w * expectedPairLoss(lt, beta, e, c.pc[i], c.pr[i], c.rc[i], c.rr[i], c.nc[i], c.nr[i]);
        QVERIFY2(std::abs(out.losses[int64_t(i)].item<double>() - li) < 1e-12,
                 qPrintable(QString("pair %1: %2, formula %3").arg(i).arg(out.losses[int64_t(i)].item<double>()).arg(li)));
        expected += li;
    }
    QVERIFY(std::abs(out.loss.item<double>() - expected / double(d.size())) < 1e-12);
    // One value worked by hand (sigmoid smoothing, ε = 0): pair 1, Δ = (−30 + 29) − (−28.5 + 29.5)
    // = −2, βΔ = −0.4, ε = 1/3: −(2/3)·log σ(−0.4) − (1/3)·log σ(0.4) = 0.77968 (log σ(−0.4) =
    // −0.91301, log σ(0.4) = −0.51301).
    if (lt == LossType::Sigmoid && au == AgreementUse::Smoothing && eps == 0.0)
        QVERIFY(std::abs(out.losses[1].item<double>() - ((2.0 / 3.0) * 0.9130152 + (1.0 / 3.0) * 0.5130152)) < 1e-6);
    // Off ignores the disagreement.
    opt.agreement = AgreementUse::Off;
    LossOptions plain{lt, beta, eps, false, 0.0};
    QCOMPARE(dpoLoss(in, opt).loss.item<double>(), dpoLoss(inputsOf(c), plain).loss.item<double>());
    // Smoothing is refused for the losses that have no ε.
    if (au == AgreementUse::Weights && (lt == LossType::Ipo || lt == LossType::Hinge)) {
        opt.agreement = AgreementUse::Smoothing;
        QVERIFY_THROWS_EXCEPTION(c10::Error, dpoLoss(in, opt));
    }
}

// A batch in float32 (the trainer's dtype) whose pairs are all unanimous (d = 0) gives the very
// same loss and gradients, bit for bit, with agreement on as with it off.
void TestLosses::unanimousPairsTrainAsBefore_data() {
    QTest::addColumn<int>("type");
    QTest::addColumn<int>("use");
    QTest::addColumn<double>("eps");
    QTest::newRow("sigmoid smoothing") << int(LossType::Sigmoid) << int(AgreementUse::Smoothing) << 0.0;
    QTest::newRow("cdpo smoothing") << int(LossType::Sigmoid) << int(AgreementUse::Smoothing) << 0.1;
    QTest::newRow("robust smoothing") << int(LossType::Robust) << int(AgreementUse::Smoothing) << 0.15;
    QTest::newRow("sigmoid weights") << int(LossType::Sigmoid) << int(AgreementUse::Weights) << 0.0;
    QTest::newRow("ipo weights") << int(LossType::Ipo) << int(AgreementUse::Weights) << 0.0;
}

void TestLosses::unanimousPairsTrainAsBefore() {
    QFETCH(int, type);
    QFETCH(int, use);
    QFETCH(double, eps);
    auto run = [&](bool withAgreement) {
        Case c;
        LossInputs in = inputsOf(c);
        in.policyChosen = in.policyChosen.detach().to(torch::kFloat32).requires_grad_(true);
        in.policyRejected = in.policyRejected.detach().to(torch::kFloat32).requires_grad_(true);
        LossOptions opt{LossType(type), 0.1, eps, false, 0.0};
        if (withAgreement) {
            in.disagreement = torch::zeros({4}, torch::kFloat64);
            opt.agreement = AgreementUse(use);
        }
        LossOutput out = dpoLoss(in, opt);
        out.loss.backward();
        return std::vector<torch::Tensor>{out.loss.detach(), in.policyChosen.grad(), in.policyRejected.grad()};
    };
    const auto off = run(false), on = run(true);
    for (size_t k = 0; k < off.size(); ++k) QVERIFY(torch::equal(off[k], on[k]));
}

void TestLosses::schedule_data() {
    QTest::addColumn<QString>("type");
    QTest::addColumn<int>("warmup");
    QTest::addColumn<int>("total");
    QTest::newRow("constant") << "constant" << 0 << 10;
    QTest::newRow("constant warmup") << "constant" << 4 << 10;
    QTest::newRow("linear") << "linear" << 0 << 10;
    QTest::newRow("linear warmup") << "linear" << 3 << 13;
    QTest::newRow("cosine") << "cosine" << 0 << 20;
    QTest::newRow("cosine warmup") << "cosine" << 5 << 25;
}

void TestLosses::schedule() {
    QFETCH(QString, type);
    QFETCH(int, warmup);
    QFETCH(int, total);
    const std::string t = type.toStdString();
    // Warm-up: k/warmup, starting at 0 as in transformers' LambdaLR.
    for (int k = 0; k < warmup; ++k) QCOMPARE(lrMultiplier(t, k, warmup, total), double(k) / warmup);
    QCOMPARE(lrMultiplier(t, warmup, warmup, total), 1.0);
    const int decay = total - warmup;
    for (int k = warmup; k <= total; ++k) {
        double p = double(k - warmup) / decay;
        double expected = t == "constant" ? 1.0 : t == "linear" ? 1.0 - p : 0.5 * (1 + std::cos(M_PI * p));
        QVERIFY(std::abs(lrMultiplier(t, k, warmup, total) - expected) < 1e-12);
    }
    if (t != "constant") QVERIFY(std::abs(lrMultiplier(t, total, warmup, total)) < 1e-12);
    QVERIFY_THROWS_EXCEPTION(dpowb::Error, lrMultiplier("polynomial", 0, 0, 10));
}

void TestLosses::configRoundTrip() {
    TrainConfig c = TrainConfig::demoPreset();
    c.db = "x.db";
    c.loss = "ipo";
    c.beta = 0.37;
    c.lr = 3.25e-5;
    c.seed = 1234567890123ULL;
    c.loraTargetModules = "c_attn";
    c.referenceFree = true;
    c.loss = "sigmoid,bco_pair,sft";
    c.lossWeights = {0.8, 0.2, 1.0};
    c.ldAlpha = 0.25;
    c.useWeighting = true;
    c.fDivergenceType = "js_divergence";
    c.syncRefModel = true;
    c.refModelSyncSteps = 7;
    TrainConfig back = TrainConfig::fromJson(c.toJson());
    QCOMPARE(back.toJson(), c.toJson());
    QCOMPARE(back.seed, c.seed);
    QCOMPARE(back.beta, 0.37);
    QCOMPARE(back.lossWeights, c.lossWeights);
    QCOMPARE(back.refModelSyncSteps, int64_t(7));
    // Missing keys keep the defaults.
    TrainConfig partial = TrainConfig::fromJson(R"({"beta": 0.5})");
    QCOMPARE(partial.beta, 0.5);
    QCOMPARE(partial.batchSize, TrainConfig{}.batchSize);
    QVERIFY_THROWS_EXCEPTION(dpowb::Error, TrainConfig::fromJson(R"({"beta": "high"})"));
    QVERIFY_THROWS_EXCEPTION(dpowb::Error, TrainConfig::fromJson("[1,2"));
}

void TestLosses::configValidation_data() {
    QTest::addColumn<QString>("json");
    QTest::addColumn<bool>("valid");
    QTest::newRow("ok") << R"({"db":"p.db"})" << true;
    QTest::newRow("no data") << R"({})" << false;
    QTest::newRow("both data") << R"({"db":"p.db","data":"d.jsonl"})" << false;
    QTest::newRow("bad loss") << R"({"db":"p.db","loss_type":"kto"})" << false;
    QTest::newRow("beta 0") << R"({"db":"p.db","beta":0})" << false;
    QTest::newRow("robust eps .5") << R"({"db":"p.db","loss_type":"robust","label_smoothing":0.5})" << false;
    QTest::newRow("hinge smoothing") << R"({"db":"p.db","loss_type":"hinge","label_smoothing":0.1})" << false;
    QTest::newRow("cdpo ok") << R"({"db":"p.db","label_smoothing":0.1})" << true;
    QTest::newRow("exo_pair without eps") << R"({"db":"p.db","loss_type":"exo_pair"})" << false;
    QTest::newRow("exo_pair eps 1e-3") << R"({"db":"p.db","loss_type":"exo_pair","label_smoothing":0.001})" << true;
    QTest::newRow("aot eps") << R"({"db":"p.db","loss_type":"aot","label_smoothing":0.1})" << true;
    QTest::newRow("apo_zero eps") << R"({"db":"p.db","loss_type":"apo_zero","label_smoothing":0.1})" << false;
    QTest::newRow("discopop tau 0") << R"({"db":"p.db","loss_type":"discopop","discopop_tau":0})" << false;
    QTest::newRow("discopop") << R"({"db":"p.db","loss_type":"discopop","discopop_tau":0.1})" << true;
    QTest::newRow("prompt too long") << R"({"db":"p.db","max_length":64,"max_prompt_length":64})" << false;
    QTest::newRow("bad scheduler") << R"({"db":"p.db","lr_scheduler_type":"step"})" << false;
    QTest::newRow("sft and ref") << R"({"db":"p.db","sft_epochs":1,"ref":"x"})" << false;
    QTest::newRow("ref free + precompute") << R"({"db":"p.db","reference_free":true,"precompute_ref":true})" << false;
    QTest::newRow("batch 0") << R"({"db":"p.db","per_device_train_batch_size":0})" << false;
    QTest::newRow("lora dropout 1") << R"({"db":"p.db","lora_rank":4,"lora_dropout":1})" << false;
    QTest::newRow("agreement smoothing") << R"({"db":"p.db","agreement":"smoothing"})" << true;
    QTest::newRow("agreement weights ipo") << R"({"db":"p.db","agreement":"weights","loss_type":"ipo"})" << true;
    QTest::newRow("agreement smoothing ipo") << R"({"db":"p.db","agreement":"smoothing","loss_type":"ipo"})" << false;
    QTest::newRow("agreement unknown") << R"({"db":"p.db","agreement":"votes"})" << false;
    QTest::newRow("agreement without db") << R"({"data":"d.jsonl","agreement":"weights"})" << false;
    QTest::newRow("mpo") << R"({"db":"p.db","loss_type":"sigmoid,bco_pair,sft","loss_weights":[0.8,0.2,1.0]})" << true;
    QTest::newRow("weights count") << R"({"db":"p.db","loss_type":"sigmoid,sft","loss_weights":[1.0]})" << false;
    QTest::newRow("sft and rpo_alpha") << R"({"db":"p.db","loss_type":"sigmoid,sft","rpo_alpha":1})" << false;
    QTest::newRow("simpo") << R"({"db":"p.db","loss_type":"simpo","simpo_gamma":1.0})" << true;
    QTest::newRow("simpo with ref") << R"({"db":"p.db","loss_type":"simpo","ref":"x"})" << false;
    QTest::newRow("simpo and sigmoid") << R"({"db":"p.db","loss_type":"simpo,sigmoid"})" << false;
    QTest::newRow("orpo and sft") << R"({"db":"p.db","loss_type":"orpo,sft"})" << true;
    QTest::newRow("orpo ld_alpha") << R"({"db":"p.db","loss_type":"orpo","ld_alpha":0.5})" << false;
    QTest::newRow("ld_alpha") << R"({"db":"p.db","ld_alpha":0.5})" << true;
    QTest::newRow("ld_alpha 2") << R"({"db":"p.db","ld_alpha":2})" << false;
    QTest::newRow("wpo") << R"({"db":"p.db","use_weighting":true})" << true;
    QTest::newRow("wpo aot") << R"({"db":"p.db","use_weighting":true,"loss_type":"aot"})" << false;
    QTest::newRow("forward_kl") << R"({"db":"p.db","f_divergence_type":"forward_kl"})" << true;
    QTest::newRow("js bco_pair") << R"({"db":"p.db","f_divergence_type":"js_divergence","loss_type":"bco_pair"})" << false;
    QTest::newRow("f-div unknown") << R"({"db":"p.db","f_divergence_type":"hellinger"})" << false;
    QTest::newRow("tr-dpo") << R"({"db":"p.db","sync_ref_model":true,"ref_model_sync_steps":4})" << true;
    QTest::newRow("tr-dpo lora") << R"({"db":"p.db","sync_ref_model":true,"lora_rank":8})" << false;
    QTest::newRow("tr-dpo precompute") << R"({"db":"p.db","sync_ref_model":true,"precompute_ref":true})" << false;
    QTest::newRow("tr-dpo alpha 0") << R"({"db":"p.db","sync_ref_model":true,"ref_model_mixup_alpha":0})" << false;
}

void TestLosses::configValidation() {
    QFETCH(QString, json);
    QFETCH(bool, valid);
    TrainConfig c = TrainConfig::fromJson(json.toStdString());
    if (valid)
        c.validate();
    else
        QVERIFY_THROWS_EXCEPTION(dpowb::Error, c.validate());
}

QTEST_APPLESS_MAIN(TestLosses)
#include "tst_losses.moc"
