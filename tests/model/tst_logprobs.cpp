// Pair encoding (docs/MATH.md's tokenization rules and truncation), batch collation, sequence
// log-probs against a direct computation, and `dpowb score` against the library.
#include <torch/torch.h>

#include <QFileInfo>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <array>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>
#include "../common/rounding.h"
#include "common/error.h"
#include "model/inspect.h"
#include "model/logprobs.h"
#include "model/model.h"
#include "text/tokenizer.h"

using namespace dpowb::model;
using dpowb::text::TokenId;
using Ids = std::vector<TokenId>;
using nlohmann::json;
Q_DECLARE_METATYPE(Ids)

namespace {

Ids bytes(const std::string& s) {
    Ids out;
    for (unsigned char c : s) out.push_back(TokenId(c));
    return out;
}

Ids cat(Ids a, const Ids& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

Ids range(TokenId from, TokenId to) {
    Ids out;
    for (TokenId i = from; i <= to; ++i) out.push_back(i);
    return out;
}

// log π(response | prompt) computed directly: one unpadded forward, full log-softmax in
// float64, summed over the response targets.
// A response's summed log-prob, and over its positions the summed vocabulary-mean logit, the
// summed entropy −Σ p·log p and the count of tokens that are their logits' argmax.
struct Direct {
    double logp = 0, meanLogit = 0, entropy = 0, top1 = 0;
    double minTop1Gap = INFINITY;  // smallest gap between a position's two largest logits
};
Direct directLogp(CausalLM& net, const Ids& prompt, const Ids& response) {
    Ids all = cat(prompt, response);
    std::vector<int64_t> ids(all.begin(), all.end());
    torch::Tensor logits = net.logits(torch::tensor(ids).unsqueeze(0), {}).squeeze(0).to(torch::kFloat64);  // (T,V)
    torch::Tensor logp = torch::log_softmax(logits, -1);
    Direct d;
    for (size_t t = std::max<size_t>(prompt.size(), 1); t < all.size(); ++t) {
        const auto at = int64_t(t - 1);
        d.logp += logp[at][all[t]].item<double>();
        d.meanLogit += logits[at].mean().item<double>();
        d.entropy += -(logp[at].exp() * logp[at]).sum().item<double>();
        d.top1 += logits[at].argmax().item<int64_t>() == all[t] ? 1 : 0;
        auto top2 = std::get<0>(logits[at].topk(2));
        d.minTop1Gap = std::min(d.minTop1Gap, (top2[0] - top2[1]).item<double>());
    }
    return d;
}

// The real tokenizers of scripts/fetch-references.sh (too large to commit).
std::string referencesDir() {
    if (const char* env = std::getenv("DPOWB_REFERENCES")) return env;
    return DPOWB_TEST_DATA "/../../.cache/references";
}

}  // namespace

class TestLogprobs : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void encodeTextPair();
    void encodeChatPair();
    void promptNotPrefix();
    void matchesTrlConversations_data();
    void matchesTrlConversations();
    void truncation_data();
    void truncation();
    void collateLayout();
    void logpsMatchDirectComputation();
    void scoreCliMatchesLibrary();
    void scoreCliReportsBadLine_data();
    void scoreCliReportsBadLine();

private:
    std::shared_ptr<Model> tiny_;
};

void TestLogprobs::initTestCase() { tiny_ = builtinTiny({"cpu", "float32", ""}); }

void TestLogprobs::encodeTextPair() {
    const auto& tok = *tiny_->tokenizer;
    const TokenId bos = *tok.bosId(), eos = *tok.eosId();
    EncodedPair p = encodePair(*tiny_, "Question: 2+2?", {}, " 4", " five", EncodeOptions{});
    QCOMPARE(p.prompt, cat({bos}, bytes("Question: 2+2?")));
    QCOMPARE(p.chosen, cat(bytes(" 4"), {eos}));
    QCOMPARE(p.rejected, cat(bytes(" five"), {eos}));
    QVERIFY(!p.promptTruncated && !p.responseTruncated && !p.emptyResponse && !p.promptNotPrefix);
    // A response already ending in EOS gets no second one; appendEos=false adds none.
    EncodedPair q = encodePair(*tiny_, "x", {}, "y<|eos|>", "z", EncodeOptions{1024, 512, false, true, false});
    QCOMPARE(q.chosen, cat(bytes("y"), {eos}));
    QCOMPARE(q.rejected, bytes("z"));
}

