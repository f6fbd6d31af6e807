// The pages the program adds to the main window besides Label (Train, Compare), wired to
// the window's project: one place, so that tests start the same window the program shows.
#pragma once

namespace dpowb::ui {

class MainWindow;
class TrainView;
class CompareView;

struct WorkbenchPages {
    TrainView* train = nullptr;
    CompareView* compare = nullptr;
};

WorkbenchPages addWorkbenchPages(MainWindow& window);

}  // namespace dpowb::ui
