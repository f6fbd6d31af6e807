#include "main_window.h"

#include <atomic>
#include <memory>
#include <optional>

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include "file_dialogs.h"
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressDialog>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QStackedWidget>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTimer>
#include <QtConcurrent/QtConcurrentRun>

#include "common/error.h"
#include "error_line.h"
#include "help_overlay.h"
#include "import_dialog.h"
#include "label_view.h"
#include "pair_table_model.h"
#include "pair_view.h"
#include "project_context.h"
#include "store/formats.h"
#include "store/output_guard.h"
#include "store/project.h"

namespace dpowb::ui {

namespace {

constexpr int kMaxRecent = 8;
const QString kProjectFilter = QStringLiteral("DPO Workbench projects (*.db *.dpowb);;All files (*)");

struct CounterResult {
    qint64 labelled = -1, pairs = -1;
    QString error;
};

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("DPO Workbench"));
    setWindowIcon(QIcon(QStringLiteral(":/icons/dpo-workbench.svg")));
    context_ = new ProjectContext(this);

    auto* central = new QWidget(this);
    auto* lay = new QHBoxLayout(central);
    lay->setContentsMargins(0, 0, 0, 0);
    lay->setSpacing(0);
    sidebar_ = new QListWidget(central);
    sidebar_->setObjectName(QStringLiteral("sidebar"));
    sidebar_->setFixedWidth(118);
    sidebar_->setFocusPolicy(Qt::NoFocus);
    pages_ = new QStackedWidget(central);
    lay->addWidget(sidebar_);
    lay->addWidget(pages_, 1);
    setCentralWidget(central);
    connect(sidebar_, &QListWidget::currentRowChanged, pages_, &QStackedWidget::setCurrentIndex);
    connect(pages_, &QStackedWidget::currentChanged, this, [this](int index) {
        // Hiding a page hands its focus to the next widget in the chain, which can be a text
        // field of another page: back on Label, the keyboard belongs to the pair list.
        if (pages_->widget(index) == labelView_) labelView_->setFocus(Qt::OtherFocusReason);
    });

    labelView_ = new LabelView(context_, this);
    connect(labelView_, &LabelView::statusMessage, this,
            [this](const QString& text) { statusBar()->showMessage(text, 5000); });

    pathLabel_ = new QLabel(this);
    pathLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    counterLabel_ = new QLabel(this);
    counterLabel_->setStyleSheet(QStringLiteral("font-weight:600; padding-right:8px;"));
    statusBar()->addPermanentWidget(pathLabel_);
    statusBar()->addPermanentWidget(counterLabel_);

    counterDebounce_ = new QTimer(this);
    counterDebounce_->setSingleShot(true);
    counterDebounce_->setInterval(150);
    connect(counterDebounce_, &QTimer::timeout, this, &MainWindow::refreshCounter);
    connect(context_, &ProjectContext::opened, this, &MainWindow::onProjectOpened);
    connect(context_, &ProjectContext::localChange, counterDebounce_, qOverload<>(&QTimer::start));
    connect(context_, &ProjectContext::externalChange, counterDebounce_, qOverload<>(&QTimer::start));
    connect(context_, &ProjectContext::reconnected, this, [this](const QString& why) {
        statusBar()->showMessage(tr("Reopened the project: %1. Everything shown was read again from the file.").arg(why));
    });
    connect(context_, &ProjectContext::connectionLost, this, [this](const QString& why, const QString& error) {
        QMessageBox::warning(this, tr("Project closed"),
                             tr("The connection to the project was lost (%1) and it could not be reopened:\n%2\n\n"
                                "Open it again with File › Open once the file is back.")
                                 .arg(why, error));
    });

    buildMenus();
    addPage(tr("Label"), labelView_);
    // The pair list has the keyboard from the first moment (not the first text field of the
    // focus chain, the search box, which would take the label keys as typing).
    labelView_->setFocus(Qt::OtherFocusReason);
    restoreLayout();
}

