// Generation: the KV-cache loop gives what recomputing the whole sequence gives; sampling is
// reproducible per seed; the logit processors keep exactly the right tokens; stop strings,
// EOS, cancellation and UTF-8 streaming behave.
#include <QtTest>

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <numeric>
#include <set>

#include "../common/rounding.h"
#include "common/error.h"
#include "model/generate.h"
#include "model/model.h"
#include "text/tokenizer.h"

using namespace dpowb;
using namespace dpowb::model;
using text::TokenId;

namespace {

// A model that ignores what it reads and "says" a fixed script: the logits at absolute
// position p point at script[p - promptLength]. It checks that the generator prefills once and
// then feeds one token at a time through the cache.
class ScriptLM : public CausalLM {
public:
    ScriptLM(std::vector<TokenId> script, int64_t V) : CausalLM(makeConfig(V)), script_(std::move(script)) {}

    torch::Tensor hidden(const torch::Tensor& ids, const torch::Tensor&, KVCache* cache) override {
        if (!cache) throw std::runtime_error("ScriptLM: generation must use the cache");
        const int64_t T = ids.size(1);
        if (cache->length == 0) {
            promptLength_ = T;
            ++prefills;
        } else if (T != 1) {
            throw std::runtime_error("ScriptLM: after the prefill, one token per step");
        }
        auto h = torch::full({1, T, config_.vocabSize}, -5.0f);
        const int64_t p = cache->length + T - 1 - (promptLength_ - 1);  // index of the next token
        if (p >= 0 && p < int64_t(script_.size())) h[0][T - 1][script_[p]] = 5.0f;
        cache->length += T;
        ++calls;
        return h;
    }
    torch::Tensor lmHead(const torch::Tensor& h) override { return h; }

    int prefills = 0, calls = 0;

private:
    static ModelConfig makeConfig(int64_t V) {
        ModelConfig c;
        c.architecture = "script";
        c.vocabSize = V;
        c.hiddenSize = V;
        c.eosTokenId = 257;
        return c;
    }
    std::vector<TokenId> script_;
    int64_t promptLength_ = 0;
};

std::vector<TokenId> bytesOf(const std::string& s) {
    std::vector<TokenId> ids;
    for (unsigned char c : s) ids.push_back(c);
    return ids;
}

std::shared_ptr<Model> scriptModel(const std::vector<TokenId>& script) {
    auto m = std::make_shared<Model>();
    m->tokenizer = std::shared_ptr<text::Tokenizer>(text::Tokenizer::byteLevel());
    auto net = std::make_shared<ScriptLM>(script, m->tokenizer->vocabSize());
    m->config = net->config();
    m->net = net;
    return m;
}

bool validUtf8(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        i += n;
    }
    return true;
}

std::shared_ptr<Model> tiny() {
    static std::shared_ptr<Model> m = builtinTiny({"cpu", "float32", ""}, 1234);
    return m;
}

// Reference decoding without a cache: the whole sequence goes through the network at every
// step; the repetition penalty is applied here independently of the library's code.
std::vector<TokenId> greedyByRecompute(Model& m, std::vector<TokenId> ids, int64_t n, double penalty,
                                       std::vector<double>* logps) {
    torch::NoGradGuard ng;
    const size_t promptLen = ids.size();
    for (int64_t step = 0; step < n; ++step) {
        auto input = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end())).view({1, -1});
        auto logits = m.net->logits(input, torch::Tensor())[0][-1].to(torch::kFloat64);
        std::vector<double> v(logits.data_ptr<double>(), logits.data_ptr<double>() + logits.numel());
        std::set<TokenId> seen(ids.begin(), ids.end());
        auto scored = v;
        for (TokenId t : seen) scored[t] = scored[t] > 0 ? scored[t] / penalty : scored[t] * penalty;
        TokenId next = TokenId(std::max_element(scored.begin(), scored.end()) - scored.begin());
        if (logps) logps->push_back(torch::log_softmax(logits, 0)[next].item<double>());
        ids.push_back(next);
    }
    return std::vector<TokenId>(ids.begin() + promptLen, ids.end());
}

}  // namespace

