// The trainer against TRL itself: scripts/make-trl-fixtures.py ran TRL's DPOTrainer (the version
// in tests/data/train/trl/expected.json) for one and for three optimizer steps with every loss
// type both trainers have, and with the options that change the loss (combined losses and MPO,
// ld_alpha, use_weighting, the f-divergences, TR-DPO's reference sync), and TRL's CPOTrainer
// (SimPO) and ORPOTrainer for `--loss simpo` and `--loss orpo`, on a tiny random Qwen 2 and six
// pre-tokenized pairs, and recorded every metric TRL logged at every step, the exact loss and
// the updated weights (of every three-step run, and of the one-step runs of the plain loss
// types). runTraining with the same settings must log the same metrics, under the same names,
// and end with the same weights. The few metrics that are defined otherwise by CPO's and ORPO's
// trainers are listed in the fixture with the reason, and left out.
//
// Tolerances. Both sides compute in float32 and in a different order (another attention and LM
// head kernel, another summation order), so nothing but the counts is bitwise equal; and after
// the first update Adam's step lr·m/(√v + ε) carries those differences into the weights, where
// a gradient element near zero can move its parameter by a fair share of lr either way. So:
//  - exact: num_tokens, learning_rate, epoch (integers and the schedule), and the two shares of
//    counts, rewards/accuracies and mean_token_accuracy, up to TRL's float32 division (k/n
//    rounded to float32, ours in double). A share could only move more where a margin or a
//    pair of logits lay within rounding of a tie; none does in this data (at step 1 every
//    margin is exactly 0 on both sides: the reference is the policy, run the same way; simpo's
//    and orpo's margins, which have no reference, are not 0 and still agree);
//  - relative 1e-5 plus absolute 1e-6 for the loss and every other metric at step 1 (float32
//    forwards over ~20 tokens of a 12-wide model agree to a few 1e-7 relative; measured: about
//    1e-7 at most), and 1e-4 plus 1e-5 at steps 2 and 3, which start from weights that differ by the
//    Adam effect above (measured: below 1e-6 relative);
//  - weights: every tensor, max |difference| below lr/1000 per step taken (measured: below
//    lr/3000 over three steps, forward_kl's the largest), mean below lr/10⁴ per step; and TRL's update itself must be
//    larger than that by far (it moves some weight by at least lr/2), so that the comparison
//    could fail.
#include <QtTest>

#include <QTemporaryDir>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/safetensors.h"
#include "train/trainer.h"

using namespace dpowb;
using json = nlohmann::json;

namespace {

const std::string kDir = std::string(DPOWB_TEST_DATA) + "/train/trl";

json readJson(const std::string& path) {
    std::ifstream in(path);
    return json::parse(in);
}

struct Recorder : train::TrainObserver {
    std::vector<train::MetricPoint> points;
    void onMetrics(const train::MetricPoint& p) override {
        if (p.split == "train") points.push_back(p);
    }
};

// The settings the generator gave TRL, as `dpowb train` options.
train::TrainConfig configFor(const json& fixture, const json& run, const std::string& out) {
    const json& s = fixture["settings"];
    const json& o = run["options"];
    const std::string trainer = run["trainer"];
    train::TrainConfig c;
    c.data = kDir + "/pairs.jsonl";
    c.model = kDir + "/model";
    c.out = out;
    c.device = "cpu";
    c.dtype = "float32";
    if (trainer == "dpo") {
        // TRL's loss_type list, comma-separated here.
        c.loss.clear();
        for (const auto& name : o["loss_type"]) c.loss += (c.loss.empty() ? "" : ",") + name.get<std::string>();
        if (o.contains("loss_weights")) c.lossWeights = o["loss_weights"].get<std::vector<double>>();
    } else if (trainer == "cpo") {
        c.loss = o["loss_type"].get<std::string>();  // "simpo"
        if (o.value("cpo_alpha", 0.0) != 0.0) throw std::runtime_error("the trainer's simpo has no CPO NLL term");
        c.simpoGamma = o["simpo_gamma"];
    } else {
        c.loss = "orpo";
    }
    c.labelSmoothing = o.value("label_smoothing", 0.0);
    c.beta = o.value("beta", s["beta"].get<double>());
    c.discopopTau = s["discopop_tau"];
    c.ldAlpha = o.value("ld_alpha", 1.0);
    c.useWeighting = o.value("use_weighting", false);
    c.fDivergenceType = o.value("f_divergence_type", std::string("reverse_kl"));
    c.fAlphaDivergenceCoef = o.value("f_alpha_divergence_coef", 0.5);
    c.syncRefModel = o.value("sync_ref_model", false);
    c.refModelSyncSteps = o.value("ref_model_sync_steps", int64_t(512));
    c.refModelMixupAlpha = o.value("ref_model_mixup_alpha", 0.6);
    c.lr = s["learning_rate"];
    c.lrSchedulerType = fixture["lr_scheduler_type"].get<std::string>();
    c.warmupSteps = fixture["warmup_steps"];
    c.weightDecay = s["weight_decay"];
    c.maxGradNorm = s["max_grad_norm"];
    c.adamBeta1 = s["adam_beta1"];
    c.adamBeta2 = s["adam_beta2"];
    c.adamEpsilon = s["adam_epsilon"];
    c.maxLength = s["max_length"];
    c.maxPromptLength = 512;  // the default; the prompts have 2 to 6 tokens: nothing is cut on either side
    c.batchSize = fixture["batch_size"];  // every pair in the one batch of every step
    c.gradAccum = 1;
    c.maxSteps = run["steps"];
    c.loggingSteps = 1;
    c.seed = s["seed"];
    return c;
}

// The metrics that are counts or the schedule: how far ours (double) may be from TRL's, whose
// shares of counts are divided in float32 (one rounding); -1 for the others.
double exactTolerance(const std::string& name, double want) {
    if (name == "num_tokens" || name == "learning_rate" || name == "epoch") return 0.0;
    if (name == "rewards/accuracies" || name == "mean_token_accuracy") return 0x1p-24 * std::abs(want);
    return -1;
}

}  // namespace