MainWindow::~MainWindow() = default;

QString MainWindow::demoProjectPath() {
    // The same place scripts/run.sh --headless uses, so the CLI and the GUI share the demo.
    QString dir = qEnvironmentVariable("DPOWB_DEMO_DIR");
    if (dir.isEmpty())
        dir = QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation) + QStringLiteral("/dpo-workbench");
    return QDir(dir).filePath(QStringLiteral("demo.db"));
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&New Project…"), QKeySequence::New, this, &MainWindow::newProject);
    file->addAction(tr("&Open Project…"), QKeySequence::Open, this, &MainWindow::chooseProject);
    recentMenu_ = file->addMenu(tr("Open &Recent"));
    file->addAction(tr("Open the &Demo Project"), this, &MainWindow::openDemoProject);
    file->addSeparator();
    QAction* importAction = file->addAction(tr("&Import…"), QKeySequence(Qt::CTRL | Qt::Key_I), this,
                                            &MainWindow::importPairs);
    QAction* exportAction = file->addAction(tr("&Export…"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E),
                                            this, &MainWindow::exportPairs);
    file->addSeparator();
    file->addAction(tr("&Preferences…"), this, &MainWindow::editPreferences);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    importAction->setEnabled(false);
    exportAction->setEnabled(false);
    connect(context_, &ProjectContext::opened, this, [importAction, exportAction] {
        importAction->setEnabled(true);
        exportAction->setEnabled(true);
    });
    rebuildRecentMenu();

    viewMenu_ = menuBar()->addMenu(tr("&View"));
    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&Keyboard Shortcuts"), QKeySequence::HelpContents, this, [this] {
        showPage(tr("Label"));
        labelView_->showHelp();
    });
    help->addAction(tr("&About"), this, [this] {
        QMessageBox::about(this, tr("About DPO Workbench"),
                           tr("<b>DPO Workbench</b> %1<br>Label preference pairs, train DPO, and compare "
                              "the policy with its reference — on your own machine.")
                               .arg(QApplication::applicationVersion()));
    });
}

void MainWindow::addPage(const QString& name, QWidget* page) {
    pages_->addWidget(page);
    sidebar_->addItem(name);
    // One page needs no navigation: the sidebar appears once Train or Compare exist.
    sidebar_->setVisible(sidebar_->count() > 1);
    if (sidebar_->currentRow() < 0) sidebar_->setCurrentRow(0);
    const int n = sidebar_->count();
    QAction* go = viewMenu_->addAction(name, this, [this, n] { sidebar_->setCurrentRow(n - 1); });
    // Alt+digit: Ctrl+1 and Ctrl+2 belong to the Compare page (add the pair, policy or reference better).
    if (n <= 9) go->setShortcut(QKeySequence(Qt::ALT | Qt::Key(Qt::Key_0 + n)));
}

void MainWindow::showPage(const QString& name) {
    for (int i = 0; i < sidebar_->count(); ++i)
        if (sidebar_->item(i)->text() == name) sidebar_->setCurrentRow(i);
}

bool MainWindow::openProject(const QString& path, bool quiet) {
    try {
        context_->open(QFileInfo(path).absoluteFilePath());
    } catch (const std::exception& e) {
        if (!quiet)
            QMessageBox::warning(this, tr("Open project"),
                                 tr("Could not open %1:\n%2").arg(path, errorLine(e)));
        statusBar()->showMessage(errorLine(e));
        return false;
    }
    return true;
}

void MainWindow::onProjectOpened(const QString& path) {
    setWindowTitle(tr("%1 — DPO Workbench").arg(QFileInfo(path).fileName()));
    statusBar()->clearMessage();
    pathLabel_->setText(QDir::toNativeSeparators(path));
    rememberRecent(path);
    refreshCounter();
}

