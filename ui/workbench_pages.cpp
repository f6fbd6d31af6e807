#include "workbench_pages.h"

#include "compare_view.h"
#include "main_window.h"
#include "project_context.h"
#include "train_view.h"

namespace dpowb::ui {

WorkbenchPages addWorkbenchPages(MainWindow& window) {
    WorkbenchPages pages;
    pages.train = new TrainView(QString(), &window);
    window.addPage(QStringLiteral("Train"), pages.train);
    QObject::connect(window.projectContext(), &ProjectContext::opened, pages.train, &TrainView::setProjectPath);
    pages.compare = new CompareView(QString(), &window);
    window.addPage(QStringLiteral("Compare"), pages.compare);
    QObject::connect(window.projectContext(), &ProjectContext::opened, pages.compare, &CompareView::setProjectPath);
    // A run that finishes is a new model to compare: the Compare page offers it at once.
    QObject::connect(pages.train, &TrainView::runFinished, pages.compare,
                     [compare = pages.compare](const train::TrainResult&) { compare->refreshRuns(); });
    return pages;
}

}  // namespace dpowb::ui
