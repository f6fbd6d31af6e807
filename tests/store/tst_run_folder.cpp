// Run folders belong to one project: the default folder is named after the project file,
// a folder says whose it is, and a folder that is not this run's is never written into or
// read as this run's without an explicit choice.
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "store/project.h"
#include "store/run_folder.h"

using namespace dpowb;
namespace fs = std::filesystem;

namespace {

void touch(const fs::path& p, const std::string& content = "x") {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
}

std::string errorOf(const store::OutputFolderCheck& c) {
    try {
        store::checkOutputFolder(c);
    } catch (const Error& e) {
        return e.what();
    }
    return {};
}

}  // namespace

class TestRunFolder : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    fs::path dir() const { return fs::path(tmp_.path().toStdString()); }

private Q_SLOTS:
    void defaultRunsRoot_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("root");
        QTest::newRow("project") << "/x/demo.db" << "/x/demo.runs";
        QTest::newRow("two dots") << "/x/my.project.db" << "/x/my.runs";
        QTest::newRow("data gz") << "/d/prefs.jsonl.gz" << "/d/prefs.runs";
        QTest::newRow("no extension") << "/x/proj" << "/x/proj.runs";
        QTest::newRow("relative") << "demo.db" << "demo.runs";
    }
    void defaultRunsRoot() {
        QFETCH(QString, file);
        QFETCH(QString, root);
        QCOMPARE(QString::fromStdString(store::defaultRunsRoot(file.toStdString())), root);
    }

    // Two projects side by side: their run 1 folders differ; a project made anew under the
    // name of a deleted one does not take over the old project's folder.
    void projectsNeverShareAFolder() {
        const auto a = (dir() / "demo.db").string(), b = (dir() / "other.db").string();
        auto pa = store::Project::create(a);
        auto pb = store::Project::create(b);
        const std::string ida = pa.projectId(), idb = pb.projectId();
        QCOMPARE(int(ida.size()), 32);
        QVERIFY(ida != idb);
        QCOMPARE(pa.projectId(), ida);  // stable
        const auto fa = store::defaultRunFolder(a, ida, 1), fb = store::defaultRunFolder(b, idb, 1);
        QVERIFY(fa != fb);
        QCOMPARE(QString::fromStdString(fa), QString::fromStdString((dir() / "demo.runs" / "1").string()));

        // demo.db's run 1 wrote its folder; a new demo.db (another project id) must not reuse it.
        fs::create_directories(fa);
        store::RunFolderMarker m{ida, a, 1, store::newRunFolderToken(), 0};
        store::writeRunFolderMarker(fa, m);
        touch(fs::path(fa) / "model.safetensors");
        QCOMPARE(store::defaultRunFolder(a, ida, 1), fa);  // its own: the same folder
        const std::string otherId(32, 'f');
        const auto taken = store::defaultRunFolder(a, otherId, 1);
        QVERIFY(taken != fa);
        QCOMPARE(QString::fromStdString(fs::path(taken).filename().string()), QString("1-ffffffff"));
    }

    void outputFolderCheck_data() {
        QTest::addColumn<QString>("setup");   // what the folder holds
        QTest::addColumn<bool>("overwrite");
        QTest::addColumn<int>("resuming");
        QTest::addColumn<QString>("expected");  // "" = allowed, else a part of the error
        QTest::newRow("missing") << "missing" << false << 0 << "";
        QTest::newRow("empty") << "empty" << false << 0 << "";
        QTest::newRow("foreign files") << "foreign" << false << 0 << "not made by a run of this project";
        QTest::newRow("foreign files, overwrite") << "foreign" << true << 0 << "";
        QTest::newRow("this project's run 3") << "own-3" << false << 0 << "run 3 of this project";
        QTest::newRow("resuming run 3") << "own-3" << false << 3 << "";
        QTest::newRow("resuming run 4 in run 3's") << "own-3" << false << 4 << "run 3 of this project";
        QTest::newRow("another project's run") << "other-3" << false << 3 << "another project";
        QTest::newRow("the base model") << "model" << false << 0 << "the base model's folder";
        QTest::newRow("the base model, overwrite") << "model" << true << 0 << "the base model's folder";
        QTest::newRow("the reference") << "reference" << true << 0 << "the reference's folder";
        QTest::newRow("a file") << "file" << false << 0 << "not a folder";
    }
    void outputFolderCheck() {
        QFETCH(QString, setup);
        QFETCH(bool, overwrite);
        QFETCH(int, resuming);
        QFETCH(QString, expected);
        const fs::path base = dir() / ("check-" + std::string(QTest::currentDataTag())).c_str();
        const fs::path model = base / "base-model", ref = base / "ref-model";
        touch(model / "config.json", "{}");
        touch(ref / "config.json", "{}");
        const std::string projectId(32, 'a');
        fs::path out = base / "out";
        if (setup == "empty") fs::create_directories(out);
        if (setup == "foreign") touch(out / "notes.txt");
        if (setup.startsWith("own-") || setup.startsWith("other-")) {
            fs::create_directories(out);
            store::RunFolderMarker m{setup.startsWith("own") ? projectId : std::string(32, 'b'), "/x/p.db",
                                     setup.mid(setup.indexOf('-') + 1).toLongLong(), "tok", 0};
            store::writeRunFolderMarker(out.string(), m);
            touch(out / "model.safetensors");
        }
        if (setup == "model") out = model / ".";  // the same folder, spelled differently
        if (setup == "reference") out = ref;
        if (setup == "file") touch(out);
        store::OutputFolderCheck c;
        c.out = out.string();
        c.modelFolder = model.string();
        c.referenceFolder = ref.string();
        c.projectId = projectId;
        c.resumingRunId = resuming;
        c.overwrite = overwrite;
        const QString error = QString::fromStdString(errorOf(c));
        if (expected.isEmpty()) QCOMPARE(error, QString());
        else QVERIFY2(error.contains(expected), qPrintable(error));
    }

    void builtinModelIsNoFolder() {
        store::OutputFolderCheck c;
        c.out = (dir() / "builtin-out").string();
        c.modelFolder = "builtin:tiny";
        QCOMPARE(QString::fromStdString(errorOf(c)), QString());
    }

    void runFolderProblem_data() {
        QTest::addColumn<QString>("marker");  // none | same | other-token | other-project
        QTest::addColumn<QString>("expected");
        QTest::newRow("its own") << "same" << "";
        QTest::newRow("marker gone") << "none" << "marker";
        QTest::newRow("another run wrote over it") << "other-token" << "run 7 of this project";
        QTest::newRow("another project wrote over it") << "other-project" << "another project (/elsewhere/other.db)";
    }
    void runFolderProblem() {
        QFETCH(QString, marker);
        QFETCH(QString, expected);
        const fs::path out = dir() / ("problem-" + std::string(QTest::currentDataTag())).c_str();
        fs::create_directories(out);
        const std::string pid(32, 'c');
        if (marker == "same") store::writeRunFolderMarker(out.string(), {pid, "/p.db", 2, "tok-2", 0});
        if (marker == "other-token") store::writeRunFolderMarker(out.string(), {pid, "/p.db", 7, "tok-7", 0});
        if (marker == "other-project")
            store::writeRunFolderMarker(out.string(), {std::string(32, 'd'), "/elsewhere/other.db", 2, "tok-x", 0});
        const QString problem = QString::fromStdString(store::runFolderProblem(out.string(), pid, 2, "tok-2"));
        if (expected.isEmpty()) QCOMPARE(problem, QString());
        else QVERIFY2(problem.contains(expected), qPrintable(problem));
        // Runs recorded before markers existed carry no token: nothing to check.
        QCOMPARE(QString::fromStdString(store::runFolderProblem(out.string(), pid, 2, "")), QString());
    }
};

QTEST_GUILESS_MAIN(TestRunFolder)
#include "tst_run_folder.moc"