void MainWindow::openDemoProject() {
    const QString path = demoProjectPath();
    if (QFileInfo::exists(path)) {
        if (openProject(path)) Q_EMIT demoReady(path);
        return;
    }
    statusBar()->showMessage(tr("Creating the demo project…"));
    QDir().mkpath(QFileInfo(path).absolutePath());
    auto* watcher = new QFutureWatcher<QString>(this);
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, path] {
        watcher->deleteLater();
        const QString error = watcher->result();
        if (!error.isEmpty()) {
            QMessageBox::warning(this, tr("Demo project"), tr("Could not create the demo project:\n%1").arg(error));
            return;
        }
        if (openProject(path)) Q_EMIT demoReady(path);
    });
    watcher->setFuture(QtConcurrent::run([p = path.toStdString()]() -> QString {
        // Built under a temporary name and renamed, so an interrupted start leaves no
        // half-filled demo behind.
        const std::string tmp = p + ".part";
        try {
            std::remove(tmp.c_str());
            {
                auto project = store::Project::create(tmp);
                store::addDemoPairs(project);
            }
            for (const char* ext : {"-wal", "-shm"}) std::remove((tmp + ext).c_str());
            if (std::rename(tmp.c_str(), p.c_str()) != 0) return QStringLiteral("cannot rename %1").arg(QString::fromStdString(tmp));
        } catch (const std::exception& e) {
            std::remove(tmp.c_str());
            return errorLine(e);
        }
        return QString();
    }));
}

void MainWindow::openLastOrOfferDemo() {
    QSettings settings;
    const QStringList recent = settings.value(QStringLiteral("recentProjects")).toStringList();
    if (!recent.isEmpty() && QFileInfo::exists(recent.front()) && openProject(recent.front(), true)) return;
    if (!settings.value(QStringLiteral("offeredDemo")).toBool() || recent.isEmpty()) {
        settings.setValue(QStringLiteral("offeredDemo"), true);
        const auto answer = QMessageBox::question(
            this, tr("Welcome to DPO Workbench"),
            tr("No project is open. Create the demo project (2,500 movie-review pairs, most "
               "already labelled) to try labelling and training?\n\nIt goes to %1.")
                .arg(QDir::toNativeSeparators(demoProjectPath())),
            QMessageBox::Yes | QMessageBox::No, QMessageBox::Yes);
        if (answer == QMessageBox::Yes) openDemoProject();
    }
}

void MainWindow::newProject() {
    const QString path = dialogs::saveFile(this, tr("New project"), QDir::homePath(), kProjectFilter);
    if (path.isEmpty()) return;
    if (QFileInfo::exists(path)) {
        QMessageBox::warning(this, tr("New project"),
                             tr("%1 already exists. Open it with File › Open, or choose another name.").arg(path));
        return;
    }
    try {
        store::Project::create(path.toStdString());
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("New project"), errorLine(e));
        return;
    }
    openProject(path);
}

void MainWindow::chooseProject() {
    const QString start = context_->isOpen() ? QFileInfo(context_->path()).absolutePath() : QDir::homePath();
    const QString path = dialogs::openFile(this, tr("Open project"), start, kProjectFilter);
    if (!path.isEmpty()) openProject(path);
}

void MainWindow::importPairs() {
    if (!context_->isOpen()) return;
    ImportDialog dialog(context_->path(), this);
    connect(&dialog, &ImportDialog::importFinished, this, [this](bool ok, const QString& message) {
        statusBar()->showMessage(message, 8000);
        if (ok) context_->checkExternalChanges();  // the import committed on its own connection
    });
    dialog.exec();
}