void TestLogprobs::encodeChatPair() {
    const auto& tok = *tiny_->tokenizer;
    QVERIFY(tiny_->chatTemplate.has_value());
    const auto& tmpl = *tiny_->chatTemplate;
    std::vector<dpowb::Message> messages = {{"system", "Be brief."}, {"user", "Hi"}};
    EncodedPair p = encodePair(*tiny_, "", messages, "Hello", "Go away", EncodeOptions{});
    const std::string promptText = tmpl.apply(messages, true);
    Ids expectedPrompt = tok.encode(promptText, false);
    if (!tmpl.writesBos()) expectedPrompt.insert(expectedPrompt.begin(), *tok.bosId());
    QCOMPARE(p.prompt, expectedPrompt);
    // The responses are the rest of the whole conversation rendered with the reply (as TRL
    // renders prompt + completion), ending as the template ends an assistant turn, no EOS added.
    auto conversation = [&](const std::string& reply) {
        auto all = messages;
        all.push_back({"assistant", reply});
        Ids ids = tok.encode(tmpl.apply(all, false), false);
        if (!tmpl.writesBos()) ids.insert(ids.begin(), *tok.bosId());
        return ids;
    };
    const Ids chosenAll = conversation("Hello"), rejectedAll = conversation("Go away");
    QVERIFY(std::equal(expectedPrompt.begin(), expectedPrompt.end(), chosenAll.begin()));
    QCOMPARE(p.chosen, Ids(chosenAll.begin() + std::ptrdiff_t(expectedPrompt.size()), chosenAll.end()));
    QCOMPARE(p.rejected, Ids(rejectedAll.begin() + std::ptrdiff_t(expectedPrompt.size()), rejectedAll.end()));
    QVERIFY(!tmpl.endOfTurn().empty());
    const Ids endOfTurn = tok.encode(tmpl.endOfTurn(), false);
    QCOMPARE(endOfTurn.size(), size_t(1));  // the end-of-turn marker is one special token, not its bytes
    QVERIFY(std::search(p.chosen.begin(), p.chosen.end(), endOfTurn.begin(), endOfTurn.end()) != p.chosen.end());
    QVERIFY(p.chosen.back() != *tok.eosId() || endOfTurn.front() == *tok.eosId());
}

void TestLogprobs::promptNotPrefix() {
    Model m;
    m.source = "merge tokenizer";
    m.tokenizer = dpowb::text::Tokenizer::fromDir(QFINDTESTDATA("data/model/merge_tokenizer").toStdString());
    const TokenId a = *m.tokenizer->tokenToId("a"), ab = *m.tokenizer->tokenToId("ab");
    QCOMPARE(m.tokenizer->encode("xab", false), cat(bytes("x"), {ab}));
    // "xa" + "b" tokenizes as [x, ab]: the prompt's [x, a] is not a prefix. As TRL does, the
    // prompt keeps what both responses share with it ([x]) and its "a" goes to the responses.
    EncodedPair p = encodePair(m, "xa", {}, "b", "c", EncodeOptions{});
    QVERIFY(p.promptNotPrefix);
    QCOMPARE(p.prompt, bytes("x"));
    QCOMPARE(p.chosen, Ids({ab, *m.tokenizer->eosId()}));
    QCOMPARE(p.rejected, cat({a}, cat(bytes("c"), {*m.tokenizer->eosId()})));
    EncodedPair q = encodePair(m, "xa", {}, "c", "d", EncodeOptions{});
    QVERIFY(!q.promptNotPrefix);
}

// Conversations tokenized by TRL's DPOTrainer with real tokenizers and their own chat templates
// (scripts/make-chat-encoding-fixtures.py): the same prompt ids and response ids, where the
// response carries what the template writes after the reply (Qwen 3's empty think block and
// end of turn, the header this Llama 3 template writes after every conversation).
void TestLogprobs::matchesTrlConversations_data() {
    QTest::addColumn<QString>("line");
    std::ifstream in(QFINDTESTDATA("data/text/expected-chat-encoding.jsonl").toStdString());
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        const json j = json::parse(line);
        QTest::newRow(qPrintable(QString("%1 case %2").arg(QString::fromStdString(j["tokenizer"].get<std::string>())).arg(j["case"].get<int>())))
            << QString::fromStdString(line);
        ++n;
    }
    QVERIFY(n >= 10);
}

