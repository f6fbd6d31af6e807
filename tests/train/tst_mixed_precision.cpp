// Mixed precision and GPU-facing run behaviour, checked on the CPU where a GPU is absent:
// the autocast scope (state restored, nesting, exceptions), a bf16-autocast DPO step against the
// float32 one (the CPU autocast of LibTorch 2.x runs the same scope logic as CUDA's), the backward
// pass outside autocast, float16 training refused, out-of-memory failing the run by its type
// (injected), and the CUDA generator state carried by checkpoints (needs a GPU; skipped without).
#include <QtTest>

#include <ATen/autocast_mode.h>
#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/cuda_runtime.h"
#include "model/logprobs.h"
#include "model/model.h"
#include "store/project.h"
#include "train/dpo_step.h"
#include "train/mixed_precision.h"
#include "train/trainer.h"

using namespace dpowb;
using json = nlohmann::json;

namespace {

std::vector<model::EncodedPair> randomPairs(int n, int64_t vocab, uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto ids = [&](int len) {
        std::vector<text::TokenId> v;
        for (int i = 0; i < len; ++i) v.push_back(text::TokenId(rng() % uint64_t(vocab)));
        return v;
    };
    std::vector<model::EncodedPair> out;
    model::EncodeOptions o;
    for (int i = 0; i < n; ++i)
        out.push_back(model::encodePairIds(ids(5 + i % 4), ids(7 + i % 5), ids(4 + i % 6), o));
    return out;
}

struct StepResult {
    double loss = 0;
    std::vector<torch::Tensor> grads;
};

// One DPO step (live reference = a copy of the policy) under `mp`, gradients out.
StepResult dpoStep(const train::MixedPrecision& mp, std::vector<bool>* autocastInBackward = nullptr) {
    auto policy = model::builtinTiny({}, 99);
    auto reference = model::builtinTiny({}, 99);
    auto pairs = randomPairs(6, policy->config.vocabSize, 5);
    train::MicroBatch mb;
    for (const auto& p : pairs) mb.pairs.push_back(&p);
    train::ReferenceSource ref{reference->net.get(), false, false};
    train::LossOptions lo;
    lo.beta = 0.5;
    lo.rpoAlpha = 1.0;
    policy->net->train();
    for (auto& p : policy->net->parameters()) {
        p.mutable_grad() = torch::Tensor();
        if (autocastInBackward)
            p.register_hook([autocastInBackward](const torch::Tensor& g) {
                autocastInBackward->push_back(at::autocast::is_autocast_enabled(at::kCPU));
                return g;
            });
    }
    StepResult r;
    r.loss = train::accumulateStep(*policy->net, ref, {mb}, lo, 0, nullptr, true, mp).loss;
    for (auto& p : policy->net->parameters()) {
        if (p.dtype() != torch::kFloat32) throw std::runtime_error("a master weight is not float32");
        r.grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    }
    return r;
}

struct Recorder : train::TrainObserver {
    std::vector<std::string> errors;
    std::function<void(const train::MetricPoint&)> step;
    void onStep(const train::MetricPoint& p) override {
        if (step) step(p);
    }
    void onLog(train::LogLevel level, const std::string& m) override {
        if (level == train::LogLevel::Error) errors.push_back(m);
    }
};

std::string makeProject(const QTemporaryDir& dir, int n) {
    const std::string path = dir.filePath("p.db").toStdString();
    auto project = store::Project::create(path);
    for (int i = 0; i < n; ++i) {
        store::Pair pair;
        pair.prompt = "Review " + std::to_string(i) + ": the film was";
        pair.responseA = " good" + std::string(size_t(i % 3), '!');
        pair.responseB = " bad" + std::string(size_t(i % 2), '.');
        pair.split = i < n - 4 ? "train" : "test";
        pair.source = "test";
        project.label(project.addPair(pair), store::Verdict::A);
    }
    return path;
}

train::TrainConfig smallConfig(const std::string& device) {
    train::TrainConfig c;
    c.model = "builtin:tiny";
    c.device = device;
    c.lr = 1e-2;
    c.batchSize = 4;
    c.maxLength = 48;
    c.maxPromptLength = 24;
    c.loggingSteps = 1;
    c.seed = 3;
    return c;
}

double relativeDiff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        num += (a[i].to(torch::kFloat64) - b[i].to(torch::kFloat64)).pow(2).sum().item<double>();
        den += b[i].to(torch::kFloat64).pow(2).sum().item<double>();
    }
    return std::sqrt(num / den);
}

}  // namespace