void MainWindow::exportPairs() {
    if (!context_->isOpen()) return;
    QStringList formats;
    for (const auto& f : store::exportFormats()) formats << QString::fromStdString(f);
    bool ok = false;
    const QString format = QInputDialog::getItem(
        this, tr("Export"),
        tr("Format (trl: labelled pairs as chosen/rejected; pairs: everything, with labels):"), formats, 0,
        false, &ok);
    if (!ok) return;
    // A filtered Label view: export what it shows, or everything.
    ExportScope scope = ExportScope::All;
    const qint64 inView = labelView_->tableModel()->rowCount();
    qint64 total = inView;
    try {
        total = context_->project().countPairs({});
    } catch (const std::exception&) {
    }
    if (inView < total) {
        QMessageBox box(QMessageBox::Question, tr("Export"),
                        tr("The Label view is filtered: it shows %L1 of the project's %L2 pairs.").arg(inView).arg(total),
                        QMessageBox::Cancel, this);
        QPushButton* view = box.addButton(tr("The %L1 pairs in this view").arg(inView), QMessageBox::AcceptRole);
        QPushButton* all = box.addButton(tr("All %L1 pairs").arg(total), QMessageBox::AcceptRole);
        box.setDefaultButton(view);
        box.exec();
        if (box.clickedButton() == view) scope = ExportScope::View;
        else if (box.clickedButton() != all) return;
    }
    const QString path = dialogs::saveFile(this, tr("Export pairs"),
                                                      QFileInfo(context_->path()).absolutePath() +
                                                          QStringLiteral("/export-%1.jsonl").arg(format),
                                                      tr("JSON Lines (*.jsonl);;All files (*)"));
    if (path.isEmpty()) return;
    startExport(path, format, scope);
}

void MainWindow::startExport(const QString& path, const QString& format, ExportScope scope) {
    if (!context_->isOpen()) return;
    // The view's query is read here, on the GUI thread; the worker opens its own connection.
    std::optional<store::PairQuery> viewQuery;
    if (scope == ExportScope::View) {
        viewQuery = labelView_->tableModel()->query();
        viewQuery->limit = -1;
        viewQuery->offset = 0;
    }
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    auto done = std::make_shared<std::atomic<qint64>>(0);
    auto* progress = new QProgressDialog(tr("Exporting…"), tr("Cancel"), 0, 0, this);
    progress->setWindowTitle(tr("Export"));
    progress->setMinimumDuration(500);
    progress->setAutoClose(false);
    progress->setAutoReset(false);
    connect(progress, &QProgressDialog::canceled, this, [cancel] { cancel->store(true); });
    // The worker only counts; the GUI thread reads the count (no call into a widget from there).
    auto* tick = new QTimer(progress);
    connect(tick, &QTimer::timeout, progress,
            [progress, done] { progress->setLabelText(tr("Exporting… %L1 records").arg(done->load())); });
    tick->start(200);
    statusBar()->showMessage(tr("Exporting…"));
    using Result = std::pair<QString, qint64>;
    auto* watcher = new QFutureWatcher<Result>(this);
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, progress] {
        const Result r = watcher->result();
        watcher->deleteLater();
        progress->deleteLater();
        statusBar()->showMessage(r.first, 8000);
        Q_EMIT exportFinished(r.first, r.second);
    });
    watcher->setFuture(QtConcurrent::run([db = context_->path().toStdString(), file = path.toStdString(),
                                          fmt = format.toStdString(), path, viewQuery, cancel, done]() -> Result {
        try {
            auto project = store::Project::openReadOnly(db);
            store::ExportOptions options;
            options.format = fmt;
            if (viewQuery) options.ids = project.pairIds(*viewQuery);
            options.progress.cancel = cancel.get();
            options.progress.report = [done](int64_t n, int64_t, const std::string&) { done->store(n); };
            // Never onto the project file, another SQLite file or a device; through links.
            const std::string target = store::checkExportTarget(file, db);
            const int64_t n = store::exportFile(project, target, options);
            return {viewQuery ? tr("Exported %L1 records of the pairs in the view to %2").arg(n).arg(path)
                              : tr("Exported %L1 records to %2").arg(n).arg(path),
                    n};
        } catch (const Cancelled&) {
            return {tr("Export cancelled; nothing was written."), -1};
        } catch (const std::exception& e) {
            return {tr("Export failed: %1").arg(errorLine(e)), -1};
        }
    }));
}

