// `dpowb sample-pairs` and `dpowb score-pairs` through the real binary, on the demo project
// with a short real run of the tiny model: pairs get the right metadata, the command is
// all-or-nothing, sampling is reproducible, and margins equal what `dpowb score` gives.
// `dpowb runs-pairs` (the per-pair drill-down): the run's evaluations recorded each eval pair's
// rewards β·(log π_θ − log π_ref), their mean is the logged eval margin, the filters select what
// their definitions say, score-pairs computes the same margins, and --relabel saves a set.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include "../common/rounding.h"
#include "store/formats.h"
#include "store/pair_outcomes.h"
#include "store/project.h"

using nlohmann::json;
using namespace dpowb;

namespace {

struct Result {
    int code = -1;
    QByteArray out, err;
};

Result runCli(const QStringList& args) {
    QProcess p;
    p.start(QStringLiteral(DPOWB_CLI), args);
    p.waitForFinished(300000);
    return {p.exitCode(), p.readAllStandardOutput(), p.readAllStandardError()};
}

std::vector<json> jsonLines(const QByteArray& text) {
    std::vector<json> out;
    std::istringstream in(text.toStdString());
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(json::parse(line));
    return out;
}

std::vector<json> readJsonl(const QString& path) {
    std::ifstream in(path.toStdString());
    std::stringstream ss;
    ss << in.rdbuf();
    return jsonLines(QByteArray::fromStdString(ss.str()));
}

int64_t pairCount(const QString& db) {
    auto r = runCli({"stats", db, "--json"});
    if (r.code != 0) return -1;
    return json::parse(r.out.toStdString()).at("pairs").get<int64_t>();
}

const double kBeta = 0.1;

}  // namespace