class TestMixedPrecision : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void scopeRestoresState_data();
    void scopeRestoresState();
    void bf16StepCloseToFloat32();
    void backwardRunsOutsideAutocast();
    void precisionChoice_data();
    void precisionChoice();
    void outOfMemoryFailsRunWithRemedies();
    void cudaRngInCheckpoint();
};

void TestMixedPrecision::scopeRestoresState_data() {
    QTest::addColumn<bool>("enabledBefore");
    QTest::addColumn<bool>("throwInside");
    QTest::addColumn<bool>("nested");
    QTest::newRow("off before") << false << false << false;
    QTest::newRow("on before (float16), nested") << true << false << true;
    QTest::newRow("exception inside") << false << true << false;
    QTest::newRow("exception inside a nested scope") << true << true << true;
}

void TestMixedPrecision::scopeRestoresState() {
    QFETCH(bool, enabledBefore);
    QFETCH(bool, throwInside);
    QFETCH(bool, nested);
    at::autocast::set_autocast_enabled(at::kCPU, enabledBefore);
    at::autocast::set_autocast_dtype(at::kCPU, at::kHalf);
    const train::MixedPrecision mp{true, c10::DeviceType::CPU, at::kBFloat16};
    torch::Tensor a = torch::randn({4, 8}), b = torch::randn({8, 3});
    try {
        train::AutocastScope outer(mp);
        QVERIFY(at::autocast::is_autocast_enabled(at::kCPU));
        QCOMPARE(at::autocast::get_autocast_dtype(at::kCPU), at::kBFloat16);
        QCOMPARE(torch::mm(a, b).scalar_type(), at::kBFloat16);  // autocast really casts
        if (nested) {
            train::AutocastScope inner(mp);
            QCOMPARE(torch::mm(a, b).scalar_type(), at::kBFloat16);
            if (throwInside) throw std::runtime_error("inside");
        }
        QVERIFY(at::autocast::is_autocast_enabled(at::kCPU));  // the inner scope left it on
        if (throwInside) throw std::runtime_error("inside");
    } catch (const std::runtime_error&) {
        QVERIFY(throwInside);
    }
    QCOMPARE(at::autocast::is_autocast_enabled(at::kCPU), enabledBefore);
    QCOMPARE(at::autocast::get_autocast_dtype(at::kCPU), at::kHalf);
    QCOMPARE(torch::mm(a, b).scalar_type(), enabledBefore ? at::kHalf : at::kFloat);
    {
        train::AutocastScope off(train::MixedPrecision{});  // disabled: no-op
        QCOMPARE(at::autocast::is_autocast_enabled(at::kCPU), enabledBefore);
    }
    at::autocast::set_autocast_enabled(at::kCPU, false);
    at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
}

// bf16 keeps 8 bits of mantissa: the loss agrees with float32 to ~1e-2 relative and the
// gradients to a few percent (their relative L2 distance); both bounds are far from what a
// wrong scope gives (the backward in bf16, or float32 not restored: see the next test).
void TestMixedPrecision::bf16StepCloseToFloat32() {
    StepResult f32 = dpoStep({});
    StepResult bf16 = dpoStep({true, c10::DeviceType::CPU, at::kBFloat16});
    QVERIFY(std::isfinite(bf16.loss));
    QVERIFY2(std::abs(bf16.loss - f32.loss) < 1e-2 * std::max(1.0, std::abs(f32.loss)),
             qPrintable(QString("loss bf16 %1 vs float32 %2").arg(bf16.loss).arg(f32.loss)));
    const double g = relativeDiff(bf16.grads, f32.grads);
    QVERIFY2(g < 5e-2, qPrintable(QString("relative L2 distance of the gradients: %1").arg(g)));
    QVERIFY2(g > 0, "bf16 autocast changed nothing: is the scope active?");
    for (const auto& t : bf16.grads) QCOMPARE(t.scalar_type(), at::kFloat);
    QVERIFY(!at::autocast::is_autocast_enabled(at::kCPU));
}

void TestMixedPrecision::backwardRunsOutsideAutocast() {
    std::vector<bool> seen;
    dpoStep({true, c10::DeviceType::CPU, at::kBFloat16}, &seen);
    QVERIFY(!seen.empty());
    for (bool on : seen) QVERIFY2(!on, "a gradient was computed with autocast on");
}

void TestMixedPrecision::precisionChoice_data() {
    QTest::addColumn<QString>("dtype");
    QTest::addColumn<QString>("device");
    QTest::addColumn<bool>("enabled");
    QTest::addColumn<QString>("error");  // "" = accepted
    QTest::newRow("float32 cuda") << "float32" << "cuda" << false << "";
    QTest::newRow("bfloat16 cuda: autocast") << "bfloat16" << "cuda" << true << "";
    QTest::newRow("bfloat16 cpu: autocast, float32 weights") << "bfloat16" << "cpu" << true << "";
    QTest::newRow("float16 refused") << "float16" << "cuda" << false << "loss scaling";
    QTest::newRow("unknown") << "int8" << "cpu" << false << "unknown dtype";
}

