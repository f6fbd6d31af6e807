// The workbench window: File menu (new, open, recent, import, export), a sidebar of pages
// (Label here; Train and Compare are added by the program with addPage()), a status bar with
// the project path and "N labelled of M", and the remembered layout.
#pragma once

#include <QMainWindow>

class QLabel;
class QListWidget;
class QMenu;
class QStackedWidget;
class QTimer;

namespace dpowb::ui {

class LabelView;
class ProjectContext;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Opens a project file; on failure shows the reason (unless quiet) and returns false.
    bool openProject(const QString& path, bool quiet = false);
    // Opens the demo project, creating it first (in the background) when it does not exist.
    void openDemoProject();
    // No argument given: reopen the last project, or offer the demo on first start.
    void openLastOrOfferDemo();
    static QString demoProjectPath();

    // Adds a page to the sidebar. Pages find the project through projectContext().
    void addPage(const QString& name, QWidget* page);
    void showPage(const QString& name);
    ProjectContext* projectContext() const { return context_; }
    LabelView* labelView() const { return labelView_; }
    QString counterText() const;
    // Recomputes "N labelled of M" in the background.
    void refreshCounter();

    // File › Export without its dialogs: writes `path` in `format` in the background (a progress
    // dialog after half a second, with Cancel), either every pair or only the pairs the Label
    // view shows now (its filters and search). Ends with exportFinished().
    enum class ExportScope { All, View };
    void startExport(const QString& path, const QString& format, ExportScope scope);

Q_SIGNALS:
    void counterUpdated(const QString& text);
    // `written` records, or -1 when the export failed or was cancelled (then nothing was written).
    void exportFinished(const QString& message, qint64 written);
    void demoReady(const QString& path);

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void buildMenus();
    void newProject();
    void chooseProject();
    void importPairs();
    void exportPairs();
    void editPreferences();
    void rememberRecent(const QString& path);
    void rebuildRecentMenu();
    void restoreLayout();
    void saveLayout();
    void onProjectOpened(const QString& path);

    ProjectContext* context_;
    LabelView* labelView_;
    QListWidget* sidebar_;
    QStackedWidget* pages_;
    QMenu* recentMenu_;
    QMenu* viewMenu_;
    QLabel* pathLabel_;
    QLabel* counterLabel_;
    QTimer* counterDebounce_;
    quint64 counterGeneration_ = 0;
};

}  // namespace dpowb::ui