class TestTrlReference : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void matchesTrl_data();
    void matchesTrl();
};

void TestTrlReference::matchesTrl_data() {
    QTest::addColumn<QString>("run");
    const json fixture = readJson(kDir + "/expected.json");
    for (const auto& [key, run] : fixture["runs"].items()) QTest::newRow(key.c_str()) << QString::fromStdString(key);
}

void TestTrlReference::matchesTrl() {
    QFETCH(QString, run);
    const json fixture = readJson(kDir + "/expected.json");
    const json& r = fixture["runs"][run.toStdString()];
    QTemporaryDir dir;
    train::TrainConfig c = configFor(fixture, r, dir.filePath("out").toStdString());
    Recorder rec;
    train::TrainControl control;
    const auto result = train::runTraining(c, rec, control);
    QVERIFY2(result.status == store::RunStatus::Finished, result.error.c_str());

    const auto& logged = r["logged"];
    QCOMPARE(rec.points.size(), logged.size());
    std::map<std::string, double> worst;  // metric -> max |ours − TRL's| over the steps
    for (size_t i = 0; i < logged.size(); ++i) {
        const auto& ours = rec.points[i].values;
        const json& trl = logged[i];
        QCOMPARE(rec.points[i].step, trl["step"].get<int64_t>());
        const double rtol = i == 0 ? 1e-5 : 1e-4, atol = i == 0 ? 1e-6 : 1e-5;
        for (const auto& [name, value] : trl.items()) {
            if (name == "step" || r["not_compared"].contains(name)) continue;
            auto it = ours.find(name);
            QVERIFY2(it != ours.end(), qPrintable(QString("step %1: TRL logs %2, the trainer does not")
                                                      .arg(i + 1).arg(QString::fromStdString(name))));
            const double want = value.get<double>(), got = it->second;
            worst[name] = std::max(worst[name], std::abs(got - want));
            const double exact = exactTolerance(name, want);
            const double tol = exact >= 0 ? exact : atol + rtol * std::abs(want);
            QVERIFY2(std::abs(got - want) <= tol, qPrintable(QString("step %1, %2: ours %3, TRL %4 (tolerance %5)")
                                                                 .arg(i + 1)
                                                                 .arg(QString::fromStdString(name))
                                                                 .arg(got, 0, 'g', 10)
                                                                 .arg(want, 0, 'g', 10)
                                                                 .arg(tol)));
        }
        // The loss before any rounding of the log (the logged one is the same float here).
        const double exact = r["exact_loss"][i];
        QVERIFY2(std::abs(ours.at("loss") - exact) <= atol + rtol * std::abs(exact),
                 qPrintable(QString("step %1: loss %2, TRL's %3").arg(i + 1).arg(ours.at("loss"), 0, 'g', 10).arg(exact, 0, 'g', 10)));
    }

    QString summary = run;
    for (const auto& [name, why] : r["not_compared"].items())  // the reasons are in the fixture
        summary += QString(" (%1 not compared)").arg(QString::fromStdString(name));
    if (!r["weights"].get<bool>()) {  // a one-step run of an option: its three-step run compares the weights
        for (const auto& [name, d] : worst) summary += QString("; %1 %2").arg(QString::fromStdString(name)).arg(d, 0, 'g', 3);
        qInfo("%s", qPrintable(summary));
        return;
    }

    // The updated weights, tensor by tensor.
    const double lr = c.lr, steps = double(c.maxSteps);
    model::SafetensorsFile want(kDir + "/" + run.toStdString() + ".safetensors");
    model::Checkpoint got = model::Checkpoint::open(c.out);
    model::Checkpoint start = model::Checkpoint::open(kDir + "/model");
    double maxDiff = 0, maxMean = 0, moved = 0;
    for (const auto& info : want.tensors()) {
        QVERIFY(start.contains(info.name));
        moved = std::max(moved, (want.tensor(info.name).to(torch::kFloat64) - start.tensor(info.name).to(torch::kFloat64))
                                    .abs().max().item<double>());
        QVERIFY2(got.contains(info.name), qPrintable(QString::fromStdString("the saved model has no " + info.name)));
        torch::Tensor a = got.tensor(info.name).to(torch::kFloat64), b = want.tensor(info.name).to(torch::kFloat64);
        QCOMPARE(a.sizes(), b.sizes());
        torch::Tensor diff = (a - b).abs();
        const double d = diff.max().item<double>(), mean = diff.mean().item<double>();
        maxDiff = std::max(maxDiff, d);
        maxMean = std::max(maxMean, mean);
        QVERIFY2(d < 1e-3 * lr * steps && mean < 1e-4 * lr * steps,
                 qPrintable(QString::fromStdString(info.name) + QString(": max |difference| %1, mean %2").arg(d).arg(mean)));
    }
    QVERIFY2(moved > 0.5 * lr, qPrintable(QString("TRL's update moves no weight by lr/2 (%1)").arg(moved)));
    summary += QString(": weights max %1 mean %2").arg(maxDiff, 0, 'g', 3).arg(maxMean, 0, 'g', 3);
    for (const auto& [name, d] : worst) summary += QString("; %1 %2").arg(QString::fromStdString(name)).arg(d, 0, 'g', 3);
    qInfo("%s", qPrintable(summary));
}

QTEST_GUILESS_MAIN(TestTrlReference)
#include "tst_trl_reference.moc"