void TestMixedPrecision::precisionChoice() {
    QFETCH(QString, dtype);
    QFETCH(QString, device);
    QFETCH(bool, enabled);
    QFETCH(QString, error);
    try {
        auto mp = train::trainingPrecision(dtype.toStdString(), c10::Device(device.toStdString()));
        QVERIFY(error.isEmpty());
        QCOMPARE(mp.enabled, enabled);
        QCOMPARE(mp.device, c10::Device(device.toStdString()).type());
        if (enabled) QCOMPARE(mp.dtype, at::kBFloat16);
    } catch (const Error& e) {
        QVERIFY2(!error.isEmpty() && QString(e.what()).contains(error), e.what());
    }
}

void TestMixedPrecision::outOfMemoryFailsRunWithRemedies() {
    QTemporaryDir dir;
    train::TrainConfig c = smallConfig("cpu");
    c.db = makeProject(dir, 12);
    c.maxSteps = 4;
    c.out = dir.filePath("out").toStdString();
    Recorder rec;
    // What the CUDA caching allocator throws, injected at the second step.
    rec.step = [](const train::MetricPoint& p) {
        if (p.step == 2)
            TORCH_CHECK_WITH(OutOfMemoryError, false,
                             "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 8 GiB");
    };
    train::TrainControl control;
    auto r = train::runTraining(c, rec, control);
    QVERIFY(r.status == store::RunStatus::Failed);
    const QString e = QString::fromStdString(r.error);
    for (const char* remedy : {"--lora-rank", "--batch-size", "--max-length", "--precompute-ref", "Tried to allocate"})
        QVERIFY2(e.contains(remedy), qPrintable(e + " lacks " + remedy));
    QVERIFY2(e.startsWith("out of memory"), qPrintable(e));
    QVERIFY2(!e.contains('\n'), qPrintable(e));
    QCOMPARE(rec.errors.size(), size_t(1));
    auto project = store::Project::open(c.db);
    auto run = project.run(r.runId);
    QVERIFY(run->status == store::RunStatus::Failed);
    QCOMPARE(QString::fromStdString(run->error), e);
}

// LoRA dropout draws from the device's generator: a resumed CUDA run equals an uninterrupted
// one only when the checkpoint carries the CUDA generator state.
void TestMixedPrecision::cudaRngInCheckpoint() {
    if (!model::cudaAvailable()) QSKIP(qPrintable(QString::fromStdString("no CUDA device: " + model::cudaBackendStatus())));
    QTemporaryDir dir;
    train::TrainConfig c = smallConfig("cuda");
    c.db = makeProject(dir, 16);
    c.maxSteps = 6;
    c.loggingSteps = 2;
    c.loraRank = 4;
    c.loraDropout = 0.2;
    c.loraTargetModules = "q_proj,v_proj";
    std::map<int64_t, double> whole, parts;
    Recorder a;
    a.step = [&](const train::MetricPoint& p) { whole[p.step] = p.values.at("loss"); };
    train::TrainControl c1;
    c.out = dir.filePath("whole").toStdString();
    auto r1 = train::runTraining(c, a, c1);
    QVERIFY2(r1.status == store::RunStatus::Finished, r1.error.c_str());

    Recorder b;
    train::TrainControl c2;
    b.step = [&](const train::MetricPoint& p) {
        parts[p.step] = p.values.at("loss");
        if (p.step == 3) c2.cancel.store(true);
    };
    c.out = dir.filePath("parts").toStdString();
    auto r2 = train::runTraining(c, b, c2);
    QVERIFY(r2.status == store::RunStatus::Cancelled);
    // Draw from the CUDA generator in between, as anything else in the process might.
    (void)torch::rand({1000}, torch::TensorOptions().device(torch::kCUDA));
    train::TrainConfig again;
    again.db = c.db;
    again.resumeRunId = r2.runId;
    train::TrainControl c3;
    auto r3 = train::runTraining(again, b, c3);
    QVERIFY2(r3.status == store::RunStatus::Finished, r3.error.c_str());
    QCOMPARE(parts.size(), whole.size());
    for (const auto& [step, loss] : whole) QCOMPARE(parts.at(step), loss);
}

QTEST_GUILESS_MAIN(TestMixedPrecision)
#include "tst_mixed_precision.moc"