void MainWindow::editPreferences() {
    bool ok = false;
    QString label = tr("Annotator name recorded with every label:");
    if (!qEnvironmentVariable("DPOWB_ANNOTATOR").isEmpty())
        label += tr("\n(DPOWB_ANNOTATOR is set and takes precedence while it is.)");
    const QString name = QInputDialog::getText(this, tr("Preferences"), label, QLineEdit::Normal,
                                               context_->annotator(), &ok);
    if (!ok) return;
    context_->setAnnotatorPreference(name);
    if (context_->isOpen()) labelView_->annotatorChanged();
}

void MainWindow::rememberRecent(const QString& path) {
    QSettings settings;
    QStringList recent = settings.value(QStringLiteral("recentProjects")).toStringList();
    recent.removeAll(path);
    recent.prepend(path);
    while (recent.size() > kMaxRecent) recent.removeLast();
    settings.setValue(QStringLiteral("recentProjects"), recent);
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
    recentMenu_->clear();
    const QStringList recent = QSettings().value(QStringLiteral("recentProjects")).toStringList();
    for (const QString& path : recent)
        recentMenu_->addAction(QDir::toNativeSeparators(path), this, [this, path] { openProject(path); });
    recentMenu_->setEnabled(!recent.isEmpty());
}

QString MainWindow::counterText() const { return counterLabel_->text(); }

void MainWindow::refreshCounter() {
    if (!context_->isOpen()) {
        counterLabel_->clear();
        return;
    }
    const quint64 generation = ++counterGeneration_;
    auto* watcher = new QFutureWatcher<CounterResult>(this);
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, generation] {
        watcher->deleteLater();
        if (generation != counterGeneration_) return;
        const CounterResult r = watcher->result();
        if (!r.error.isEmpty()) {
            statusBar()->showMessage(r.error, 5000);
            return;
        }
        counterLabel_->setText(tr("%L1 labelled of %L2").arg(r.labelled).arg(r.pairs));
        Q_EMIT counterUpdated(counterLabel_->text());
    });
    watcher->setFuture(QtConcurrent::run([path = context_->path().toStdString()] {
        CounterResult r;
        try {
            auto project = store::Project::openReadOnly(path);
            const store::Stats s = project.stats();
            r.labelled = s.labelled;
            r.pairs = s.pairs;
        } catch (const std::exception& e) {
            r.error = errorLine(e);
        }
        return r;
    }));
}

void MainWindow::restoreLayout() {
    QSettings s;
    if (!restoreGeometry(s.value(QStringLiteral("window/geometry")).toByteArray())) resize(1440, 900);
    restoreState(s.value(QStringLiteral("window/state")).toByteArray());
    labelView_->mainSplitter()->restoreState(s.value(QStringLiteral("label/browserSplit")).toByteArray());
    labelView_->rightSplitter()->restoreState(s.value(QStringLiteral("label/historySplit")).toByteArray());
    labelView_->pairView()->splitter()->restoreState(s.value(QStringLiteral("label/promptSplit")).toByteArray());
}

void MainWindow::saveLayout() {
    QSettings s;
    s.setValue(QStringLiteral("window/geometry"), saveGeometry());
    s.setValue(QStringLiteral("window/state"), saveState());
    s.setValue(QStringLiteral("label/browserSplit"), labelView_->mainSplitter()->saveState());
    s.setValue(QStringLiteral("label/historySplit"), labelView_->rightSplitter()->saveState());
    s.setValue(QStringLiteral("label/promptSplit"), labelView_->pairView()->splitter()->saveState());
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (labelView_->hasUnsavedWork()) {
        const auto answer = QMessageBox::question(
            this, tr("Unsaved rationale"),
            tr("A rationale you typed has not been saved with a label. Close anyway and lose it?"),
            QMessageBox::Discard | QMessageBox::Cancel, QMessageBox::Cancel);
        if (answer != QMessageBox::Discard) {
            event->ignore();
            return;
        }
    }
    saveLayout();
    event->accept();
}

}  // namespace dpowb::ui
