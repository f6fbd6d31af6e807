// Outputs never destroy inputs (issue 12 point 5): `dpowb export` onto the project file, a hard
// or symbolic link to it, another SQLite file, a folder or a pipe is refused and both files stay
// as they were; a symbolic link is written through; `-` streams to standard output.
// (train --out is tested in tst_cli_train.)
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <QCryptographicHash>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include "store/formats.h"
#include "store/project.h"

namespace store = dpowb::store;

namespace {

struct Result {
    int code = -1;
    QByteArray out, err;
};

Result runCli(const QStringList& args, const QString& workDir = {}) {
    QProcess p;
    if (!workDir.isEmpty()) p.setWorkingDirectory(workDir);
    p.start(QStringLiteral(DPOWB_CLI), args);
    Result r;
    if (!p.waitForFinished(60000)) {
        p.kill();
        r.err = "timed out";
        return r;
    }
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

QByteArray readAll(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return {};
    return f.readAll();
}

QByteArray digest(const QString& path) { return QCryptographicHash::hash(readAll(path), QCryptographicHash::Sha256); }

}  // namespace

class TestCliOutputs : public QObject {
    Q_OBJECT

private:
    QTemporaryDir dir_;
    QString db_;
    QString path(const QString& name) { return dir_.filePath(name); }

private Q_SLOTS:
    void initTestCase();
    void exportRefusesInputs_data();
    void exportRefusesInputs();
    void exportWritesThroughSymlink();
    void exportDashIsStandardOutput();
};

void TestCliOutputs::initTestCase() {
    QVERIFY(dir_.isValid());
    db_ = path("h.db");
    auto p = store::Project::create(db_.toStdString());
    store::addDemoPairs(p);
}

void TestCliOutputs::exportRefusesInputs_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("expected");  // words of the one-line reason
    QTest::newRow("the project file") << "self" << "the project file";
    QTest::newRow("a hard link to it") << "hardlink" << "the project file";
    QTest::newRow("a symlink to it") << "symlink" << "the project file";
    QTest::newRow("another project") << "sqlite" << "SQLite database";
    QTest::newRow("a folder") << "folder" << "a folder";
    QTest::newRow("a pipe") << "fifo" << "a pipe";
    QTest::newRow("a dangling symlink") << "dangling" << "does not exist";
}

void TestCliOutputs::exportRefusesInputs() {
    QFETCH(QString, kind);
    QFETCH(QString, expected);
    QString target;
    if (kind == "self") {
        target = db_;
    } else if (kind == "hardlink") {
        target = path("hard.jsonl");
        QFile::remove(target);
        QCOMPARE(::link(db_.toLocal8Bit().constData(), target.toLocal8Bit().constData()), 0);
    } else if (kind == "symlink") {
        target = path("export.jsonl");
        QFile::remove(target);
        QVERIFY(QFile::link(db_, target));
    } else if (kind == "sqlite") {
        target = path("other.jsonl");  // a project under a misleading name
        if (!QFile::exists(target)) store::Project::create(target.toStdString());
    } else if (kind == "folder") {
        target = path("folder");
        QVERIFY(QDir().mkpath(target));
    } else if (kind == "fifo") {
        target = path("fifo");
        QFile::remove(target);
        QCOMPARE(::mkfifo(target.toLocal8Bit().constData(), 0600), 0);
    } else if (kind == "dangling") {
        target = path("dangling.jsonl");
        QFile::remove(target);
        QVERIFY(QFile::link(path("nowhere/missing.jsonl"), target));
    }
    const QByteArray dbBefore = digest(db_);
    const QFileInfo targetBefore(target);
    const QByteArray targetDigest = targetBefore.isFile() ? digest(target) : QByteArray();

    Result r = runCli({"export", db_, target, "--format", "pairs"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains(expected.toUtf8()), r.err.constData());
    QCOMPARE(r.err.count('\n'), 1);  // one line, saying what to do
    QVERIFY(r.err.contains("xport to"));
    QVERIFY(r.out.isEmpty());

    QCOMPARE(digest(db_), dbBefore);  // the project is untouched and still a project
    Result stats = runCli({"stats", db_});
    QVERIFY2(stats.code == 0, stats.err.constData());
    const QFileInfo targetAfter(target);
    QCOMPARE(targetAfter.isSymLink(), targetBefore.isSymLink());
    QCOMPARE(targetAfter.isDir(), targetBefore.isDir());
    if (targetBefore.isFile()) QCOMPARE(digest(target), targetDigest);
    // No temporary is left beside the target.
    const QStringList leftovers = QDir(dir_.path()).entryList({"*.tmp-*"}, QDir::Files | QDir::Hidden);
    QVERIFY2(leftovers.isEmpty(), qPrintable(leftovers.join(", ")));
}

void TestCliOutputs::exportWritesThroughSymlink() {
    const QString plain = path("plain.jsonl"), real = path("real.jsonl"), link = path("link.jsonl");
    QCOMPARE(runCli({"export", db_, plain}).code, 0);
    {
        QFile f(real);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("old contents\n");
    }
    QFile::remove(link);
    QVERIFY(QFile::link(real, link));
    Result r = runCli({"export", db_, link});
    QVERIFY2(r.code == 0, r.err.constData());
    QVERIFY(QFileInfo(link).isSymLink());  // the link stays a link ...
    QCOMPARE(QFileInfo(link).symLinkTarget(), QFileInfo(real).absoluteFilePath());
    QCOMPARE(readAll(real), readAll(plain));  // ... and its target holds the export
    QVERIFY(readAll(plain).count('\n') > 1000);
}

void TestCliOutputs::exportDashIsStandardOutput() {
    const QString file = path("file.jsonl");
    QCOMPARE(runCli({"export", db_, file, "--format", "pairs"}).code, 0);
    QTemporaryDir work;
    Result r = runCli({"export", db_, "-", "--format", "pairs"}, work.path());
    QVERIFY2(r.code == 0, r.err.constData());
    QCOMPARE(r.out, readAll(file));  // the same bytes, on stdout
    QVERIFY(r.err.contains("standard output"));
    QVERIFY(!QFile::exists(work.filePath("-")));  // no file named "-"
    QVERIFY(QDir(work.path()).entryList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden).isEmpty());
}

QTEST_GUILESS_MAIN(TestCliOutputs)
#include "tst_cli_outputs.moc"
