// `dpowb stats` with labeling analytics, through the real binary: two annotators label 50 pairs
// as in the grant-proposal example of Cohen's κ (κ = 0.4, tests/store/tst_analytics.cpp), one of
// them always picks the left side; --json carries the figures and the disagreements, the text
// output says the position-bias warning and the agreement.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <nlohmann/json.hpp>

#include "store/project.h"

#include "../common/cli_run.h"

using namespace dpowb;
using json = nlohmann::json;

namespace {

using Result = test::CliResult;

Result cli(const QStringList& args) { return test::runCli(args); }

}  // namespace

class TestCliLabeling : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void statsWithAgreement();
    void statsWithoutLabels();
    void annotatorsAndAdjudication();

private:
    QTemporaryDir dir_;
};

void TestCliLabeling::statsWithAgreement() {
    const std::string db = dir_.filePath("two.dpowb").toStdString();
    {
        auto p = store::Project::create(db);
        // Rows of (ann, bo) verdicts: 20 (a, a), 5 (a, b), 10 (b, a), 15 (b, b).
        for (int i = 0; i < 50; ++i) {
            store::Pair pair;
            pair.prompt = "prompt " + std::to_string(i);
            pair.responseA = "A " + std::to_string(i);
            pair.responseB = "B " + std::to_string(i);
            const int64_t id = p.addPair(pair);
            const bool annA = i < 25, boA = i < 20 || (i >= 25 && i < 35);
            // ann sees each pair's chosen response on the left: always "left better".
            const store::Verdict va = annA ? store::Verdict::A : store::Verdict::B;
            p.label(id, va, store::LabelOptions{1, "", "ann", annA ? 'a' : 'b'});
            p.label(id, boA ? store::Verdict::A : store::Verdict::B, store::LabelOptions{1, "", "bo", i % 2 ? 'a' : 'b'});
        }
    }
    Result r = cli({"stats", QString::fromStdString(db), "--json"});
    QVERIFY2(r.code == 0, r.err.constData());
    const json j = json::parse(r.out.toStdString()).at("labeling");
    const json& agreement = j.at("agreement");
    QCOMPARE(agreement.at("raters"), json::array({"ann", "bo"}));
    QCOMPARE(agreement.at("pairs_with_several").get<int>(), 50);
    QVERIFY(std::fabs(agreement.at("cohen_kappa").get<double>() - 0.4) < 1e-12);
    QVERIFY(std::fabs(agreement.at("krippendorff_alpha").get<double>() - 0.4) < 1e-12);
    QCOMPARE(agreement.at("disagreements").size(), size_t(15));
    QCOMPARE(agreement.at("disagreements")[0].at("verdicts"), (json{{"ann", "a"}, {"bo", "b"}}));
    // ann: 50 of 50 on the left; bo: alternate sides.
    const json& annotators = j.at("annotators");
    QCOMPARE(annotators.size(), size_t(2));
    QCOMPARE(annotators[0].at("annotator").get<std::string>(), std::string("ann"));
    QCOMPARE(annotators[0].at("left_better").at("k").get<int>(), 50);
    QCOMPARE(annotators[0].at("a").get<int>(), 25);
    QCOMPARE(annotators[1].at("a").get<int>(), 30);
    QCOMPARE(j.at("left_better").at("n").get<int>(), 100);
    const double share = j.at("left_better").at("share").get<double>();
    QVERIFY(share > 0.6);
    QVERIFY(j.at("left_better").at("warning").get<bool>());
    QVERIFY(j.at("left_better").at("ci95_low").get<double>() < share);

    r = cli({"stats", QString::fromStdString(db)});
    QVERIFY2(r.code == 0, r.err.constData());
    QVERIFY2(r.out.contains("warning: position bias:"), r.out.constData());
    QVERIFY(r.out.contains("Cohen's kappa 0.400 (50 pairs)"));
    QVERIFY(r.out.contains("15 disagreements"));
    QVERIFY(r.out.contains("annotator ann: 50 labels (a 25, b 25"));
}

void TestCliLabeling::statsWithoutLabels() {
    const std::string db = dir_.filePath("none.dpowb").toStdString();
    store::Project::create(db);
    Result r = cli({"stats", QString::fromStdString(db), "--json"});
    QVERIFY2(r.code == 0, r.err.constData());
    const json j = json::parse(r.out.toStdString()).at("labeling");
    QVERIFY(j.at("left_better").at("share").is_null());  // undefined, not 0
    QVERIFY(j.at("agreement").at("cohen_kappa").is_null());
    QVERIFY(j.at("annotators").empty());
    r = cli({"stats", QString::fromStdString(db)});
    QVERIFY(r.out.contains("position bias: no a/b labels"));
}

