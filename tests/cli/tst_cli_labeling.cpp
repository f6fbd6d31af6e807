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

QTEST_APPLESS_MAIN(TestCliLabeling)
#include "tst_cli_labeling.moc"