void TestLogprobs::matchesTrlConversations() {
    QFETCH(QString, line);
    const json j = json::parse(line.toStdString());
    const std::string dir = referencesDir() + "/" + j["tokenizer"].get<std::string>();
    if (!QFileInfo::exists(QString::fromStdString(dir + "/tokenizer.json")))
        QSKIP(qPrintable(QString::fromStdString(dir) + " is absent: run scripts/fetch-references.sh"));
    Model m;
    m.source = dir;
    m.tokenizer = dpowb::text::Tokenizer::fromDir(dir);
    const ChatTemplateFound found = detectChatTemplate(*m.tokenizer);
    QVERIFY2(found.chatTemplate.has_value(), found.problem.c_str());
    m.chatTemplate = found.chatTemplate;
    std::vector<dpowb::Message> messages;
    for (const auto& msg : j["prompt"]) messages.push_back({msg["role"].get<std::string>(), msg["content"].get<std::string>()});
    EncodeOptions o;
    o.maxLength = 4096, o.maxPromptLength = 2048;
    const EncodedPair p = encodePair(m, "", messages, j["chosen"].get<std::string>(), j["rejected"].get<std::string>(), o);
    QCOMPARE(p.prompt, j["prompt_ids"].get<Ids>());
    QCOMPARE(p.chosen, j["chosen_ids"].get<Ids>());
    QCOMPARE(p.rejected, j["rejected_ids"].get<Ids>());
    QCOMPARE(p.promptNotPrefix, j["prompt_moved"].get<int>() > 0);
}

void TestLogprobs::truncation_data() {
    QTest::addColumn<int>("maxLength");
    QTest::addColumn<int>("maxPromptLength");
    QTest::addColumn<bool>("keepEnd");
    QTest::addColumn<Ids>("prompt");
    QTest::addColumn<Ids>("chosen");
    QTest::addColumn<Ids>("rejected");
    QTest::addColumn<QString>("flags");
    // prompt 1..10, chosen 21..25, rejected 31..32
    QTest::newRow("fits") << 100 << 50 << false << range(1, 10) << range(21, 25) << range(31, 32) << "";
    QTest::newRow("prompt keep_start") << 100 << 4 << false << range(1, 4) << range(21, 25) << range(31, 32) << "prompt";
    QTest::newRow("prompt keep_end") << 100 << 4 << true << range(7, 10) << range(21, 25) << range(31, 32) << "prompt";
    QTest::newRow("then responses") << 12 << 8 << false << range(1, 8) << range(21, 24) << range(31, 32) << "prompt response";
    QTest::newRow("response only") << 13 << 20 << false << range(1, 10) << range(21, 23) << range(31, 32) << "response";
    QTest::newRow("nothing left") << 8 << 8 << false << range(1, 8) << Ids{} << Ids{} << "prompt response empty";
}

void TestLogprobs::truncation() {
    QFETCH(int, maxLength);
    QFETCH(int, maxPromptLength);
    QFETCH(bool, keepEnd);
    QFETCH(Ids, prompt);
    QFETCH(Ids, chosen);
    QFETCH(Ids, rejected);
    QFETCH(QString, flags);
    EncodeOptions o;
    o.maxLength = maxLength;
    o.maxPromptLength = maxPromptLength;
    o.keepEnd = keepEnd;
    EncodedPair p = encodePairIds(range(1, 10), range(21, 25), range(31, 32), o);
    QCOMPARE(p.prompt, prompt);
    QCOMPARE(p.chosen, chosen);
    QCOMPARE(p.rejected, rejected);
    QCOMPARE(p.promptTruncated, flags.contains("prompt"));
    QCOMPARE(p.responseTruncated, flags.contains("response"));
    QCOMPARE(p.emptyResponse, flags.contains("empty"));
    QVERIFY(int(p.prompt.size() + std::max(p.chosen.size(), p.rejected.size())) <= maxLength);
}