class TestGenerate : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void cacheEqualsRecompute_data() {
        QTest::addColumn<double>("penalty");
        QTest::newRow("greedy") << 1.0;
        QTest::newRow("greedy+repetition-penalty") << 1.3;
    }
    void cacheEqualsRecompute() {
        QFETCH(double, penalty);
        auto m = tiny();
        auto prompt = m->tokenizer->encode("Once upon a time");
        GenerateOptions o;
        o.temperature = 0;
        o.maxNewTokens = 24;
        o.stopAtEos = false;
        o.repetitionPenalty = penalty;
        auto r = generate(*m, prompt, o);
        std::vector<double> refLogps;
        auto ref = greedyByRecompute(*m, prompt, 24, penalty, &refLogps);
        QCOMPARE(r.ids, ref);
        QCOMPARE(r.finishReason, std::string("length"));
        QCOMPARE(int(r.tokenLogps.size()), 24);
        // The cached steps run other kernels than a full recompute: each token's log-prob within
        // the rounding of a float32 forward pass (tests/common/rounding.h).
        const auto& c = m->config;
        const dpowb::test::ForwardShape shape{c.numLayers, c.hiddenSize, c.intermediateSize, int64_t(prompt.size()) + 24, c.vocabSize};
        for (size_t i = 0; i < ref.size(); ++i)
            QVERIFY2(std::abs(r.tokenLogps[i] - refLogps[i]) <= dpowb::test::logpTolerance(refLogps[i], 1, shape),
                     qPrintable(QString("token %1: %2 vs %3").arg(i).arg(r.tokenLogps[i]).arg(refLogps[i])));
    }

    void seedReproducible() {
        auto m = tiny();
        auto prompt = m->tokenizer->encode("The movie was");
        GenerateOptions o;
        o.temperature = 1.0;
        o.maxNewTokens = 32;
        o.stopAtEos = false;
        o.seed = 5;
        auto a = generate(*m, prompt, o);
        auto b = generate(*m, prompt, o);
        QCOMPARE(a.ids, b.ids);
        QCOMPARE(a.text, b.text);
        o.seed = 6;
        auto c = generate(*m, prompt, o);
        // 32 draws from a nearly flat distribution over 261 tokens: equal only by accident
        // (probability far below 1e-30).
        QVERIFY(a.ids != c.ids);
    }

    void topKOneIsGreedy() {
        auto m = tiny();
        auto prompt = m->tokenizer->encode("abc");
        GenerateOptions g;
        g.temperature = 0;
        g.maxNewTokens = 16;
        g.stopAtEos = false;
        GenerateOptions k = g;
        k.temperature = 0.9;
        k.topK = 1;
        k.seed = 99;
        QCOMPARE(generate(*m, prompt, k).ids, generate(*m, prompt, g).ids);
    }

    void topPKeepsSmallestSet_data() {
        QTest::addColumn<double>("p");
        for (double p : {0.05, 0.3, 0.5, 0.7, 0.85, 0.92, 0.97, 0.99, 1.0}) QTest::newRow(qPrintable(QString::number(p))) << p;
    }
    void topPKeepsSmallestSet() {
        QFETCH(double, p);
        // Probabilities in scrambled id order, so that the result must be mapped back.
        const std::vector<double> probs = {0.1, 0.05, 0.45, 0.02, 0.15, 0.2, 0.03, 0.0, 0.0, 0.0};  // sums to 1
        std::vector<double> logv;
        for (double q : probs) logv.push_back(q > 0 ? std::log(q) : -1e9);
        auto logits = torch::tensor(logv, torch::kFloat32);
        auto kept = filterTopP(logits, p);

        // Reference: walk tokens from the most probable down until the mass reaches p.
        std::vector<int> order(probs.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return probs[a] > probs[b]; });
        std::set<int> expected;
        double mass = 0;
        for (int i : order) {
            if (mass >= p) break;
            expected.insert(i);
            mass += probs[i];
        }
        std::set<int> got;
        for (int i = 0; i < int(probs.size()); ++i)
            if (std::isfinite(kept[i].item<float>())) got.insert(i);
        if (p >= 1.0) {
            QCOMPARE(int(got.size()), int(probs.size()));  // off: nothing removed
        } else {
            QCOMPARE(got, expected);
        }
        for (int i : got) QCOMPARE(kept[i].item<float>(), logits[i].item<float>());  // kept ones untouched
    }

    void topKKeepsTies() {
        auto logits = torch::tensor({1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 2.0f});
        auto k2 = filterTopK(logits, 2);
        auto k3 = filterTopK(logits, 3);
        std::vector<bool> finite2, finite3;
        for (int i = 0; i < 6; ++i) {
            finite2.push_back(std::isfinite(k2[i].item<float>()));
            finite3.push_back(std::isfinite(k3[i].item<float>()));
        }
        QCOMPARE(finite2, (std::vector<bool>{false, true, false, true, false, false}));
        // The third largest value (2) is tied: both stay, as in Hugging Face's TopKLogitsWarper.
        QCOMPARE(finite3, (std::vector<bool>{false, true, true, true, false, true}));
        QVERIFY(torch::equal(filterTopK(logits, 0), logits));
        QVERIFY(torch::equal(filterTopK(logits, 6), logits));
    }

    void repetitionPenaltyFollowsHf() {
        auto logits = torch::tensor({2.0f, -1.0f, 0.5f, -3.0f, 4.0f});
        auto expected = logits.clone();
        const double pen = 1.5;
        for (int i : {0, 1, 3}) {  // each distinct id once, however often it occurs
            float v = expected[i].item<float>();
            expected[i] = v > 0 ? float(v / pen) : float(v * pen);
        }
        applyRepetitionPenalty(logits, {3, 0, 1, 0, 3, 3}, pen);
        QVERIFY(torch::allclose(logits, expected));
    }

    void sampleInvertsCdf() {
        auto logits = torch::tensor({std::log(0.2f), std::log(0.3f), -std::numeric_limits<float>::infinity(), std::log(0.5f)});
        QCOMPARE(sampleFromLogits(logits, 0.0), TokenId(0));
        QCOMPARE(sampleFromLogits(logits, 0.19), TokenId(0));
        QCOMPARE(sampleFromLogits(logits, 0.21), TokenId(1));
        QCOMPARE(sampleFromLogits(logits, 0.49), TokenId(1));
        QCOMPARE(sampleFromLogits(logits, 0.51), TokenId(3));  // never the -inf one
        QCOMPARE(sampleFromLogits(logits, 0.999999), TokenId(3));
    }

    void stopString_data() {
        QTest::addColumn<QString>("script");
        QTest::addColumn<QString>("stop");
        QTest::addColumn<QString>("expected");
        QTest::addColumn<QString>("reason");
        QTest::newRow("plain") << "abcSTOPdef" << "STOP" << "abc" << "stop";
        QTest::newRow("partial match first") << "abSTxSTOPdef" << "STOP" << "abSTx" << "stop";
        QTest::newRow("at start") << "STOPabc" << "STOP" << "" << "stop";
        QTest::newRow("multi-byte stop") << "naïve—end" << "—" << "naïve" << "stop";
        QTest::newRow("never completes") << "abcST" << "STOP" << "abcST" << "length";
    }
    void stopString() {
        QFETCH(QString, script);
        QFETCH(QString, stop);
        QFETCH(QString, expected);
        QFETCH(QString, reason);
        const std::string s = script.toStdString();
        auto m = scriptModel(bytesOf(s));
        GenerateOptions o;
        o.temperature = 0;
        o.maxNewTokens = int64_t(s.size());
        o.stopStrings = {"never", stop.toStdString()};
        std::string streamed;
        auto r = generate(*m, bytesOf("> "), o, [&](const std::string& piece, TokenId) {
            QVERIFY(piece.find(stop.toStdString()) == std::string::npos);
            streamed += piece;
        });
        QCOMPARE(QString::fromStdString(r.text), expected);
        QCOMPARE(streamed, r.text);
        QCOMPARE(QString::fromStdString(r.finishReason), reason);
    }

    void stopsAtEos() {
        auto script = bytesOf("hi");
        script.push_back(257);  // <|eos|>
        for (unsigned char c : std::string("more")) script.push_back(c);
        auto m = scriptModel(script);
        GenerateOptions o;
        o.temperature = 0;
        o.maxNewTokens = 20;
        auto r = generate(*m, bytesOf("x"), o);
        QCOMPARE(r.text, std::string("hi"));
        QCOMPARE(r.finishReason, std::string("eos"));
        QCOMPARE(r.ids, (std::vector<TokenId>{'h', 'i', 257}));
        QCOMPARE(int(r.tokenLogps.size()), 3);
        auto* net = static_cast<ScriptLM*>(m->net.get());
        QCOMPARE(net->prefills, 1);
        QCOMPARE(net->calls, 3);

        o.stopAtEos = false;
        o.maxNewTokens = 5;
        auto r2 = generate(*m, bytesOf("x"), o);
        QCOMPARE(r2.finishReason, std::string("length"));
        QCOMPARE(r2.text, std::string("himo"));  // the special token is not part of the text
    }

    // Every piece handed to the callback is whole UTF-8, pieces arrive as soon as a character
    // is complete, and they add up to the text.
    void utf8StreamingNeverSplits() {
        const std::string s = "Hé€😀 aß😀!";
        auto m = scriptModel(bytesOf(s));
        GenerateOptions o;
        o.temperature = 0;
        o.maxNewTokens = int64_t(s.size());
        std::vector<std::string> pieces;
        auto r = generate(*m, bytesOf("q: "), o, [&](const std::string& piece, TokenId) { pieces.push_back(piece); });
        QCOMPARE(r.text, s);
        std::string joined;
        for (const auto& p : pieces) {
            QVERIFY2(validUtf8(p), p.c_str());
            joined += p;
        }
        QCOMPARE(joined, s);
        // One piece per character: held back only while a character is incomplete.
        QCOMPARE(int(pieces.size()), int(QString::fromStdString(s).toStdU32String().size()));
    }

    // A generation cut off inside a character still ends with whole characters
    // (the incomplete bytes decode to U+FFFD, as Hugging Face decodes them).
    void truncatedCharacterAtEnd() {
        const std::string s = "ok€";
        auto m = scriptModel(bytesOf(s));
        GenerateOptions o;
        o.temperature = 0;
        o.maxNewTokens = 3 + 1;  // "o", "k" and the first two bytes of "€"
        std::vector<std::string> pieces;
        auto r = generate(*m, bytesOf("q"), o, [&](const std::string& p, TokenId) { pieces.push_back(p); });
        QCOMPARE(r.finishReason, std::string("length"));
        QVERIFY2(validUtf8(r.text), QByteArray::fromStdString(r.text).toHex().constData());
        QCOMPARE(r.text.substr(0, 2), std::string("ok"));
        for (const auto& p : pieces) QVERIFY(validUtf8(p));
    }

    void cancelBetweenTokens() {
        auto m = scriptModel(bytesOf("abcdefghij"));
        std::atomic<bool> cancel{false};
        Progress progress;
        progress.cancel = &cancel;
        GenerateOptions o;
        o.temperature = 0;
        o.maxNewTokens = 10;
        int seen = 0;
        auto r = generate(*m, bytesOf(">"), o, [&](const std::string&, TokenId) {
            if (++seen == 3) cancel = true;
        }, progress);
        QCOMPARE(r.finishReason, std::string("cancelled"));
        QCOMPARE(r.text, std::string("abc"));
        QCOMPARE(int(r.ids.size()), 3);
    }

    void badOptions_data() {
        QTest::addColumn<QString>("field");
        QTest::newRow("temperature") << "temperature";
        QTest::newRow("top-p") << "top-p";
        QTest::newRow("top-k") << "top-k";
        QTest::newRow("repetition-penalty") << "repetition-penalty";
        QTest::newRow("max-new-tokens") << "max-new-tokens";
    }
    void badOptions() {
        QFETCH(QString, field);
        GenerateOptions o;
        if (field == "temperature") o.temperature = -1;
        if (field == "top-p") o.topP = 0;
        if (field == "top-k") o.topK = -2;
        if (field == "repetition-penalty") o.repetitionPenalty = 0;
        if (field == "max-new-tokens") o.maxNewTokens = -1;
        try {
            generate(*tiny(), {65}, o);
            QFAIL("expected an error");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains(field), e.what());
        }
    }

    // Generation leaves the network in the mode it found it (the trainer samples mid-run).
    void restoresTrainingMode() {
        auto m = tiny();
        m->net->train();
        GenerateOptions o;
        o.maxNewTokens = 2;
        generate(*m, {65, 66}, o);
        QVERIFY(m->net->is_training());
        m->net->eval();
    }
};

QTEST_APPLESS_MAIN(TestGenerate)
#include "tst_generate.moc"
