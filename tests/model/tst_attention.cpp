// The fused attention (at::scaled_dot_product_attention with grouped-query heads) against the
// explicit softmax(q·kᵀ/√D + bias)·v path, kept as the reference: outputs and gradients within
// 1e-5 in float32, causal, padded (left and right), grouped, with a sliding window and after a
// cache. On CUDA as well when a GPU is there.
#include <QtTest>

#include <torch/torch.h>

#include <cmath>

#include "model/attention.h"
#include "model/cuda_runtime.h"

using namespace dpowb::model;

namespace {

// The explicit form: scores = bias + q·kᵀ/√D in one GEMM (baddbmm), softmax in float32 (float64
// for float64), then ·v; grouped key/value heads expanded to the query heads. Long query blocks
// are cut into pieces that score only the keys they can see (the bias is causal), as the
// explicit path of the model did before the fused kernel replaced it.
torch::Tensor explicitAttention(const torch::Tensor& q, const torch::Tensor& kIn, const torch::Tensor& vIn,
                                const torch::Tensor& bias) {
    const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
    const int64_t K = kIn.size(1), S = kIn.size(2);
    torch::Tensor k = kIn, v = vIn;
    if (H != K) {
        const int64_t G = H / K;
        k = k.unsqueeze(2).expand({B, K, G, S, D}).reshape({B, H, S, D});
        v = v.unsqueeze(2).expand({B, K, G, S, D}).reshape({B, H, S, D});
    }
    const double scale = 1.0 / std::sqrt(double(D));
    torch::Tensor q3 = q.reshape({B * H, T, D});
    torch::Tensor k3 = k.reshape({B * H, S, D}).transpose(1, 2);
    torch::Tensor v3 = v.reshape({B * H, S, D});
    torch::Tensor bias3 = bias.expand({B, H, T, S}).reshape({B * H, T, S});
    const auto softmaxType = q.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    auto block = [&](int64_t from, int64_t rows, int64_t keys) {
        torch::Tensor scores = torch::baddbmm(bias3.narrow(1, from, rows).narrow(2, 0, keys), q3.narrow(1, from, rows),
                                              k3.narrow(2, 0, keys), /*beta=*/1.0, /*alpha=*/scale);
        torch::Tensor probs = torch::softmax(scores, -1, softmaxType).to(q.scalar_type());
        return torch::bmm(probs, v3.narrow(1, 0, keys));
    };
    const int64_t past = S - T;
    const int64_t blocks = T < 128 ? 1 : T < 256 ? 2 : 4;
    if (blocks == 1) return block(0, T, S).view({B, H, T, D});
    std::vector<torch::Tensor> parts;
    for (int64_t i = 0; i < blocks; ++i) {
        const int64_t from = T * i / blocks, to = T * (i + 1) / blocks;
        parts.push_back(block(from, to - from, past + to));
    }
    return torch::cat(parts, 1).view({B, H, T, D});
}

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace

class TestAttention : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { torch::manual_seed(11); }
    void fusedEqualsExplicit_data();
    void fusedEqualsExplicit();
};

void TestAttention::fusedEqualsExplicit_data() {
    QTest::addColumn<QString>("device");
    QTest::addColumn<int>("batch");
    QTest::addColumn<int>("heads");
    QTest::addColumn<int>("kvHeads");
    QTest::addColumn<int>("length");
    QTest::addColumn<int>("past");     // cached positions before the new ones
    QTest::addColumn<QString>("padding");  // none | left | right
    QTest::addColumn<int>("window");   // 0 = no sliding window
    QStringList devices{"cpu"};
    if (cudaAvailable()) devices << "cuda";
    for (const QString& d : devices) {
        auto row = [&](const char* name) { return &QTest::newRow(qPrintable(d + ": " + name)); };
        *row("causal, multi-head") << d << 2 << 4 << 4 << 17 << 0 << "none" << 0;
        *row("causal, grouped 8/2") << d << 2 << 8 << 2 << 33 << 0 << "none" << 0;
        *row("left padded, grouped") << d << 3 << 6 << 3 << 21 << 0 << "left" << 0;
        *row("right padded, grouped") << d << 3 << 6 << 2 << 21 << 0 << "right" << 0;
        *row("long (blocked explicit path)") << d << 1 << 4 << 2 << 300 << 0 << "right" << 0;
        *row("sliding window") << d << 2 << 4 << 1 << 40 << 0 << "left" << 9;
        *row("after a cache of 12") << d << 2 << 4 << 2 << 5 << 12 << "left" << 0;
        *row("one new token after a cache") << d << 2 << 4 << 2 << 1 << 30 << "none" << 0;
    }
}

