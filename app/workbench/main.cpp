// dpo-workbench: the GUI. (Filled in by the labeling workbench.)
#include <QApplication>

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    return 0;
}