class TestCliCompare : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    QString db_, out_;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        db_ = tmp_.filePath("demo.db");
        out_ = tmp_.filePath("run1");
        auto init = runCli({"init", db_, "--demo"});
        QVERIFY2(init.code == 0, init.err.constData());
        // A short real run: a policy that differs from the reference (builtin:tiny).
        auto train = runCli({"train", "--db", db_, "--model", "builtin:tiny", "--out", out_, "--device", "cpu",
                             "--sft-epochs", "0", "--max-steps", "3", "--batch-size", "4", "--lr", "5e-3",
                             "--beta", QString::number(kBeta), "--max-length", "128", "--max-prompt-length", "64",
                             "--warmup-steps", "0", "--seed", "3"});
        QVERIFY2(train.code == 0, train.err.constData());
    }

    void samplePairsAddsPairsWithMetadata() {
        const int64_t before = pairCount(db_);
        QVERIFY(before > 0);
        auto r = runCli({"sample-pairs", db_, "--run", "1", "--from-split", "test", "--n", "3", "--max-new-tokens", "8",
                         "--temperature", "1", "--seed", "11", "--device", "cpu"});
        QVERIFY2(r.code == 0, r.err.constData());
        auto lines = jsonLines(r.out);
        QCOMPARE(int(lines.size()), 3);
        QCOMPARE(pairCount(db_), before + 3);

        QString exported = tmp_.filePath("all.jsonl");
        auto e = runCli({"export", db_, exported, "--format", "pairs"});
        QVERIFY2(e.code == 0, e.err.constData());
        auto all = readJsonl(exported);
        int seen = 0;
        for (const auto& p : all) {
            if (p.value("source", "") != "policy-vs-reference") continue;
            ++seen;
            json meta = p.at("metadata");
            if (meta.is_string()) meta = json::parse(meta.get<std::string>());
            QCOMPARE(meta.at("run").get<int64_t>(), int64_t(1));
            QCOMPARE(meta.at("reference").get<std::string>(), std::string("builtin:tiny"));
            QCOMPARE(meta.at("policy").get<std::string>(), out_.toStdString());
            QCOMPARE(meta.at("sampling").at("temperature").get<double>(), 1.0);
            QCOMPARE(meta.at("sampling").at("max_new_tokens").get<int64_t>(), int64_t(8));
            const auto seed = meta.at("seed").get<uint64_t>();
            QVERIFY(seed >= 11 && seed < 14);
            QVERIFY(meta.at("a") == "policy" || meta.at("a") == "reference");
            QVERIFY(meta.at("a") != meta.at("b"));
            QVERIFY(!p.contains("label") || p.at("label").is_null());  // unlabelled
        }
        QCOMPARE(seen, 3);

        // Same settings and seed: the same completions, so nothing new is added. --demo-rule
        // judges each completion by the demo's rule, as store::demoSentiment does on the texts.
        auto again = runCli({"sample-pairs", db_, "--run", "1", "--from-split", "test", "--n", "3", "--max-new-tokens",
                             "8", "--temperature", "1", "--seed", "11", "--device", "cpu", "--demo-rule"});
        QVERIFY2(again.code == 0, again.err.constData());
        auto againLines = jsonLines(again.out);
        QCOMPARE(int(againLines.size()), 3);
        for (size_t i = 0; i < 3; ++i) {
            QCOMPARE(againLines[i].at("pair_id"), lines[i].at("pair_id"));
            QCOMPARE(againLines[i].at("inserted").get<bool>(), false);
        }
        int k = 0;
        for (const auto& p : all) {
            if (p.value("source", "") != "policy-vs-reference") continue;
            json meta = p.at("metadata");
            if (meta.is_string()) meta = json::parse(meta.get<std::string>());
            const bool aIsPolicy = meta.at("a") == "policy";
            const std::string policy = p.at(aIsPolicy ? "response_a" : "response_b");
            const std::string reference = p.at(aIsPolicy ? "response_b" : "response_a");
            const json& verdict = againLines[size_t(k++)].at("demo_rule");
            QCOMPARE(verdict.at("policy").get<int>(), store::demoSentiment(policy));
            QCOMPARE(verdict.at("reference").get<int>(), store::demoSentiment(reference));
        }
        QCOMPARE(k, 3);
        QVERIFY2(again.err.contains("demo rule, policy"), again.err.constData());
        QCOMPARE(pairCount(db_), before + 3);
    }

    void samplePairsIsAllOrNothing() {
        const QString prompts = tmp_.filePath("prompts.jsonl");
        {
            std::ofstream f(prompts.toStdString());
            f << R"({"prompt": "The acting was"})" << "\n"
              << R"({"messages": [{"role": "user", "content": "Review the film."}]})" << "\n"
              << "{\"prompt\": \"unterminated" << "\n";
        }
        const int64_t before = pairCount(db_);
        auto r = runCli({"sample-pairs", db_, "--model", out_, "--ref", "builtin:tiny", "--prompts", prompts,
                         "--max-new-tokens", "4", "--device", "cpu"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains((prompts + ":3:").toUtf8()), r.err.constData());
        QCOMPARE(r.out, QByteArray());
        QCOMPARE(pairCount(db_), before);

        // Without the bad line it works, chat prompts included.
        {
            std::ofstream f(prompts.toStdString());
            f << R"({"prompt": "The acting was"})" << "\n"
              << R"({"messages": [{"role": "user", "content": "Review the film."}]})" << "\n";
        }
        auto ok = runCli({"sample-pairs", db_, "--model", out_, "--ref", "builtin:tiny", "--prompts", prompts,
                          "--max-new-tokens", "4", "--device", "cpu", "--seed", "100"});
        QVERIFY2(ok.code == 0, ok.err.constData());
        QCOMPARE(int(jsonLines(ok.out).size()), 2);
        QCOMPARE(pairCount(db_), before + 2);
    }

    void usageErrors_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("message");
        QTest::newRow("no prompts") << QStringList{"sample-pairs", "DB", "--run", "1"} << 2 << "--prompts";
        QTest::newRow("no model") << QStringList{"sample-pairs", "DB", "--from-split", "test"} << 2 << "--run";
        QTest::newRow("unknown run") << QStringList{"score-pairs", "DB", "--run", "99"} << 1 << "no run 99";
    }
    void usageErrors() {
        QFETCH(QStringList, args);
        QFETCH(int, code);
        QFETCH(QString, message);
        args.replaceInStrings(QRegularExpression("^DB$"), db_);
        auto r = runCli(args);
        QCOMPARE(r.code, code);
        QVERIFY2(QString::fromUtf8(r.err).contains(message), r.err.constData());
    }

    // The margin of a labelled pair is β·[(log π_θ(y_w) − log π_ref(y_w)) − (log π_θ(y_l) − log π_ref(y_l))]
    // with the log-probs `dpowb score` prints for the policy and for the reference.
    void scorePairsMatchesScore() {
        auto r = runCli({"score-pairs", db_, "--run", "1", "--split", "test", "--device", "cpu"});
        QVERIFY2(r.code == 0, r.err.constData());
        auto margins = jsonLines(r.out);
        QVERIFY(!margins.empty());

        const QString trl = tmp_.filePath("test.jsonl");
        auto e = runCli({"export", db_, trl, "--format", "trl", "--split", "test"});
        QVERIFY2(e.code == 0, e.err.constData());
        auto pol = runCli({"score", "--model", out_, "--data", trl, "--device", "cpu", "--max-length", "128",
                           "--max-prompt-length", "64"});
        auto ref = runCli({"score", "--model", "builtin:tiny", "--data", trl, "--device", "cpu", "--max-length", "128",
                           "--max-prompt-length", "64"});
        QVERIFY2(pol.code == 0 && ref.code == 0, (pol.err + ref.err).constData());
        auto polLines = jsonLines(pol.out), refLines = jsonLines(ref.out);
        QCOMPARE(polLines.size(), refLines.size());

        std::vector<json> labelled;
        for (const auto& m : margins)
            if (m.at("basis") == "label") labelled.push_back(m);
        QCOMPARE(labelled.size(), polLines.size());
        QVERIFY(!labelled.empty());
        // score-pairs batches the pairs differently from score: the log-probs agree within the
        // rounding of the trained model's float32 forward pass (tests/common/rounding.h).
        std::ifstream cfgIn(out_.toStdString() + "/config.json");
        const json cfg = json::parse(cfgIn);
        const test::ForwardShape shape{cfg.at("num_hidden_layers").get<int64_t>(), cfg.at("hidden_size").get<int64_t>(),
                                       cfg.at("intermediate_size").get<int64_t>(), 128, cfg.at("vocab_size").get<int64_t>()};
        bool anyNonZero = false;
        for (size_t i = 0; i < labelled.size(); ++i) {
            const double pc = polLines[i].at("chosen_logp"), pr = polLines[i].at("rejected_logp");
            const double rc = refLines[i].at("chosen_logp"), rr = refLines[i].at("rejected_logp");
            const int64_t nc = polLines[i].at("chosen_tokens"), nr = polLines[i].at("rejected_tokens");
            const double chosenTol = kBeta * (test::logpTolerance(pc, nc, shape) + test::logpTolerance(rc, nc, shape));
            const double rejectedTol = kBeta * (test::logpTolerance(pr, nr, shape) + test::logpTolerance(rr, nr, shape));
            const double expected = kBeta * ((pc - rc) - (pr - rr));
            const double got = labelled[i].at("margin").get<double>();
            QVERIFY2(std::abs(got - expected) <= chosenTol + rejectedTol,
                     qPrintable(QString("pair %1: %2 vs %3 (tolerance %4)").arg(labelled[i].at("pair_id").get<int64_t>())
                                    .arg(got).arg(expected).arg(chosenTol + rejectedTol)));
            anyNonZero |= std::abs(expected) > chosenTol + rejectedTol;
            // The rewards match one by one too (chosen side follows the verdict).
            const bool aChosen = labelled[i].at("verdict") == "a";
            const double rewardChosen = labelled[i].at(aChosen ? "reward_a" : "reward_b").get<double>();
            QVERIFY(std::abs(rewardChosen - kBeta * (pc - rc)) <= chosenTol);
        }
        QVERIFY(anyNonZero);  // the run moved the policy
    }

    void runsPairsRecordsEvaluations() {
        auto r = runCli({"runs-pairs", db_, "1", "--json"});
        QVERIFY2(r.code == 0, r.err.constData());
        const auto rows = jsonLines(r.out);
        QVERIFY(!rows.empty());
        auto project = store::Project::open(db_.toStdString());
        // Every test pair the run trained with (its snapshot), once.
        std::set<int64_t> evalPairs;
        for (const auto& e : json::parse(project.run(1)->snapshotJson))
            if (project.pair(e.at(0).get<int64_t>())->split == "test") evalPairs.insert(e.at(0).get<int64_t>());
        QCOMPARE(rows.size(), evalPairs.size());
        // The final evaluation (the run's last step), with the change since step 0.
        const int64_t lastStep = project.run(1)->step;
        double marginSum = 0;
        for (const auto& row : rows) {
            QVERIFY(evalPairs.count(row.at("pair_id").get<int64_t>()));
            QCOMPARE(row.at("step").get<int64_t>(), lastStep);
            QCOMPARE(row.at("base_step").get<int64_t>(), int64_t(0));
            const double pc = row.at("policy_logp_chosen"), rc = row.at("reference_logp_chosen");
            const double pr = row.at("policy_logp_rejected"), rr = row.at("reference_logp_rejected");
            // The trainer's float32 rewards against β·(policy − reference) from the stored log-probs.
            const double tolC = 1e-5 * kBeta * (std::abs(pc) + std::abs(rc)) + 1e-7;
            const double tolR = 1e-5 * kBeta * (std::abs(pr) + std::abs(rr)) + 1e-7;
            QVERIFY(std::abs(row.at("chosen_reward").get<double>() - kBeta * (pc - rc)) <= tolC);
            QVERIFY(std::abs(row.at("rejected_reward").get<double>() - kBeta * (pr - rr)) <= tolR);
            QCOMPARE(row.at("margin").get<double>(),
                     row.at("chosen_reward").get<double>() - row.at("rejected_reward").get<double>());
            QCOMPARE(row.at("change").get<double>(), row.at("margin").get<double>() - row.at("base_margin").get<double>());
            marginSum += row.at("margin").get<double>();
        }
        // Their mean is the eval margin the run logged at that step.
        double logged = std::nan("");
        for (const auto& m : project.metrics(1))
            if (m.split == "eval" && m.step == lastStep) logged = json::parse(m.valuesJson).at("rewards/margins").get<double>();
        QVERIFY(std::isfinite(logged));
        QVERIFY2(std::abs(marginSum / double(rows.size()) - logged) <= 1e-6 * (1 + std::abs(logged)),
                 qPrintable(QString("%1 vs %2").arg(marginSum / double(rows.size())).arg(logged)));

        // At step 0 the policy is the reference: every margin is 0.
        auto z = runCli({"runs-pairs", db_, "1", "--step", "0", "--json"});
        QVERIFY2(z.code == 0, z.err.constData());
        for (const auto& row : jsonLines(z.out)) QVERIFY(std::abs(row.at("margin").get<double>()) <= 1e-6);

        // The filters, against their definitions on the full list.
        std::vector<json> flipped, byMargin = rows, byChange = rows;
        for (const auto& row : rows)
            if (row.at("margin").get<double>() < 0) flipped.push_back(row);
        auto margin = [](const json& j) { return j.at("margin").get<double>(); };
        std::stable_sort(flipped.begin(), flipped.end(), [&](const json& a, const json& b) { return margin(a) < margin(b); });
        std::stable_sort(byMargin.begin(), byMargin.end(), [&](const json& a, const json& b) { return margin(a) < margin(b); });
        std::stable_sort(byChange.begin(), byChange.end(), [](const json& a, const json& b) {
            return std::abs(a.at("change").get<double>()) > std::abs(b.at("change").get<double>());
        });
        auto ids = [](const std::vector<json>& v, size_t n) {
            std::vector<int64_t> out;
            for (size_t i = 0; i < std::min(n, v.size()); ++i) out.push_back(v[i].at("pair_id").get<int64_t>());
            return out;
        };
        auto listed = [&](const QStringList& extra) {
            auto res = runCli(QStringList{"runs-pairs", db_, "1", "--json"} + extra);
            if (res.code != 0) qWarning("%s", res.err.constData());
            return ids(jsonLines(res.out), 1000);
        };
        QCOMPARE(listed({"--filter", "flipped"}), ids(flipped, 1000));
        QCOMPARE(listed({"--filter", "worst", "--limit", "2"}), ids(byMargin, 2));
        QCOMPARE(listed({"--filter", "changed", "--limit", "3"}), ids(byChange, 3));

        // score-pairs on the same policy gives the same margins (another batching: the rounding
        // of a float32 forward), and records them as the run's outcomes of split train too.
        auto s = runCli({"score-pairs", db_, "--run", "1", "--split", "test", "--device", "cpu"});
        QVERIFY2(s.code == 0, s.err.constData());
        std::map<int64_t, double> scored;
        for (const auto& m : jsonLines(s.out))
            if (m.at("basis") == "label") scored[m.at("pair_id").get<int64_t>()] = m.at("margin").get<double>();
        for (const auto& row : rows) {
            const auto it = scored.find(row.at("pair_id").get<int64_t>());
            QVERIFY(it != scored.end());
            QVERIFY2(std::abs(it->second - margin(row)) <= 1e-3 * (1 + std::abs(margin(row))),
                     qPrintable(QString("pair %1: %2 vs %3").arg(it->first).arg(it->second).arg(margin(row))));
        }
        auto none = runCli({"runs-pairs", db_, "1", "--split", "train"});
        QVERIFY2(none.code == 0, none.err.constData());
        QVERIFY2(none.err.contains("score-pairs"), none.err.constData());
        auto st = runCli({"score-pairs", db_, "--run", "1", "--split", "train", "--device", "cpu"});
        QVERIFY2(st.code == 0 && st.err.contains("recorded"), st.err.constData());
        auto train = runCli({"runs-pairs", db_, "1", "--split", "train", "--json"});
        QVERIFY2(train.code == 0, train.err.constData());
        QCOMPARE(jsonLines(train.out).size(), jsonLines(st.out).size());

        // --relabel: the listed pairs become a saved set (the Label page's filter).
        auto rl = runCli({"runs-pairs", db_, "1", "--filter", "worst", "--limit", "2", "--relabel", "To relabel (run 1)"});
        QVERIFY2(rl.code == 0, rl.err.constData());
        auto again = store::Project::open(db_.toStdString());
        const auto sets = store::pairSets(again);
        QCOMPARE(sets.size(), size_t(1));
        store::PairQuery q;
        q.pairSet = sets[0].id;
        auto members = again.pairIds(q);
        auto want = ids(byMargin, 2);
        std::sort(want.begin(), want.end());
        QCOMPARE(members, want);

        // Bad input: one line each.
        auto bad = runCli({"runs-pairs", db_, "1", "--filter", "worse"});
        QCOMPARE(bad.code, 2);
        auto noRun = runCli({"runs-pairs", db_, "9"});
        QCOMPARE(noRun.code, 1);
        QVERIFY(noRun.err.contains("no run 9"));
        auto noStep = runCli({"runs-pairs", db_, "1", "--step", "2"});
        QCOMPARE(noStep.code, 1);
        QVERIFY2(noStep.err.contains("recorded at step 0, "), noStep.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestCliCompare)
#include "tst_cli_compare.moc"