void TestLogprobs::collateLayout() {
    EncodedPair a = encodePairIds({5, 6}, {7, 8, 9}, {10}, {});
    EncodedPair b = encodePairIds({}, {11, 12}, {13, 14, 15, 16}, {});
    auto batch = collatePairs({&a, &b}, 99);
    // Rows: chosen of a, chosen of b, rejected of a, rejected of b.
    auto expect = torch::tensor({{5, 6, 7, 8, 9}, {11, 12, 99, 99, 99}, {5, 6, 10, 99, 99}, {13, 14, 15, 16, 99}}, torch::kInt64);
    QVERIFY(torch::equal(batch.inputIds, expect));
    QVERIFY(torch::equal(batch.attentionMask, (expect != 99).to(torch::kInt64)));
    auto resp = torch::tensor({{0, 0, 1, 1, 1}, {0, 1, 0, 0, 0}, {0, 0, 1, 0, 0}, {0, 1, 1, 1, 0}}, torch::kInt64).to(torch::kBool);
    QVERIFY(torch::equal(batch.responseMask, resp));
    // With an empty prompt the first response token has no predecessor and is not scored.
    QVERIFY(torch::equal(batch.responseTokens, torch::tensor({3, 1, 1, 3}, torch::kInt64)));
}

void TestLogprobs::logpsMatchDirectComputation() {
    std::vector<EncodedPair> pairs = {
        encodePair(*tiny_, "The movie was", {}, " wonderful.", " bad.", {}),
        encodePair(*tiny_, "Q", {}, " a longer answer here", " b", {}),
        encodePair(*tiny_, "", {{"user", "Hi there"}}, "Hello!", "No.", {}),
    };
    std::vector<const EncodedPair*> ptrs;
    for (const auto& p : pairs) ptrs.push_back(&p);
    auto batch = collatePairs(ptrs, *tiny_->tokenizer->padId());
    torch::NoGradGuard ng;
    auto got = sequenceLogps(*tiny_->net, batch);
    const auto N = int64_t(pairs.size());
    for (int64_t i = 0; i < N; ++i) {
        for (int side = 0; side < 2; ++side) {
            const auto& p = pairs[size_t(i)];
            const Direct direct = directLogp(*tiny_->net, p.prompt, side == 0 ? p.chosen : p.rejected);
            const double logp = direct.logp, meanLogit = direct.meanLogit;
            const int64_t row = side * N + i;
            const double g = got.logps[row].item<double>();
            // The batch runs other matrix shapes than one row alone: equal within the rounding
            // of a float32 forward pass (tests/common/rounding.h).
            const auto& mc = tiny_->config;
            const dpowb::test::ForwardShape shape{mc.numLayers, mc.hiddenSize, mc.intermediateSize, batch.inputIds.size(1), mc.vocabSize};
            const auto n = int64_t((side == 0 ? p.chosen : p.rejected).size());
            const double tol = dpowb::test::logpTolerance(logp, n, shape);
            QVERIFY2(std::abs(g - logp) <= tol, qPrintable(QString("row %1: %2 vs %3, tolerance %4").arg(row).arg(g).arg(logp).arg(tol)));
            QVERIFY(std::abs(got.meanLogits[row].item<double>() - meanLogit) <=
                    dpowb::test::sumTolerance(1.0 + std::abs(meanLogit), dpowb::test::chainLength(shape)));
            QCOMPARE(got.tokens[row].item<int64_t>(), int64_t((side == 0 ? p.chosen : p.rejected).size()));
            QVERIFY(g < 0);
            // The entropy is a log-sum-exp less a vocabulary sum per token, both of the logits'
            // size; the argmax count is exact unless two logits lie within rounding of each other.
            QVERIFY(std::abs(got.entropySums[row].item<double>() - direct.entropy) <=
                    dpowb::test::sumTolerance(double(n) * (1.0 + std::abs(meanLogit) + direct.entropy), dpowb::test::chainLength(shape)));
            if (direct.minTop1Gap > 1e-4) QCOMPARE(got.top1[row].item<double>(), direct.top1);
        }
    }
}

