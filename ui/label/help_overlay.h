// The keyboard help shown over the labeling view on `?`; any key or click closes it.
#pragma once

#include <QWidget>

class QLabel;

namespace dpowb::ui {

class HelpOverlay : public QWidget {
    Q_OBJECT
public:
    explicit HelpOverlay(QWidget* parent);
    void popUp();  // covers the parent and takes the keyboard focus

protected:
    void paintEvent(QPaintEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    bool eventFilter(QObject* watched, QEvent* event) override;
    bool event(QEvent* event) override;
    void hideEvent(QHideEvent* event) override;

private:
    QLabel* card_;
};

// The shortcut table as rich text (also used by the hint bar's tooltip).
QString keyboardHelpHtml();

}  // namespace dpowb::ui
