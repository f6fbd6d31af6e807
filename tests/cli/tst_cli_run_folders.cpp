// Run folders through the real binary: two projects in one folder never share a run folder;
// --out never names the base model's folder or a foreign non-empty folder without
// --overwrite-output-dir; a run whose folder another project wrote over is refused by the
// commands that pair its policy with its reference; train and test prompts that overlap are
// reported by `stats` and warned about by `train`.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "store/formats.h"
#include "store/project.h"
#include "store/run_folder.h"

using namespace dpowb;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Result {
    int code = -1;
    QByteArray out, err;
};

Result runCli(const QStringList& args) {
    QProcess p;
    p.start(DPOWB_CLI, args);
    Result r;
    if (!p.waitForFinished(300000)) return r;
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

// A small labelled project: 12 train pairs, 4 test pairs (2 of their prompts also in train).
std::string makeProject(const QString& path) {
    auto p = store::Project::create(path.toStdString());
    for (int i = 0; i < 16; ++i) {
        store::Pair pair;
        const bool test = i >= 12;
        pair.prompt = "Review " + std::to_string(test && i < 14 ? i - 12 : i) + ": it was";
        pair.responseA = " great fun " + std::to_string(i);
        pair.responseB = " a dull mess " + std::to_string(i);
        pair.split = test ? "test" : "train";
        pair.verdict = store::Verdict::A;
        p.addPair(pair);
    }
    return path.toStdString();
}

// Fast training options: no warm-up, two steps.
QStringList quick() {
    return {"--model", "builtin:tiny", "--sft-epochs", "0", "--max-steps", "2", "--batch-size", "2",
            "--device", "cpu", "--seed", "1"};
}

int64_t runCount(const QString& db) { return int64_t(store::Project::open(db.toStdString()).runs().size()); }

}  // namespace

class TestCliRunFolders : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString demo_, other_;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        demo_ = tmp_.filePath("demo.db");
        other_ = tmp_.filePath("other.db");
        makeProject(demo_);
        makeProject(other_);
    }

    void twoProjectsSideBySide() {
        auto a = runCli(QStringList{"train", "--db", demo_} + quick());
        QVERIFY2(a.code == 0, a.err.constData());
        auto b = runCli(QStringList{"train", "--db", other_} + quick());
        QVERIFY2(b.code == 0, b.err.constData());
        auto ra = store::Project::open(demo_.toStdString()).run(1);
        auto rb = store::Project::open(other_.toStdString()).run(1);
        QVERIFY(ra && rb);
        QCOMPARE(QString::fromStdString(ra->outputDir), tmp_.filePath("demo.runs/1"));
        QCOMPARE(QString::fromStdString(rb->outputDir), tmp_.filePath("other.runs/1"));
        for (const auto& [run, db] : {std::pair{*ra, demo_}, std::pair{*rb, other_}}) {
            auto marker = store::readRunFolderMarker(run.outputDir);
            QVERIFY(marker);
            QCOMPARE(marker->projectId, store::Project::open(db.toStdString()).projectId());
            QCOMPARE(marker->runId, int64_t(1));
            QVERIFY(fs::exists(fs::path(run.outputDir) / "model.safetensors"));
        }
    }

    void outRefusals_data() {
        QTest::addColumn<QString>("out");         // relative to the temp dir; "MODEL" = the base model's folder
        QTest::addColumn<bool>("overwrite");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("message");
        QTest::newRow("the base model's folder") << "MODEL" << false << 1 << "the base model's folder";
        QTest::newRow("the base model's folder, overwrite") << "MODEL" << true << 1 << "the base model's folder";
        QTest::newRow("a foreign non-empty folder") << "notes" << false << 1 << "--overwrite-output-dir";
        QTest::newRow("another project's run") << "other.runs/1" << false << 1 << "another project";
        QTest::newRow("a foreign folder, overwrite") << "notes-ok" << true << 0 << "";
        QTest::newRow("a new folder") << "fresh/out" << false << 0 << "";
    }
    void outRefusals() {
        QFETCH(QString, out);
        QFETCH(bool, overwrite);
        QFETCH(int, code);
        QFETCH(QString, message);
        const QString model = tmp_.filePath("demo.runs/1");  // run 1's policy, a model folder
        QString target = out == "MODEL" ? model : tmp_.filePath(out);
        if (out.startsWith("notes")) {
            fs::create_directories(target.toStdString());
            std::ofstream(target.toStdString() + "/notes.txt") << "mine";
        }
        const auto modelBytes = fs::file_size(model.toStdString() + "/model.safetensors");
        const int64_t runsBefore = runCount(demo_);
        QStringList args{"train", "--db", demo_, "--model", model, "--out", target, "--sft-epochs", "0", "--max-steps", "1",
                         "--batch-size", "2", "--device", "cpu"};
        if (overwrite) args << "--overwrite-output-dir";
        auto r = runCli(args);
        QVERIFY2(r.code == code, r.err.constData());
        if (code != 0) {
            QVERIFY2(r.err.contains(message.toUtf8()), r.err.constData());
            QCOMPARE(runCount(demo_), runsBefore);  // refused before anything was recorded
        } else {
            QCOMPARE(runCount(demo_), runsBefore + 1);
        }
        // The base model is untouched either way; the user's own file too.
        QCOMPARE(fs::file_size(model.toStdString() + "/model.safetensors"), modelBytes);
        QVERIFY(fs::exists(model.toStdString() + "/config.json"));
        if (out.startsWith("notes")) QVERIFY(fs::exists(target.toStdString() + "/notes.txt"));
    }

    // other.db's run written into demo.db's run 1 folder (an explicit choice): demo.db's run 1
    // no longer has its own policy/reference, and score-pairs says so instead of comparing.
    void foreignWriteIsNoticed() {
        auto ok = runCli({"score-pairs", demo_, "--run", "1", "--split", "test", "--device", "cpu"});
        QVERIFY2(ok.code == 0, ok.err.constData());
        auto w = runCli(QStringList{"train", "--db", other_, "--out", tmp_.filePath("demo.runs/1"), "--overwrite-output-dir"} +
                        quick());
        QVERIFY2(w.code == 0, w.err.constData());
        auto r = runCli({"score-pairs", demo_, "--run", "1", "--split", "test", "--device", "cpu"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("written over by a run of another project"), r.err.constData());
    }

    void splitOverlapIsReported() {
        auto s = runCli({"stats", demo_, "--json"});
        QVERIFY2(s.code == 0, s.err.constData());
        const json j = json::parse(s.out.toStdString());
        // Computed from the inputs: test pairs 12 and 13 reuse the prompts of train pairs 0 and 1.
        QCOMPARE(j.at("prompts_in_both_splits").get<int>(), 2);
        auto t = runCli(QStringList{"train", "--db", demo_} + quick());
        QVERIFY2(t.code == 0, t.err.constData());
        QVERIFY2(t.err.contains("2 of the evaluation prompts also appear in training pairs"), t.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestCliRunFolders)
#include "tst_cli_run_folders.moc"
