// dpo-workbench: the GUI. `dpo-workbench [PROJECT]` opens a project; `--demo` opens (creating
// it on first use) the demo project; with no argument the last project is reopened.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QTimer>

#include <cstdio>

#include "main_window.h"
#include "theme.h"
#include "workbench_pages.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("dpo-workbench"));
    QApplication::setOrganizationName(QStringLiteral("dpo-workbench"));
    QApplication::setApplicationDisplayName(QStringLiteral("DPO Workbench"));
    QApplication::setDesktopFileName(QStringLiteral("dpo-workbench"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Label preference pairs, train DPO, compare policy and reference."));
    parser.addHelpOption();
    parser.addPositionalArgument(QStringLiteral("project"), QStringLiteral("Project file to open."), QStringLiteral("[PROJECT]"));
    QCommandLineOption demo(QStringLiteral("demo"),
                            QStringLiteral("Open the demo project (created on first use): %1")
                                .arg(dpowb::ui::MainWindow::demoProjectPath()));
    QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                  QStringLiteral("Save a picture of the window to FILE once the project is shown, then quit."),
                                  QStringLiteral("FILE"));
    parser.addOption(demo);
    parser.addOption(screenshot);
    parser.process(app);

    dpowb::ui::theme::apply(app);
    dpowb::ui::MainWindow window;
    dpowb::ui::addWorkbenchPages(window);  // Train and Compare
    window.show();

    const QString shotPath = parser.value(screenshot);
    if (!shotPath.isEmpty()) {
        // Wait for the first counter: by then the pair list and the pair are on screen.
        QObject::connect(&window, &dpowb::ui::MainWindow::counterUpdated, &window, [&window, shotPath] {
            QTimer::singleShot(800, &window, [&window, shotPath] {
                if (!window.grab().save(shotPath)) std::fprintf(stderr, "cannot write %s\n", qPrintable(shotPath));
                QApplication::quit();
            });
        });
    }

    const QStringList args = parser.positionalArguments();
    if (args.size() > 1) {
        std::fprintf(stderr, "dpo-workbench: give at most one project file\n");
        return 2;
    }
    if (parser.isSet(demo)) {
        window.openDemoProject();
    } else if (!args.isEmpty()) {
        if (!QFileInfo::exists(args.front())) {
            std::fprintf(stderr, "dpo-workbench: %s: no such file (create it with `dpowb init %s`)\n",
                         qPrintable(args.front()), qPrintable(args.front()));
            return 1;
        }
        if (!window.openProject(args.front())) return 1;
    } else {
        QTimer::singleShot(0, &window, [&window] { window.openLastOrOfferDemo(); });
    }
    return app.exec();
}
