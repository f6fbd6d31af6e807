// The GUI's connection to the project file and other processes on the same file.
//
// POSIX record locks belong to a process: when anything in the GUI process opens and closes
// the project file or its -shm outside SQLite, the kernel drops every lock the GUI holds on
// it, and a CLI process then takes the project for unused, checkpoints it and (before the
// fix) deleted the -wal/-shm the GUI still had mapped. The GUI's later writes went into an
// unlinked WAL: corrupt indexes, lost labels. These tests hold the project open the way the
// GUI does (ui::ProjectContext), open the GUI's file dialogs on the project's folder (or open
// and close the files the way Qt's MIME sniffing did), while the real `dpowb` CLI reads and
// writes the project; afterwards the file passes integrity_check and every write of both
// processes is there.
#include <QAbstractItemModel>
#include <QFile>
#include <QFileDialog>
#include <QFileSystemModel>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <SQLiteCpp/SQLiteCpp.h>

#include "file_dialogs.h"
#include "project_context.h"
#include "store/project.h"

using namespace dpowb;

namespace {

constexpr int kPairs = 12;

store::Pair makePair(int i) {
    store::Pair p;
    p.prompt = "Prompt number " + std::to_string(i);
    p.responseA = "first answer " + std::to_string(i);
    p.responseB = "second answer " + std::to_string(i);
    return p;
}

// Runs the real CLI; returns its exit code (stdout in *out).
int cli(const QStringList& args, QByteArray* out = nullptr) {
    QProcess p;
    p.start(QStringLiteral(DPOWB_CLI), args);
    if (!p.waitForFinished(60000)) return -1;
    if (out) *out = p.readAllStandardOutput();
    return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
}

// Every file the dialog's model lists, with the columns that ask the icon provider (icon,
// type name) fetched, so that whatever Qt does to describe a file has been done.
void describeEveryEntry(QFileDialog* dialog, const QString& dir) {
    auto* model = dialog->findChild<QFileSystemModel*>();
    QVERIFY(model);
    const QModelIndex root = model->index(dir);
    QTRY_VERIFY_WITH_TIMEOUT(model->rowCount(root) >= 3, 10000);  // project, -wal, -shm at least
    for (int row = 0; row < model->rowCount(root); ++row) {
        const QModelIndex name = model->index(row, 0, root);
        model->data(name, Qt::DecorationRole);
        model->data(model->index(row, 2, root), Qt::DisplayRole);  // "Type": QFileSystemModel asks type()
        model->fileIcon(name);
    }
    // The extended information is gathered on Qt's file-info thread: wait until every row has
    // a type name, which it only gets after the provider described the file.
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            for (int row = 0; row < model->rowCount(root); ++row)
                if (model->data(model->index(row, 2, root), Qt::DisplayRole).toString().isEmpty()) return false;
            return true;
        }(),
        10000);
}

}  // namespace

