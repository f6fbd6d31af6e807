#include "workbench_pages.h"

#include "compare_view.h"
#include "label_view.h"
#include "main_window.h"
#include "pair_drilldown.h"
#include "project_context.h"
#include "train_view.h"

#include <QStatusBar>

namespace dpowb::ui {

WorkbenchPages addWorkbenchPages(MainWindow& window) {
    WorkbenchPages pages;
    // Every page reads the window's one ProjectContext: one connection on the GUI thread, one
    // poll, and each page reloads only the side of the data that changed.
    pages.train = new TrainView(window.projectContext(), &window);
    window.addPage(QStringLiteral("Train"), pages.train);
    pages.compare = new CompareView(window.projectContext(), &window);
    window.addPage(QStringLiteral("Compare"), pages.compare);
    // A run that finishes is a new model to compare: the Compare page offers it at once.
    QObject::connect(pages.train, &TrainView::runFinished, pages.compare,
                     [compare = pages.compare](const train::TrainResult&) { compare->refreshRuns(); });
    // The Train page's per-pair drill-down: a pair opens in Compare, scored under the run with
    // its token log-ratio heat map; pairs sent to relabel become a filter of the Label page.
    QObject::connect(pages.train->pairDrillDown(), &PairDrillDown::openPairRequested, pages.compare,
                     [w = &window, compare = pages.compare](qint64 runId, qint64 pairId) {
                         w->showPage(QStringLiteral("Compare"));
                         compare->refreshRuns();
                         const bool models = compare->selectRun(runId);
                         if (compare->showPair(pairId) && models) compare->scoreCurrentPair();
                     });
    QObject::connect(pages.train->pairDrillDown(), &PairDrillDown::pairSetSaved, &window,
                     [w = &window](qint64 setId, const QString&, int) {
                         w->projectContext()->notifyLocalChange();
                         w->labelView()->showPairSet(setId);  // what the Label page shows next
                     });
    QObject::connect(pages.train->pairDrillDown(), &PairDrillDown::statusMessage, &window,
                     [w = &window](const QString& text) { w->statusBar()->showMessage(text, 8000); });
    return pages;
}

}  // namespace dpowb::ui