void TestLogprobs::scoreCliMatchesLibrary() {
    QTemporaryDir tmp;
    const QString file = tmp.filePath("pairs.jsonl");
    std::vector<std::array<Ids, 3>> rows = {
        {Ids{256, 72, 105}, Ids{33, 257}, Ids{63, 63, 63, 257}},
        {Ids{256}, Ids{100, 101, 102, 103, 104, 105}, Ids{1}},
        {Ids{256, 10, 20, 30, 40}, Ids{50}, Ids{60, 70}},
    };
    {
        std::ofstream out(file.toStdString());
        for (const auto& r : rows) out << json{{"prompt_ids", r[0]}, {"chosen_ids", r[1]}, {"rejected_ids", r[2]}}.dump() << "\n";
        out << json{{"prompt", "Say hi:"}, {"chosen", " hi"}, {"rejected", " no"}}.dump() << "\n";
    }
    QProcess proc;
    proc.start(DPOWB_CLI, {"score", "--model", "builtin:tiny", "--data", file, "--batch-size", "2", "--device", "cpu"});
    QVERIFY(proc.waitForFinished(300000));
    QCOMPARE(proc.exitCode(), 0);
    const QStringList lines = QString::fromUtf8(proc.readAllStandardOutput()).split('\n', Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 4);

    torch::NoGradGuard ng;
    for (size_t i = 0; i < rows.size() + 1; ++i) {
        EncodedPair p = i < rows.size() ? encodePairIds(rows[i][0], rows[i][1], rows[i][2], {})
                                        : encodePair(*tiny_, "Say hi:", {}, " hi", " no", {});
        auto lp = sequenceLogps(*tiny_->net, collatePairs({&p}, *tiny_->tokenizer->padId()));
        json j = json::parse(lines[int(i)].toStdString());
        QCOMPARE(j["chosen_tokens"].get<int64_t>(), int64_t(p.chosen.size()));
        QCOMPARE(j["rejected_tokens"].get<int64_t>(), int64_t(p.rejected.size()));
        // The CLI scored in batches of 2: within the rounding of a float32 forward pass.
        const auto& mc = tiny_->config;
        // (Every row here is shorter than 64 tokens.)
        const dpowb::test::ForwardShape shape{mc.numLayers, mc.hiddenSize, mc.intermediateSize, 64, mc.vocabSize};
        const double c = lp.logps[0].item<double>(), r = lp.logps[1].item<double>();
        QVERIFY(std::abs(j["chosen_logp"].get<double>() - c) <= dpowb::test::logpTolerance(c, int64_t(p.chosen.size()), shape));
        QVERIFY(std::abs(j["rejected_logp"].get<double>() - r) <= dpowb::test::logpTolerance(r, int64_t(p.rejected.size()), shape));
    }
}

void TestLogprobs::scoreCliReportsBadLine_data() {
    QTest::addColumn<QString>("line");
    QTest::addColumn<QString>("expected");
    QTest::newRow("not json") << "{\"prompt\": " << ":2: invalid JSON";
    QTest::newRow("missing field") << R"({"prompt": "a", "chosen": "b"})" << ":2: field \"rejected\": missing";
    QTest::newRow("id out of range") << R"({"prompt_ids": [1], "chosen_ids": [5000], "rejected_ids": [2]})"
                                     << ":2: field \"chosen_ids\": id 5000 is outside the model's vocabulary";
    QTest::newRow("wrong type") << R"({"prompt": 5, "chosen": "b", "rejected": "c"})" << ":2: field \"prompt\": expected a string";
}

void TestLogprobs::scoreCliReportsBadLine() {
    QFETCH(QString, line);
    QFETCH(QString, expected);
    QTemporaryDir tmp;
    const QString file = tmp.filePath("bad.jsonl");
    {
        std::ofstream out(file.toStdString());
        out << R"({"prompt": "ok", "chosen": " a", "rejected": " b"})" << "\n" << line.toStdString() << "\n";
    }
    QProcess proc;
    proc.start(DPOWB_CLI, {"score", "--model", "builtin:tiny", "--data", file, "--device", "cpu"});
    QVERIFY(proc.waitForFinished(300000));
    QCOMPARE(proc.exitCode(), 1);
    QVERIFY(proc.readAllStandardOutput().isEmpty());  // nothing half-done on stdout
    const QString err = QString::fromUtf8(proc.readAllStandardError());
    QVERIFY2(err.contains(file + expected), qPrintable(err));
}

QTEST_GUILESS_MAIN(TestLogprobs)
#include "tst_logprobs.moc"