// Several annotators through the CLI: annotation-mode, label --annotator, the disagreements in
// stats (text and JSON), adjudicate (and its undo), list --verdict unresolved / --annotator.
void TestCliLabeling::annotatorsAndAdjudication() {
    const std::string path = dir_.filePath("multi.dpowb").toStdString();
    {
        auto p = store::Project::create(path);
        for (int i = 0; i < 3; ++i) {
            store::Pair pair;
            pair.prompt = "prompt " + std::to_string(i);
            pair.responseA = "A " + std::to_string(i);
            pair.responseB = "B " + std::to_string(i);
            p.addPair(pair);
        }
    }
    const QString db = QString::fromStdString(path);
    Result r = cli({"annotation-mode", db, "blind"});
    QVERIFY2(r.code == 0, r.err.constData());
    QCOMPARE(cli({"annotation-mode", db, "show"}).out, QByteArray("blind\n"));
    QCOMPARE(cli({"annotation-mode", db, "council"}).code, 2);
    auto label = [&](const char* pair, const char* verdict, const char* who) {
        Result l = cli({"label", db, pair, verdict, "--annotator", who});
        if (l.code != 0) qWarning("%s", l.err.constData());
        return l;
    };
    QCOMPARE(label("1", "a", "alice").out, QByteArray("1 a\n"));
    label("1", "b", "bob");
    label("2", "a", "alice");
    label("2", "a", "bob");
    label("2", "b", "carol");

    r = cli({"stats", db, "--json"});
    QVERIFY2(r.code == 0, r.err.constData());
    json j = json::parse(r.out.toStdString());
    QCOMPARE(j.at("annotation_mode").get<std::string>(), std::string("blind"));
    QCOMPARE(j.at("unresolved").get<int>(), 1);
    QCOMPARE(j.at("labelled").get<int>(), 1);
    json dis = j.at("labeling").at("agreement").at("disagreements");
    QCOMPARE(dis.size(), size_t(2));
    QCOMPARE(dis[0].at("pair_id").get<int>(), 1);
    QCOMPARE(dis[0].at("verdicts"), (json{{"alice", "a"}, {"bob", "b"}}));
    QVERIFY(dis[0].at("verdict").is_null());
    QVERIFY(dis[0].at("adjudicated").is_null());
    QCOMPARE(dis[1].at("verdict").get<std::string>(), std::string("a"));  // two of three
    r = cli({"stats", db});
    QVERIFY2(r.out.contains("2 disagreements, 2 not adjudicated"), r.out.constData());
    QVERIFY2(r.out.contains("pair 1: alice=a bob=b; training verdict none (unresolved)"), r.out.constData());
    QVERIFY2(r.out.contains("unresolved  1"), r.out.constData());

    r = cli({"list", db, "--verdict", "unresolved"});
    QVERIFY2(r.code == 0, r.err.constData());
    QVERIFY(r.out.startsWith("1\t"));
    QCOMPARE(r.out.count('\n'), 1);
    r = cli({"list", db, "--verdict", "unlabelled", "--annotator", "carol"});
    QCOMPARE(r.out.count('\n'), 2);  // pairs 1 and 3
    QVERIFY(r.out.startsWith("1\t") && r.out.contains("\n3\t"));

    QCOMPARE(cli({"adjudicate", db, "1", "skip"}).code, 2);
    r = cli({"adjudicate", db, "1", "b", "--adjudicator", "judge"});
    QVERIFY2(r.code == 0, r.err.constData());
    QCOMPARE(r.out, QByteArray("1 b\n"));
    j = json::parse(cli({"stats", db, "--json"}).out.toStdString());
    QCOMPARE(j.at("unresolved").get<int>(), 0);
    dis = j.at("labeling").at("agreement").at("disagreements");
    QCOMPARE(dis[0].at("adjudicated").get<std::string>(), std::string("b"));
    QCOMPARE(dis[0].at("verdict").get<std::string>(), std::string("b"));
    QCOMPARE(j.at("labeling").at("agreement").at("raters"), json::array({"alice", "bob", "carol"}));
    QCOMPARE(cli({"adjudicate", db, "1", "undo"}).out, QByteArray("1 unresolved\n"));
    QCOMPARE(cli({"adjudicate", db, "1", "undo"}).code, 1);  // nothing left to undo

    // Blind mode: undo prints what stands of one's own, not the pair's verdict.
    QCOMPARE(label("2", "undo", "carol").out, QByteArray("2 unlabelled\n"));
    r = cli({"label", db, "3", "undo", "--annotator", "carol"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("no label to undo by carol"), r.err.constData());
}

QTEST_APPLESS_MAIN(TestCliLabeling)
#include "tst_cli_labeling.moc"