void TestAttention::fusedEqualsExplicit() {
    QFETCH(QString, device);
    QFETCH(int, batch);
    QFETCH(int, heads);
    QFETCH(int, kvHeads);
    QFETCH(int, length);
    QFETCH(int, past);
    QFETCH(QString, padding);
    QFETCH(int, window);
    const torch::Device dev(device.toStdString());
    const int64_t B = batch, H = heads, K = kvHeads, T = length, S = past + length, D = 16;
    auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(dev);

    // Key padding mask over all S positions: row b has b*3 padding positions at one end.
    torch::Tensor mask = torch::ones({B, S}, torch::TensorOptions().dtype(torch::kInt64));
    for (int64_t b = 0; b < B; ++b) {
        const int64_t pad = padding == "none" ? 0 : std::min<int64_t>(b * 3, S - 1);
        if (pad == 0) continue;
        if (padding == "left") mask[b].narrow(0, 0, pad).fill_(0);
        else mask[b].narrow(0, S - pad, pad).fill_(0);
    }
    mask = mask.to(dev);
    torch::Tensor ids = torch::zeros({B, T}, torch::TensorOptions().dtype(torch::kInt64).device(dev));
    KVCache cache;
    KVCache* cachePtr = nullptr;
    if (past > 0) {
        cache.length = past;
        cachePtr = &cache;
    }
    std::optional<int64_t> sliding;
    if (window > 0) sliding = window;
    torch::Tensor bias = dpowb::model::detail::attentionBias(ids, mask, cachePtr, sliding, torch::kFloat32);

    torch::Tensor q = torch::randn({B, H, T, D}, f32).requires_grad_(true);
    torch::Tensor k = torch::randn({B, K, S, D}, f32).requires_grad_(true);
    torch::Tensor v = torch::randn({B, K, S, D}, f32).requires_grad_(true);
    // Query rows that see no key at all (padding queries under left padding) give garbage in
    // both forms and nothing downstream uses them (the loss masks padding): they get no weight
    // in the loss and are left out of the comparison. Every other output is weighed.
    torch::Tensor seen = (bias.select(1, 0) > -1e30).any(-1).view({B, 1, T, 1});  // (B,1,T,1)
    QVERIFY(seen.any().item<bool>());
    torch::Tensor weights = torch::randn({B, H, T, D}, f32) * seen;

    torch::Tensor ref = explicitAttention(q, k, v, bias);
    auto gRef = torch::autograd::grad({(ref * weights).sum()}, {q, k, v});
    torch::Tensor fused = dpowb::model::detail::attend(q, k, v, bias);
    auto gFused = torch::autograd::grad({(fused * weights).sum()}, {q, k, v});

    const double out = maxAbsDiff(ref * seen, fused * seen);
    QVERIFY2(out < 1e-5, qPrintable(QString("max |explicit - fused| = %1").arg(out)));
    const char* names[] = {"dq", "dk", "dv"};
    for (int i = 0; i < 3; ++i) {
        const double g = maxAbsDiff(gRef[size_t(i)], gFused[size_t(i)]);
        QVERIFY2(g < 1e-5, qPrintable(QString("%1: max |explicit - fused| = %2").arg(names[i]).arg(g)));
    }
}

QTEST_GUILESS_MAIN(TestAttention)
#include "tst_attention.moc"
