// Errors from the core as the GUI shows them (ui/shell/error_line.h): one printable line of valid
// UTF-8 of bounded length, however much of a hostile file the message quotes. The import
// dialog is driven on files built here whose error quotes a line break, control bytes and
// 6,000 bytes of the file, in the preview and in an import that fails after a good preview.
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QStringDecoder>
#include <QTemporaryDir>
#include <QtTest>

#include <memory>
#include <stdexcept>

#include "common/error_text.h"
#include "error_line.h"
#include "import_dialog.h"
#include "store/project.h"

using namespace dpowb;

namespace {

// A role no pair can hold, which the importer's error quotes: a line break, a tab, an escape
// byte and 6,000 bytes of text.
const QByteArray kHostileRole = "ro\\nbot\\t\\u001b[31m" + QByteArray(6000, 'x');

QByteArray goodLine(int i) {
    return QStringLiteral("{\"prompt\": \"p%1\", \"chosen\": \"yes %1\", \"rejected\": \"no %1\"}\n").arg(i).toUtf8();
}

QByteArray goodChatLine(int i) {
    return QStringLiteral("{\"prompt\": [{\"role\": \"user\", \"content\": \"p%1\"}], \"chosen\": [{\"role\": "
                          "\"assistant\", \"content\": \"yes\"}], \"rejected\": [{\"role\": \"assistant\", "
                          "\"content\": \"no\"}]}\n")
        .arg(i)
        .toUtf8();
}

QByteArray hostileLine() {
    return "{\"prompt\": [{\"role\": \"user\", \"content\": \"hi\"}], \"chosen\": [{\"role\": \"" + kHostileRole +
           "\", \"content\": \"a\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"b\"}]}\n";
}

// What every error the GUI shows must look like.
void checkShownLine(const QString& shown) {
    QVERIFY(!shown.isEmpty());
    for (const QChar c : shown)
        QVERIFY2(c.unicode() >= 0x20 && c.unicode() != 0x7F && !(c.unicode() >= 0x80 && c.unicode() < 0xA0) &&
                     c != QChar::ReplacementCharacter && c != QChar::LineSeparator && c != QChar::ParagraphSeparator,
                 qPrintable(QStringLiteral("U+%1 in: %2").arg(c.unicode(), 4, 16, QLatin1Char('0')).arg(shown.left(600))));
    QVERIFY2(shown.toUtf8().size() <= int(kMaxErrorLine), qPrintable(QString::number(shown.toUtf8().size())));
}

// The error label of the dialog: the visible QLabel that shows the error text.
bool labelShows(const ui::ImportDialog& dialog, const QString& text) {
    for (const QLabel* label : dialog.findChildren<QLabel*>())
        if (label->text() == text) return true;
    return false;
}

}  // namespace

class TestErrorLines : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        path_ = dir_.filePath(QStringLiteral("work.db"));
        store::Project::create(path_.toStdString());
    }

    void errorLineOfRawBytes_data() {
        QTest::addColumn<QByteArray>("message");
        QTest::newRow("line breaks") << QByteArray("first\nsecond\r\nthird\u2028fourth");
        QTest::newRow("invalid UTF-8") << QByteArray("bytes \xff\xfe\xc3 and a lone \x80 continuation");
        QTest::newRow("control bytes") << QByteArray("bell \a escape \x1b[2J nul-free tab\tend");
        QTest::newRow("a megabyte") << QByteArray("field \"x\": ") + QByteArray(1 << 20, 'y') + " what to do";
    }
    void errorLineOfRawBytes() {
        QFETCH(QByteArray, message);
        const std::runtime_error e(message.toStdString());
        const QString shown = ui::errorLine(e);
        checkShownLine(shown);
        QCOMPARE(shown, ui::errorLine(message.toStdString()));
        // The start of the message (file, line, field) is kept.
        QVERIFY2(shown.startsWith(QString::fromLatin1(message.left(5))), qPrintable(shown));
    }

    void importDialogShowsOneLine_data() {
        QTest::addColumn<QByteArray>("file");
        QTest::addColumn<bool>("previewFails");
        QTest::newRow("in the preview") << hostileLine() + goodChatLine(1) << true;
        QByteArray late;  // the preview reads 20 records: the import finds the bad one
        for (int i = 0; i < 30; ++i) late += goodChatLine(i);
        late += hostileLine();
        QTest::newRow("after a good preview") << late << false;
    }
    void importDialogShowsOneLine() {
        QFETCH(QByteArray, file);
        QFETCH(bool, previewFails);
        const QString path = dir_.filePath(QStringLiteral("hostile-%1.jsonl").arg(previewFails));
        {
            QFile f(path);
            QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
            QCOMPARE(f.write(file), qint64(file.size()));
        }
        ui::ImportDialog dialog(path_);
        dialog.show();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        QSignalSpy previewSpy(&dialog, &ui::ImportDialog::previewReady);
        dialog.setFile(path);
        QVERIFY(previewSpy.wait(10000));
        QString shown;
        if (previewFails) {
            shown = dialog.errorText();
            QVERIFY(!dialog.importButton()->isEnabled());
        } else {
            QVERIFY2(dialog.errorText().isEmpty(), qPrintable(dialog.errorText().left(600)));
            QSignalSpy doneSpy(&dialog, &ui::ImportDialog::importFinished);
            dialog.startImport();
            QVERIFY(doneSpy.wait(20000));
            QVERIFY(!doneSpy.at(0).at(0).toBool());
            shown = doneSpy.at(0).at(1).toString();
            QCOMPARE(dialog.errorText(), shown);
            // All or nothing: the good records before the bad one are not in the project.
            QCOMPARE(store::Project::open(path_.toStdString()).countPairs({}), int64_t(0));
        }
        checkShownLine(shown);
        QVERIFY2(labelShows(dialog, shown), qPrintable(shown));
        // Still names the line and the field, and says what was wrong.
        QVERIFY2(shown.contains(QStringLiteral(".jsonl:")), qPrintable(shown));
        QVERIFY2(shown.contains(QStringLiteral(".role")), qPrintable(shown));
        QVERIFY2(shown.contains(QStringLiteral("system, user or assistant")), qPrintable(shown));
    }

    // Found by UBSan (scripts/sanitize.sh): destroying a shown dialog whose path field has the
    // focus ran the field's editingFinished handler, a new preview, on the half-destroyed dialog.
    void destroyShownDialogWithFocusInPath() {
        const QString path = dir_.filePath(QStringLiteral("good.jsonl"));
        {
            QFile f(path);
            QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
            f.write(goodLine(0));
        }
        auto dialog = std::make_unique<ui::ImportDialog>(path_);
        dialog->show();
        QVERIFY(QTest::qWaitForWindowExposed(dialog.get()));
        QSignalSpy previewSpy(dialog.get(), &ui::ImportDialog::previewReady);
        dialog->setFile(path);
        QVERIFY(previewSpy.wait(10000));
        QLineEdit* field = nullptr;
        for (QLineEdit* e : dialog->findChildren<QLineEdit*>())
            if (e->text() == path) field = e;
        QVERIFY(field);
        field->setFocus();
        QTRY_VERIFY(field->hasFocus());
        dialog.reset();
    }

private:
    QTemporaryDir dir_;
    QString path_;
};

QTEST_MAIN(TestErrorLines)
#include "tst_error_lines.moc"
