// The GUI half of scripts/crash-trial.sh: the real main window on a project, driven the way
// a person drives it, until it is killed.
//
//   dpowb-trial-gui PROJECT LOG SEED [qt-dialogs]
//
// With qt-dialogs it opens Qt's stock file dialog instead of the GUI's (ui/shell/file_dialogs.h):
// what the GUI did before the fix, to show that the trial catches the damage it did.
// Every ~30 ms it does one of: press a label key (1, 2, 3, 4, S) or N into whatever widget has
// the focus; open one of the GUI's file dialogs on the project's folder, let it describe every
// file there, close it; run the window's external-change check. After each label it appends
// "gui LABEL_ID PAIR_ID VERDICT" to LOG (unbuffered: a SIGKILL right after loses no line of a
// label that was committed). The trial script kills it at a random moment and checks that
// every logged label is in the file.
#include <QApplication>
#include <QFileDialog>
#include <QFileInfo>
#include <QFileSystemModel>
#include <QRandomGenerator>
#include <QTimer>
#include <QtTest>

#include <cstdio>
#include <fcntl.h>
#include <unistd.h>

#include "file_dialogs.h"
#include "label_view.h"
#include "pair_view.h"
#include "main_window.h"
#include "project_context.h"
#include "store/project.h"

using namespace dpowb;

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("dpo-workbench-trial"));
    if (argc != 4 && argc != 5) {
        std::fprintf(stderr, "usage: dpowb-trial-gui PROJECT LOG SEED [qt-dialogs]\n");
        return 2;
    }
    const QString project = QFileInfo(QString::fromLocal8Bit(argv[1])).absoluteFilePath();
    const int log = ::open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log < 0) {
        std::perror(argv[2]);
        return 1;
    }
    const bool stockDialogs = argc == 5 && std::string(argv[4]) == "qt-dialogs";
    QRandomGenerator rng(quint32(std::strtoul(argv[3], nullptr, 10)));

    ui::MainWindow window;
    window.resize(1200, 800);
    window.show();
    if (!window.openProject(project, true)) {
        std::fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    ui::LabelView* view = window.labelView();
    QObject::connect(view, &ui::LabelView::labelled, [&](qint64 pairId) {
        const auto history = window.projectContext()->project().history(pairId);
        if (history.empty() || !history.back().verdict) return;
        const auto& l = history.back();
        const std::string line = "gui " + std::to_string(l.id) + " " + std::to_string(pairId) + " " +
                                 store::toString(*l.verdict) + "\n";
        if (::write(log, line.data(), line.size()) != ssize_t(line.size())) std::perror("log");
    });

    // What a person's click into the pair on screen does to the focus.
    const auto clickIntoPair = [view] {
        QWidget* pair = view->findChild<ui::PairView*>();
        if (pair && pair->isVisible()) QTest::mouseClick(pair, Qt::LeftButton);
        if (pair && !pair->hasFocus()) pair->setFocus(Qt::MouseFocusReason);
    };
    const QString folder = QFileInfo(project).absolutePath();
    QTimer tick;
    tick.setInterval(30);
    QObject::connect(&tick, &QTimer::timeout, [&] {
        const int what = int(rng.bounded(100));
        QWidget* focus = QApplication::focusWidget();
        if (what < 85 && focus) {
            static const Qt::Key keys[] = {Qt::Key_1, Qt::Key_2, Qt::Key_3, Qt::Key_4, Qt::Key_S, Qt::Key_N};
            QTest::keyClick(focus, keys[rng.bounded(6)]);
        } else if (what < 92) {
            tick.stop();
            std::unique_ptr<QFileDialog> dialog(
                stockDialogs ? new QFileDialog(&window, QStringLiteral("Export"), folder, QStringLiteral("All files (*)"))
                             : ui::dialogs::create(&window, QStringLiteral("Export"), folder, QStringLiteral("All files (*)")));
            dialog->selectFile(project);
            dialog->show();
            auto* model = dialog->findChild<QFileSystemModel*>();
            QElapsedTimer t;
            t.start();
            while (t.elapsed() < 300) {
                QApplication::processEvents(QEventLoop::AllEvents, 20);
                if (model) {
                    const QModelIndex root = model->index(folder);
                    for (int r = 0; r < model->rowCount(root); ++r) model->data(model->index(r, 2, root));
                }
            }
            dialog->reject();
            clickIntoPair();
            tick.start();
        } else {
            window.projectContext()->checkExternalChanges();
        }
    });
    // Start where a person starts: a click into the pair on screen.
    QTimer::singleShot(500, [&] {
        clickIntoPair();
        tick.start();
    });
    return app.exec();
}