class TestProjectSafety : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    QString path_;

    void makeProject() {
        path_ = dir_.filePath(QStringLiteral("exp-%1-%2.db")
                                  .arg(QString::fromLatin1(QTest::currentTestFunction()), QString::fromLatin1(QTest::currentDataTag()))
                                  .replace(' ', '-'));
        auto project = store::Project::create(path_.toStdString());
        for (int i = 0; i < kPairs; ++i) project.addPair(makePair(i));
    }

    static std::optional<store::Verdict> verdictOf(const QString& path, int64_t id) {
        auto project = store::Project::open(path.toStdString());
        auto pair = project.pair(id);
        return pair ? pair->verdict : std::nullopt;
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(dir_.isValid()); }

    void connectionSeesItsOwnLocks() {
        makeProject();
        auto project = store::Project::open(path_.toStdString());
        QCOMPARE(QString::fromStdString(project.connectionProblem()), QString());
        // A second connection in the same process shares SQLite's per-inode lock state: still fine.
        auto second = store::Project::open(path_.toStdString());
        QCOMPARE(QString::fromStdString(project.connectionProblem()), QString());
        QCOMPARE(QString::fromStdString(second.connectionProblem()), QString());
    }

    // What the GUI process does to the project's files while it has the project open, and
    // whether the connection survives it: the file dialogs must not touch the files at all; a
    // foreign open/close (what Qt's MIME sniffing did) must be noticed and repaired.
    void guiAndCliOnOneFile_data() {
        QTest::addColumn<QString>("action");
        QTest::addColumn<bool>("dropsLocks");
        QTest::newRow("open dialog") << "open-dialog" << false;
        QTest::newRow("save dialog") << "save-dialog" << false;
        QTest::newRow("folder dialog") << "folder-dialog" << false;
        QTest::newRow("foreign open of db") << "touch-db" << true;
        QTest::newRow("foreign open of shm") << "touch-shm" << true;
        QTest::newRow("foreign open of wal") << "touch-wal" << true;
    }
    void guiAndCliOnOneFile() {
        QFETCH(QString, action);
        QFETCH(bool, dropsLocks);
        makeProject();

        ui::ProjectContext context;
        context.setPollInterval(60 * 60 * 1000);  // the test decides when to check
        context.open(path_);
        QCOMPARE(QString::fromStdString(context.project().connectionProblem()), QString());
        // The GUI labels pair 1 before anything happens.
        context.project().label(1, store::Verdict::A);

        if (action.endsWith("-dialog")) {
            const QString dir = QFileInfo(path_).absolutePath();
            std::unique_ptr<QFileDialog> dialog(
                ui::dialogs::create(nullptr, QStringLiteral("Export"), dir, QStringLiteral("All files (*)")));
            if (action == "save-dialog") dialog->setAcceptMode(QFileDialog::AcceptSave);
            if (action == "folder-dialog") dialog->setFileMode(QFileDialog::Directory);
            dialog->selectFile(path_);
            dialog->show();
            describeEveryEntry(dialog.get(), dir);
            dialog->reject();
        } else {
            // Exactly what a content sniffer does: open, read the first bytes, close.
            const QString suffix = action == "touch-shm" ? "-shm" : action == "touch-wal" ? "-wal" : "";
            QFile f(path_ + suffix);
            QVERIFY(f.exists());
            QVERIFY(f.open(QIODevice::ReadOnly));
            f.read(64);
            f.close();
        }

        const QString problem = QString::fromStdString(context.project().connectionProblem());
        if (action == "touch-wal") {
            // SQLite holds no lock on the -wal itself: closing it is harmless.
            QCOMPARE(problem, QString());
        } else {
            QCOMPARE(!problem.isEmpty(), dropsLocks);
        }
        QSignalSpy reconnected(&context, &ui::ProjectContext::reconnected);
        context.checkExternalChanges();  // what the GUI's timer does every second
        QCOMPARE(reconnected.count(), problem.isEmpty() ? 0 : 1);
        QCOMPARE(QString::fromStdString(context.project().connectionProblem()), QString());

        // Another process reads (stats: opens and closes — before the fix this checkpointed
        // and deleted the -wal/-shm) and writes.
        QByteArray out;
        QCOMPARE(cli({"stats", path_, "--json"}, &out), 0);
        QVERIFY(out.contains("\"pairs\""));
        QCOMPARE(cli({"label", path_, "2", "b"}), 0);
        // The GUI goes on labelling, then closes; the CLI labels once more.
        context.project().label(3, store::Verdict::Tie);
        QCOMPARE(cli({"label", path_, "4", "a"}), 0);
        context.project().label(5, store::Verdict::B);
        context.close();

        {
            SQLite::Database db(path_.toStdString(), SQLite::OPEN_READONLY);
            QCOMPARE(QString::fromStdString(db.execAndGet("PRAGMA integrity_check").getString()), QString("ok"));
            QCOMPARE(db.execAndGet("SELECT count(*) FROM pairs").getInt(), kPairs);
            QCOMPARE(db.execAndGet("SELECT max(id) FROM pairs").getInt(), kPairs);
        }
        QCOMPARE(verdictOf(path_, 1), std::optional(store::Verdict::A));
        QCOMPARE(verdictOf(path_, 2), std::optional(store::Verdict::B));
        QCOMPARE(verdictOf(path_, 3), std::optional(store::Verdict::Tie));
        QCOMPARE(verdictOf(path_, 4), std::optional(store::Verdict::A));
        QCOMPARE(verdictOf(path_, 5), std::optional(store::Verdict::B));
        QCOMPARE(verdictOf(path_, 6), std::optional<store::Verdict>());
    }

    // The file replaced under the GUI (restored from a backup, say): noticed, reopened, and
    // what is shown comes from the new file; nothing of the old connection is written back.
    void replacedFileIsReopened() {
        makeProject();
        ui::ProjectContext context;
        context.setPollInterval(60 * 60 * 1000);
        context.open(path_);
        context.project().label(1, store::Verdict::A);
        const QString copy = path_ + ".copy";
        QVERIFY(QFile::copy(path_, copy));  // a copy without pair 1's label (it is in the -wal)
        QVERIFY(QFile::remove(path_));
        QVERIFY(QFile::rename(copy, path_));
        QVERIFY(!QString::fromStdString(context.project().connectionProblem()).isEmpty());
        QSignalSpy reconnected(&context, &ui::ProjectContext::reconnected);
        context.checkExternalChanges();
        QCOMPARE(reconnected.count(), 1);
        QCOMPARE(context.reconnects(), 1);
        context.project().label(2, store::Verdict::B);
        context.close();
        SQLite::Database db(path_.toStdString(), SQLite::OPEN_READONLY);
        QCOMPARE(QString::fromStdString(db.execAndGet("PRAGMA integrity_check").getString()), QString("ok"));
        QCOMPARE(verdictOf(path_, 2), std::optional(store::Verdict::B));
    }
};

QTEST_MAIN(TestProjectSafety)
#include "tst_project_safety.moc"
