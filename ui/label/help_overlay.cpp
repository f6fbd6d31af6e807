#include "help_overlay.h"

#include <QEvent>
#include <QKeyEvent>
#include <QLabel>
#include <QPainter>
#include <QVBoxLayout>

#include "theme.h"

namespace dpowb::ui {

QString keyboardHelpHtml() {
    struct Row {
        const char* keys;
        const char* what;
    };
    static const Row rows[] = {
        {"1", "left response is better"},
        {"2", "right response is better"},
        {"⇧1  ⇧2", "… much better (strength 2)"},
        {"3", "tie"},
        {"4", "both are bad"},
        {"S", "skip"},
        {"Ctrl+Z", "undo the last label (across pairs)"},
        {"J  ↓", "next pair"},
        {"K  ↑", "previous pair"},
        {"N", "next unlabelled pair"},
        {"E", "edit the focused response (adds a new pair)"},
        {"R", "write a rationale (Enter saves it)"},
        {"D", "word diff on / off"},
        {"/", "search prompts and responses"},
        {"Esc", "out of a text field, back to the list"},
        {"Alt+1  Alt+2  Alt+3", "Label, Train, Compare page"},
        {"?", "this help"},
    };
    QString html = QStringLiteral("<h3 style=\"margin-bottom:10px;\">%1</h3><table cellspacing=\"0\" cellpadding=\"5\">")
                       .arg(QObject::tr("Keyboard"));
    for (const Row& r : rows) {
        QString keys;
        for (const QString& k : QString::fromUtf8(r.keys).split(QStringLiteral("  ")))
            keys += theme::kbd(k) + QStringLiteral("&nbsp;");
        html += QStringLiteral("<tr><td align=\"right\">%1</td><td>%2</td></tr>")
                    .arg(keys, QObject::tr(r.what).toHtmlEscaped());
    }
    html += QStringLiteral("</table><p style=\"color:#656d76;\">%1</p>")
                .arg(QObject::tr("Labels are saved the moment you give them. Any key closes this."));
    return html;
}

HelpOverlay::HelpOverlay(QWidget* parent) : QWidget(parent) {
    setFocusPolicy(Qt::StrongFocus);
    auto* lay = new QVBoxLayout(this);
    card_ = new QLabel(this);
    card_->setTextFormat(Qt::RichText);
    card_->setText(keyboardHelpHtml());
    card_->setStyleSheet(QStringLiteral(
        "QLabel { background:#ffffff; border:1px solid #cfd5dc; border-radius:10px; padding:18px 26px; }"));
    lay->addStretch(1);
    lay->addWidget(card_, 0, Qt::AlignHCenter);
    lay->addStretch(1);
    parent->installEventFilter(this);
    hide();
}

void HelpOverlay::popUp() {
    setGeometry(parentWidget()->rect());
    raise();
    show();
    setFocus(Qt::OtherFocusReason);
}

bool HelpOverlay::eventFilter(QObject* watched, QEvent* event) {
    if (watched == parentWidget() && event->type() == QEvent::Resize && isVisible())
        setGeometry(parentWidget()->rect());
    return QWidget::eventFilter(watched, event);
}

void HelpOverlay::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), QColor(30, 35, 40, 90));
}

bool HelpOverlay::event(QEvent* event) {
    // Claim every key while open, so that a key closes the help instead of labelling.
    if (event->type() == QEvent::ShortcutOverride) {
        event->accept();
        return true;
    }
    return QWidget::event(event);
}

void HelpOverlay::hideEvent(QHideEvent* event) {
    QWidget::hideEvent(event);
    if (parentWidget()) parentWidget()->setFocus(Qt::OtherFocusReason);
}

void HelpOverlay::keyPressEvent(QKeyEvent*) { hide(); }
void HelpOverlay::mousePressEvent(QMouseEvent*) { hide(); }

}  // namespace dpowb::ui
