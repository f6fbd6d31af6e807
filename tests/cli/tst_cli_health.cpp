// Training-health warnings of `dpowb train` through the real binary, on the demo: the default
// demo (SFT warm-up, DPO with the NLL term) fires none; plain DPO (--rpo-alpha 0) pushes both
// responses down and fires "likelihood displacement" once, printed with what to try, written to
// --metrics and stored with the run. (The detectors themselves: tests/train/tst_health.cpp.)
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "store/formats.h"
#include "store/project.h"

using namespace dpowb;
using json = nlohmann::json;

namespace {

// How long one demo run may take before it counts as a hang (not a speed requirement: the
// demo takes about a minute on an idle 2-core machine, many more on a busy one).
constexpr int kWaitMs = 1500000;

struct Result {
    int code = -1;
    QByteArray out, err;
};

Result trainCli(const QStringList& args) {
    QProcess p;
    p.start(DPOWB_CLI, QStringList{"train"} + args);
    Result r;
    if (!p.waitForFinished(kWaitMs)) {
        p.kill();
        p.waitForFinished();
        r.err = "timed out";
        return r;
    }
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

}  // namespace

class TestCliHealth : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void demo_data();
    void demo();
};

void TestCliHealth::demo_data() {
    QTest::addColumn<QStringList>("options");
    QTest::addColumn<QString>("expected");  // a kind that must fire; "" = none may fire
    // The whole default demo: a healthy run.
    QTest::newRow("default demo: no warning") << QStringList{} << QString();
    // Plain DPO pushes both responses down (README, "The demo"); it shows by step 30, so the
    // run stops at 40 steps instead of 125. (Without the SFT warm-up it does not happen.)
    QTest::newRow("--rpo-alpha 0: likelihood displacement")
        << QStringList{"--rpo-alpha", "0", "--max-steps", "40"} << QString("likelihood_displacement");
}

void TestCliHealth::demo() {
    QFETCH(QStringList, options);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const std::string db = dir.filePath("demo.db").toStdString();
    {
        auto p = store::Project::create(db);
        store::addDemoPairs(p);
    }
    const QString metrics = dir.filePath("m.jsonl");
    Result r = trainCli(QStringList{"--db", QString::fromStdString(db), "--model", "builtin:tiny", "--metrics", metrics} +
                        options);
    QVERIFY2(r.code == 0, r.err.constData());
    const json result = json::parse(r.out.toStdString());
    const auto fired = result.at("health_warnings").get<std::vector<std::string>>();
    // The metrics file has one line per warning, the project one row per warning.
    std::vector<std::string> inFile;
    std::ifstream in(metrics.toStdString());
    std::string line;
    while (std::getline(in, line)) {
        const json j = json::parse(line);
        if (!j.contains("health_warning")) continue;
        inFile.push_back(j["health_warning"].get<std::string>());
        QVERIFY(j.contains("step") && !j["message"].get<std::string>().empty());
    }
    auto p = store::Project::open(db);
    std::vector<std::string> stored;
    for (const auto& w : p.healthWarnings(result.at("run_id").get<int64_t>())) stored.push_back(w.code);
    QCOMPARE(inFile, fired);
    QCOMPARE(stored, fired);
    if (expected.isEmpty()) {
        QVERIFY2(fired.empty(), r.err.constData());
        QVERIFY(!r.err.contains("warning: health:"));
        return;
    }
    QVERIFY2(std::count(fired.begin(), fired.end(), expected.toStdString()) == 1, r.err.constData());
    // Printed once, when it fired, with what to try.
    QCOMPARE(r.err.count("[" + expected.toUtf8() + "]"), qsizetype(1));
    QVERIFY(r.err.contains("--rpo-alpha 1"));
}

int main(int argc, char** argv) {
    // Each demo run may take longer than QtTest's default five minutes per test function on a
    // busy machine.
    if (qEnvironmentVariableIsEmpty("QTEST_FUNCTION_TIMEOUT")) qputenv("QTEST_FUNCTION_TIMEOUT", "3000000");
    QCoreApplication app(argc, argv);
    TestCliHealth t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_cli_health.moc"
