// The compare view end to end, offscreen, on a small project and a policy trained for a few
// steps by the real `dpowb train`: the same seed and settings give the same text twice; the
// rewards shown for a completion equal the scorer API's for the same ids, and a pair's equal
// those `dpowb score` computes for the same text; a pair added from the
// view carries the right source and metadata; the batch sampler is all-or-nothing; the margin
// table equals `dpowb score` on the same pairs; the models pass QAbstractItemModelTester.
#include <QAbstractItemModelTester>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QComboBox>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include "../common/rounding.h"
#include "compare_sample_dialog.h"
#include "compare_view.h"
#include "project_context.h"
#include "margin_model.h"
#include "store/project.h"
#include "eval/compare.h"

using namespace dpowb;
using ui::CompareView;
using ui::MarginModel;
using ui::Side;

namespace {

struct CliResult {
    int code = -1;
    QByteArray out, err;
};

CliResult runCli(const QStringList& args, int timeoutMs = 240000) {
    QProcess p;
    p.start(QStringLiteral(DPOWB_CLI), args);
    p.waitForFinished(timeoutMs);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(),
            p.readAllStandardError()};
}

const char* const kPrompts[] = {"The acting in this film was", "Honestly, the story felt", "The soundtrack was",
                                "I watched this movie last night and it was", "The ending of the film was",
                                "The director's choices were"};

// Pairs 1..6 train (labelled a), 7..9 test (b, a, unlabelled).
store::Pair makePair(int i) {
    store::Pair p;
    p.prompt = std::string(kPrompts[i % 6]) + (i >= 6 ? " (held out)" : "");
    p.responseA = " wonderful, warm and moving " + std::to_string(i) + ".";
    p.responseB = " dull, flat and tiring " + std::to_string(i) + ".";
    p.split = i < 6 ? "train" : "test";
    p.source = "test";
    return p;
}

// One line of `dpowb score` input per pair: A as "chosen", B as "rejected".
QByteArray scoreInput(const std::vector<std::tuple<std::string, std::string, std::string>>& rows) {
    QByteArray out;
    for (const auto& [prompt, a, b] : rows) {
        QJsonObject o;
        o.insert(QStringLiteral("prompt"), QString::fromStdString(prompt));
        o.insert(QStringLiteral("chosen"), QString::fromStdString(a));
        o.insert(QStringLiteral("rejected"), QString::fromStdString(b));
        out += QJsonDocument(o).toJson(QJsonDocument::Compact) + '\n';
    }
    return out;
}

// (chosen_logp, rejected_logp) per line, from the real CLI.
// One line of `dpowb score`: the summed log-probs of both responses and their token counts.
struct CliScore {
    double first = 0, second = 0;  // chosen_logp, rejected_logp (here: A, B)
    int64_t firstTokens = 0, secondTokens = 0;
};

std::vector<CliScore> cliScore(const QString& model, const QString& file, const QStringList& extra) {
    const CliResult r =
        runCli(QStringList{QStringLiteral("score"), QStringLiteral("--model"), model, QStringLiteral("--data"), file} + extra);
    if (r.code != 0) qFatal("dpowb score failed: %s", r.err.constData());
    std::vector<CliScore> out;
    for (const QByteArray& line : r.out.split('\n')) {
        if (line.trimmed().isEmpty()) continue;
        const QJsonObject o = QJsonDocument::fromJson(line).object();
        out.push_back({o.value(QStringLiteral("chosen_logp")).toDouble(), o.value(QStringLiteral("rejected_logp")).toDouble(),
                       o.value(QStringLiteral("chosen_tokens")).toInteger(), o.value(QStringLiteral("rejected_tokens")).toInteger()});
    }
    return out;
}

// How far a reward β·(policy − reference) of a response scored by the view may be from the
// same reward from `dpowb score`, which batches differently: the rounding of two float32
// forward passes for each log-prob (tests/common/rounding.h), for the model in `folder`.
double rewardTolerance(const QString& folder, double beta, double policyLogp, double referenceLogp, int64_t tokens,
                       int64_t positions) {
    QFile f(folder + QStringLiteral("/config.json"));
    if (!f.open(QIODevice::ReadOnly)) qFatal("no config.json in %s", qPrintable(folder));
    const QJsonObject c = QJsonDocument::fromJson(f.readAll()).object();
    const dpowb::test::ForwardShape shape{c.value(QStringLiteral("num_hidden_layers")).toInteger(),
                                          c.value(QStringLiteral("hidden_size")).toInteger(),
                                          c.value(QStringLiteral("intermediate_size")).toInteger(), positions,
                                          c.value(QStringLiteral("vocab_size")).toInteger()};
    return beta * (dpowb::test::logpTolerance(policyLogp, tokens, shape) + dpowb::test::logpTolerance(referenceLogp, tokens, shape));
}

bool near(double a, double b, double tol = 2e-4) { return std::abs(a - b) <= tol * std::max(1.0, std::abs(b)); }

}  // namespace

class TestCompareView : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    QString db_, policy_, reference_;
    qint64 runId_ = 0;
    double beta_ = 0.1;
    QStringList encoding_;  // the run's --max-length / --max-prompt-length, for `dpowb score`

    QString path(const QString& name) const { return dir_.filePath(name); }

    static void waitIdle(CompareView& view) { QTRY_VERIFY_WITH_TIMEOUT(!view.isBusy(), 300000); }

    void generateAndWait(CompareView& view) {
        QSignalSpy done(&view, &CompareView::generationFinished);
        QVERIFY2(view.generate(), qPrintable(view.errorText()));
        QVERIFY(done.wait(300000));
        QCOMPARE(done.takeFirst().at(0).toBool(), false);
        waitIdle(view);
        QVERIFY2(view.errorText().isEmpty(), qPrintable(view.errorText()));
    }

    ui::SamplingSettings sampling(uint64_t seed, int samples) const {
        ui::SamplingSettings s;
        s.temperature = 0.9;
        s.topK = 40;
        s.topP = 0.95;
        s.maxNewTokens = 24;
        s.seed = seed;
        s.samples = samples;
        return s;
    }

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);  // Preferences (QSettings) of the test, not the user's
        QCoreApplication::setOrganizationName(QStringLiteral("dpo-workbench-test"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_compare_view"));
        QVERIFY(dir_.isValid());
        db_ = path(QStringLiteral("compare.db"));
        {
            auto project = store::Project::create(db_.toStdString());
            for (int i = 0; i < 9; ++i) {
                const int64_t id = project.addPair(makePair(i));
                if (i < 6 || i == 7) project.label(id, store::Verdict::A);
                if (i == 6) project.label(id, store::Verdict::B);
            }
        }
        // A policy that differs from its reference: a few DPO steps with a large learning rate.
        const CliResult r = runCli({QStringLiteral("train"), QStringLiteral("--db"), db_, QStringLiteral("--model"),
                                    QStringLiteral("builtin:tiny"), QStringLiteral("--out"), path(QStringLiteral("run")),
                                    QStringLiteral("--max-steps"), QStringLiteral("3"), QStringLiteral("--batch-size"),
                                    QStringLiteral("2"), QStringLiteral("--lr"), QStringLiteral("0.01"),
                                    QStringLiteral("--sft-epochs"), QStringLiteral("0"), QStringLiteral("--beta"),
                                    QStringLiteral("0.25")});
        QVERIFY2(r.code == 0, r.err.constData());
        auto project = store::Project::open(db_.toStdString());
        const auto runs = project.runs();
        QCOMPARE(int(runs.size()), 1);
        runId_ = runs.front().id;
        policy_ = QString::fromStdString(runs.front().outputDir);
        reference_ = QString::fromStdString(runs.front().referencePath);
        beta_ = 0.25;
        const QJsonObject config = QJsonDocument::fromJson(QByteArray::fromStdString(runs.front().configJson)).object();
        encoding_ = {QStringLiteral("--max-length"), QString::number(config.value(QStringLiteral("max_length")).toInteger()),
                     QStringLiteral("--max-prompt-length"),
                     QString::number(config.value(QStringLiteral("max_prompt_length")).toInteger())};
        QVERIFY(QFile::exists(policy_ + "/config.json"));
        QVERIFY(!reference_.isEmpty());
    }

    void runPicksPolicyReferenceAndBeta() {
        CompareView view(db_);
        QVERIFY(view.selectRun(runId_));
        const ui::CompareModels m = view.models();
        QCOMPARE(m.policyPath, policy_);
        QCOMPARE(m.referencePath, reference_);
        QCOMPARE(m.runId, runId_);
        QCOMPARE(m.beta, beta_);
        // The default prompt is a held-out pair's.
        QVERIFY(view.currentPairId() > 0);
        auto project = store::Project::open(db_.toStdString());
        QCOMPARE(QString::fromStdString(project.pair(view.currentPairId())->split), QStringLiteral("test"));
    }

    void sameSeedSameText_data() {
        QTest::addColumn<bool>("greedy");
        QTest::addColumn<int>("seed");
        QTest::newRow("sampled seed 7") << false << 7;
        QTest::newRow("sampled seed 123") << false << 123;
        QTest::newRow("greedy") << true << 1;
    }
    void sameSeedSameText() {
        QFETCH(bool, greedy);
        QFETCH(int, seed);
        CompareView view(db_);
        QVERIFY(view.selectRun(runId_));
        view.setPrompt(QStringLiteral("The acting in this film was"));
        ui::SamplingSettings s = sampling(uint64_t(seed), 2);
        s.greedy = greedy;
        view.setSettings(s);
        generateAndWait(view);
        QStringList first;
        for (Side side : {Side::Policy, Side::Reference})
            for (int i = 0; i < 2; ++i) {
                const ui::ScoredText* t = view.completion(side, i);
                QVERIFY(t);
                // What streamed is what was scored.
                QCOMPARE(view.streamedText(side, i), QString::fromStdString(t->text));
                QVERIFY(!t->text.empty());
                first << QString::fromStdString(t->text);
            }
        if (greedy) QCOMPARE(first[0], first[1]);  // greedy ignores the seed
        generateAndWait(view);
        QStringList second;
        for (Side side : {Side::Policy, Side::Reference})
            for (int i = 0; i < 2; ++i) second << QString::fromStdString(view.completion(side, i)->text);
        QCOMPARE(second, first);
    }

    void rewardsEqualTheScorers() {
        CompareView view(db_);
        QVERIFY(view.selectRun(runId_));
        const QString prompt = QStringLiteral("The soundtrack was");
        view.setPrompt(prompt);
        view.setSettings(sampling(11, 1));
        generateAndWait(view);
        const ui::ScoredText* pol = view.completion(Side::Policy, 0);
        const ui::ScoredText* ref = view.completion(Side::Reference, 0);
        QVERIFY(pol && ref);

        // The scorer API on the very ids that were generated.
        auto project = store::Project::open(db_.toStdString());
        eval::Comparer scorer(eval::modelsForRun(project, runId_));
        eval::PromptInput in;
        in.text = prompt.toStdString();
        for (const ui::ScoredText* t : {pol, ref}) {
            QVERIFY(!t->ids.empty());
            const eval::CompletionScore s = scorer.scoreIds(in, t->ids);
            QVERIFY2(near(t->policyLogp, s.logpPolicy, 1e-6), qPrintable(QStringLiteral("%1 vs %2").arg(t->policyLogp).arg(s.logpPolicy)));
            QVERIFY(near(t->referenceLogp, s.logpReference, 1e-6));
            QVERIFY(std::abs(t->reward(beta_) - beta_ * (s.logpPolicy - s.logpReference)) < 1e-6);
        }
        // The pane shows that reward, and the pieces add up to the totals and to the text.
        const double shown = pol->reward(beta_);
        const QString text = (shown >= 0 ? QStringLiteral("+") : QString()) + QString::number(shown, 'f', 3);
        QVERIFY2(view.paneHtml(Side::Policy).contains(QStringLiteral("reward <b>") + text), qPrintable(view.paneHtml(Side::Policy)));
        double sumP = 0, sumR = 0;
        std::string joined;
        for (size_t i = 0; i < pol->pieces.size(); ++i) {
            sumP += pol->policyPieceLogps[i];
            sumR += pol->referencePieceLogps[i];
            joined += pol->pieces[i];
        }
        QCOMPARE(QString::fromStdString(joined), QString::fromStdString(pol->text));
        QVERIFY(std::abs(sumP - pol->policyLogp) < 1e-6);
        QVERIFY(std::abs(sumR - pol->referenceLogp) < 1e-6);
        // Trained and untrained weights disagree somewhere: some piece is tinted.
        bool tinted = false;
        for (size_t i = 0; i < pol->pieces.size(); ++i) {
            const QColor c = CompareView::ratioColor(pol->policyPieceLogps[i] - pol->referencePieceLogps[i]);
            if (c != QColor(Qt::white) && view.paneHtml(Side::Policy).contains(QStringLiteral("background-color:") + c.name()))
                tinted = true;
        }
        QVERIFY(tinted);
    }

    void scorePairEqualsScorer() {
        CompareView view(db_);
        QVERIFY(view.selectRun(runId_));
        QVERIFY(view.showPair(7));  // test split, labelled b
        QSignalSpy scored(&view, &CompareView::pairScored);
        QVERIFY(view.scoreCurrentPair());
        QVERIFY(scored.wait(300000));
        waitIdle(view);
        QVERIFY(view.pairScore());
        const store::Pair p = makePair(6);
        const QString file = path(QStringLiteral("pair7.jsonl"));
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(scoreInput({{p.prompt, p.responseA, p.responseB}}));
        f.close();
        const auto pol = cliScore(policy_, file, encoding_), ref = cliScore(reference_, file, encoding_);
        const double rewardA = beta_ * (pol[0].first - ref[0].first), rewardB = beta_ * (pol[0].second - ref[0].second);
        const int64_t maxLength = encoding_[1].toLongLong();
        const double tolA = rewardTolerance(policy_, beta_, pol[0].first, ref[0].first, pol[0].firstTokens, maxLength);
        const double tolB = rewardTolerance(policy_, beta_, pol[0].second, ref[0].second, pol[0].secondTokens, maxLength);
        QVERIFY(std::abs(view.pairScore()->a.reward(beta_) - rewardA) <= tolA);
        QVERIFY(std::abs(view.pairScore()->b.reward(beta_) - rewardB) <= tolB);
        // Labelled b: the margin is reward(B) − reward(A).
        const double margin = view.pairScore()->b.reward(beta_) - view.pairScore()->a.reward(beta_);
        QVERIFY2(view.pairScoreText().contains(QStringLiteral("margin ") + (margin >= 0 ? QStringLiteral("+") : QString()) +
                                               QString::number(margin, 'f', 4)),
                 qPrintable(view.pairScoreText()));
    }

    void addPairFromView() {
        CompareView view(db_);
        QVERIFY(view.selectRun(runId_));
        QVERIFY(view.showPair(8));
        view.setSettings(sampling(5, 2));
        generateAndWait(view);
        view.setSelectedSample(1);
        QSignalSpy added(&view, &CompareView::pairAdded);
        const qint64 id = view.addPairFromView();
        QVERIFY2(id > 0, qPrintable(view.errorText()));
        QCOMPARE(added.count(), 1);

        auto project = store::Project::open(db_.toStdString());
        const auto p = project.pair(id);
        QVERIFY(p);
        QCOMPARE(p->source, std::string("policy-vs-reference"));
        QCOMPARE(p->prompt, makePair(7).prompt);
        QCOMPARE(p->responseA, view.completion(Side::Policy, 1)->text);
        QCOMPARE(p->responseB, view.completion(Side::Reference, 1)->text);
        QVERIFY(!p->verdict);
        // Pair 8's prompt is held out (split test): the new pair stays in test, so no later run
        // trains on an evaluation prompt.
        QCOMPARE(project.pair(8)->split, std::string("test"));
        QCOMPARE(p->split, std::string("test"));
        const QJsonObject meta = QJsonDocument::fromJson(QByteArray::fromStdString(p->metadataJson)).object();
        QCOMPARE(meta.value(QStringLiteral("run_id")).toInteger(), runId_);
        QCOMPARE(meta.value(QStringLiteral("policy")).toString(), policy_);
        QCOMPARE(meta.value(QStringLiteral("reference")).toString(), reference_);
        QCOMPARE(meta.value(QStringLiteral("prompt_from_pair")).toInteger(), qint64(8));
        const QJsonObject s = meta.value(QStringLiteral("sampling")).toObject();
        QCOMPARE(s.value(QStringLiteral("seed")).toInteger(), qint64(6));  // sample 2 of seed 5
        QCOMPARE(s.value(QStringLiteral("temperature")).toDouble(), 0.9);
        QCOMPARE(s.value(QStringLiteral("top_k")).toInteger(), qint64(40));
        QCOMPARE(s.value(QStringLiteral("max_new_tokens")).toInteger(), qint64(24));

        // Labelled at once: sample 1, policy better → verdict a; then reference better → b.
        // The label carries the annotator name of Preferences, as labels on the Label page do.
        const QByteArray envAnnotator = qgetenv("DPOWB_ANNOTATOR");
        qunsetenv("DPOWB_ANNOTATOR");
        const QString before = ui::ProjectContext::annotatorPreference();
        QSettings().setValue(QStringLiteral("annotator"), QStringLiteral("compare-tester"));
        view.setSelectedSample(0);
        const qint64 labelled = view.addPairFromView(store::Verdict::A);
        QSettings().setValue(QStringLiteral("annotator"), before);
        if (!envAnnotator.isEmpty()) qputenv("DPOWB_ANNOTATOR", envAnnotator);
        QVERIFY(labelled > 0 && labelled != id);
        QCOMPARE(project.pair(labelled)->verdict, std::optional<store::Verdict>(store::Verdict::A));
        const auto labels = project.history(labelled);
        QCOMPARE(labels.size(), size_t(1));
        QCOMPARE(labels.back().annotator, std::string("compare-tester"));
        // The same two completions again: no duplicate pair, the id comes back.
        QCOMPARE(view.addPairFromView(), labelled);
    }

    // The dialog adds the pairs to the split their prompts came from unless the user chooses.
    void sampleDialogKeepsTheSplit() {
        CompareView view(db_);
        QVERIFY(view.selectRun(runId_));
        ui::CompareSampleDialog dialog(&view);
        QCOMPARE(dialog.fromSplitCombo()->currentText(), QStringLiteral("test"));
        QCOMPARE(dialog.toSplitCombo()->currentText(), QStringLiteral("test"));
        dialog.fromSplitCombo()->setCurrentText(QStringLiteral("train"));
        QCOMPARE(dialog.toSplitCombo()->currentText(), QStringLiteral("train"));
        dialog.toSplitCombo()->setCurrentText(QStringLiteral("test"));  // a deliberate choice stays
        QCOMPARE(dialog.toSplitCombo()->currentText(), QStringLiteral("test"));
        QCOMPARE(ui::SampleBatchRequest().toSplit, ui::SampleBatchRequest().fromSplit);
    }

    void samplePairsIsAllOrNothing() {
        CompareView view(db_);
        QVERIFY(view.selectRun(runId_));
        view.setSettings(sampling(3, 1));
        auto count = [this] {
            auto project = store::Project::open(db_.toStdString());
            store::PairQuery q;
            q.source = "policy-vs-reference";
            return project.countPairs(q);
        };
        const int64_t before = count();
        std::set<int64_t> earlier;  // pairs that other slots added from the view
        {
            auto project = store::Project::open(db_.toStdString());
            store::PairQuery q;
            q.source = "policy-vs-reference";
            for (const auto& p : project.pairs(q)) earlier.insert(p.id);
        }

        // Stopped before the end: nothing is added.
        QSignalSpy finished(&view, &CompareView::samplesFinished);
        QVERIFY(view.samplePairs(3, QStringLiteral("test"), QStringLiteral("train")));
        view.stop();
        QVERIFY(finished.wait(300000));
        QCOMPARE(finished.last().at(2).toBool(), true);
        waitIdle(view);
        QCOMPARE(count(), before);

        QVERIFY(view.samplePairs(3, QStringLiteral("test"), QStringLiteral("train")));
        QVERIFY(finished.wait(300000));
        waitIdle(view);
        const QList<QVariant> args = finished.last();
        QCOMPARE(args.at(3).toString(), QString());
        QCOMPARE(args.at(1).toInt(), 3);
        QCOMPARE(count(), before + args.at(0).toInt());
        QVERIFY(args.at(0).toInt() >= 1);
        auto project = store::Project::open(db_.toStdString());
        store::PairQuery q;
        q.source = "policy-vs-reference";
        for (const auto& p : project.pairs(q)) {
            if (earlier.count(p.id)) continue;
            // The metadata of `dpowb sample-pairs` (eval/sample_pairs.h): the run, the settings and
            // which side holds the policy's completion.
            const QJsonObject meta = QJsonDocument::fromJson(QByteArray::fromStdString(p.metadataJson)).object();
            QCOMPARE(meta.value(QStringLiteral("run")).toInteger(), runId_);
            QVERIFY(meta.contains(QStringLiteral("sampling")));
            const QString a = meta.value(QStringLiteral("a")).toString(), b = meta.value(QStringLiteral("b")).toString();
            QVERIFY2((a == "policy" && b == "reference") || (a == "reference" && b == "policy"), qPrintable(a + "/" + b));
            QCOMPARE(p.split, std::string("train"));  // the split asked for
        }
    }

    void marginsEqualScoreCli() {
        CompareView view(db_);
        QVERIFY(view.selectRun(runId_));
        QSignalSpy done(&view, &CompareView::marginsComputed);
        QVERIFY(view.computeMargins());
        QVERIFY(done.wait(300000));
        waitIdle(view);
        MarginModel* model = view.marginModel();
        QAbstractItemModelTester tester(model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester proxyTester(view.marginProxy(), QAbstractItemModelTester::FailureReportingMode::QtTest);

        auto project = store::Project::open(db_.toStdString());
        const std::vector<store::Pair> pairs = project.pairs(store::PairQuery{});
        QCOMPARE(model->rowCount(), int(pairs.size()));
        std::vector<std::tuple<std::string, std::string, std::string>> rows;
        for (const auto& p : pairs) rows.emplace_back(p.prompt, p.responseA, p.responseB);
        const QString file = path(QStringLiteral("all.jsonl"));
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(scoreInput(rows));
        f.close();
        const auto pol = cliScore(policy_, file, encoding_), ref = cliScore(reference_, file, encoding_);
        QCOMPARE(pol.size(), pairs.size());
        for (size_t i = 0; i < pairs.size(); ++i) {
            const int row = model->rowOfPair(pairs[i].id);
            QVERIFY(row >= 0);
            const ui::MarginRow* r = model->rowAt(row);
            const double a = beta_ * (pol[i].first - ref[i].first), b = beta_ * (pol[i].second - ref[i].second);
            const int64_t maxLength = encoding_[1].toLongLong();
            const double tolA = rewardTolerance(policy_, beta_, pol[i].first, ref[i].first, pol[i].firstTokens, maxLength);
            const double tolB = rewardTolerance(policy_, beta_, pol[i].second, ref[i].second, pol[i].secondTokens, maxLength);
            QVERIFY2(std::abs(r->rewardA - a) <= tolA,
                     qPrintable(QStringLiteral("pair %1: %2 vs %3, tolerance %4").arg(pairs[i].id).arg(r->rewardA).arg(a).arg(tolA)));
            QVERIFY(std::abs(r->rewardB - b) <= tolB);
            const double margin = pairs[i].verdict == store::Verdict::B ? b - a : a - b;
            QVERIFY(std::abs(model->index(row, MarginModel::Margin).data(MarginModel::SortRole).toDouble() - margin) <= tolA + tolB);
        }
        // Sorted by margin, most negative first.
        auto* proxy = view.marginProxy();
        for (int r = 1; r < proxy->rowCount(); ++r)
            QVERIFY(proxy->index(r - 1, MarginModel::Margin).data(MarginModel::SortRole).toDouble() <=
                    proxy->index(r, MarginModel::Margin).data(MarginModel::SortRole).toDouble());
        proxy->setLabelledOnly(true);
        const auto labelled = std::count_if(pairs.begin(), pairs.end(), [](const store::Pair& p) {
            return p.verdict == store::Verdict::A || p.verdict == store::Verdict::B;
        });
        QCOMPARE(proxy->rowCount(), int(labelled));
    }

    void marginModelRows_data() {
        QTest::addColumn<int>("rows");
        QTest::newRow("empty") << 0;
        QTest::newRow("one") << 1;
        QTest::newRow("many") << 50;
    }
    void marginModelRows() {
        QFETCH(int, rows);
        MarginModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        ui::MarginProxyModel proxy;
        proxy.setSourceModel(&model);
        QAbstractItemModelTester proxyTester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        std::vector<ui::MarginRow> data;
        for (int i = 0; i < rows; ++i) {
            ui::MarginRow r;
            r.pairId = i + 1;
            r.split = i % 3 ? QStringLiteral("train") : QStringLiteral("test");
            r.verdict = i % 4 == 0 ? std::nullopt : std::optional<store::Verdict>(i % 2 ? store::Verdict::A : store::Verdict::B);
            r.rewardA = std::sin(i * 1.3);
            r.rewardB = std::cos(i * 0.7);
            data.push_back(r);
        }
        model.setRows(data);
        QCOMPARE(model.rowCount(), rows);
        proxy.sort(MarginModel::AbsMargin, Qt::AscendingOrder);
        for (int r = 1; r < proxy.rowCount(); ++r)
            QVERIFY(proxy.index(r - 1, MarginModel::AbsMargin).data(MarginModel::SortRole).toDouble() <=
                    proxy.index(r, MarginModel::AbsMargin).data(MarginModel::SortRole).toDouble());
        for (int r = 0; r < rows; ++r) {
            const ui::MarginRow& m = data[size_t(r)];
            const double expected = m.verdict == store::Verdict::B ? m.rewardB - m.rewardA : m.rewardA - m.rewardB;
            QCOMPARE(model.index(r, MarginModel::Margin).data(MarginModel::SortRole).toDouble(), expected);
        }
        model.clear();
        QCOMPARE(model.rowCount(), 0);
    }

    void piecesFromTokens_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QStringList>("tokens");
        QTest::addColumn<QStringList>("pieces");
        const QString bad = QString(QChar(0xFFFD));
        QTest::newRow("ascii + eos") << QStringLiteral("abc") << QStringList{"ab", "c", "<|eos|>"}
                                     << QStringList{"ab", "c", ""};
        QTest::newRow("split character") << QStringLiteral("xé y") << QStringList{"x", bad, bad, " ", "y"}
                                         << QStringList{"x", "é ", "y"};
        QTest::newRow("split at the end") << QStringLiteral("café") << QStringList{"caf", bad, bad}
                                          << QStringList{"caf", "é"};
        QTest::newRow("leading space dropped") << QStringLiteral(" Hello world") << QStringList{"Hello", " world", "</s>"}
                                               << QStringList{" Hello", " world", ""};
        QTest::newRow("empty text") << QString() << QStringList{"<|eos|>"} << QStringList{""};
    }
    void piecesFromTokens() {
        QFETCH(QString, text);
        QFETCH(QStringList, tokens);
        QFETCH(QStringList, pieces);
        eval::CompletionScore score;
        for (int i = 0; i < tokens.size(); ++i) {
            eval::TokenScore t;
            t.id = i;
            t.text = tokens[i].toStdString();
            t.logpPolicy = -0.25 * (i + 1);
            t.logpReference = -0.5 + 0.125 * i;
            score.logpPolicy += t.logpPolicy;
            score.logpReference += t.logpReference;
            score.perToken.push_back(t);
        }
        score.tokens = tokens.size();
        const ui::ScoredText s = ui::CompareEngine::fromScore(text.toStdString(), score);
        QStringList got;
        double sumP = 0, sumR = 0;
        for (size_t i = 0; i < s.pieces.size(); ++i) {
            got << QString::fromStdString(s.pieces[i]);
            sumP += s.policyPieceLogps[i];
            sumR += s.referencePieceLogps[i];
        }
        QCOMPARE(got, pieces);
        QCOMPARE(got.join(QString()), text);
        QVERIFY(std::abs(sumP - score.logpPolicy) < 1e-12);
        QVERIFY(std::abs(sumR - score.logpReference) < 1e-12);
    }

    // Not a check: renders the documentation's picture of the view on a demo project after a
    // demo run, when asked to through the environment.
    void screenshotForDocs() {
        const QString db = qEnvironmentVariable("DPOWB_COMPARE_SCREENSHOT_DB");
        const QString out = qEnvironmentVariable("DPOWB_COMPARE_SCREENSHOT");
        if (db.isEmpty() || out.isEmpty())
            QSKIP("set DPOWB_COMPARE_SCREENSHOT_DB (a project with a finished run) and DPOWB_COMPARE_SCREENSHOT (a .png) "
                  "to write the screenshot");
        CompareView view(db);
        view.resize(1480, 980);
        view.show();
        QVERIFY(view.models().runId > 0);
        if (const int pair = qEnvironmentVariableIntValue("DPOWB_COMPARE_SCREENSHOT_PAIR"); pair > 0) QVERIFY(view.showPair(pair));
        ui::SamplingSettings s;
        s.temperature = 0.7;
        s.topP = 0.95;
        s.maxNewTokens = 80;  // bytes for the tiny model: whole sentences
        s.seed = 3;
        s.samples = 3;
        view.setSettings(s);
        generateAndWait(view);
        QSignalSpy scored(&view, &CompareView::pairScored);
        QVERIFY(view.scoreCurrentPair());
        QVERIFY(scored.wait(300000));
        waitIdle(view);
        QTest::qWait(300);
        QVERIFY(view.grab().save(out));
    }

    void ratioColours() {
        QCOMPARE(CompareView::ratioColor(0.0), QColor(Qt::white));
        const QColor up = CompareView::ratioColor(1.0), down = CompareView::ratioColor(-1.0);
        QVERIFY(up.green() > up.red());
        QVERIFY(down.red() > down.green());
        // Stronger disagreement, stronger tint (further from white).
        QVERIFY(CompareView::ratioColor(2.0).lightness() < CompareView::ratioColor(0.2).lightness());
    }
};

QTEST_MAIN(TestCompareView)
#include "tst_compare_view.moc"
