#include "theme.h"

#include <QApplication>
#include <QFont>
#include <QObject>
#include <QPalette>
#include <QStyleFactory>

namespace dpowb::ui::theme {

QColor accent() { return QColor(0x3a, 0x6e, 0xa5); }
QColor window() { return QColor(0xf4, 0xf5, 0xf7); }
QColor surface() { return QColor(0xff, 0xff, 0xff); }
QColor border() { return QColor(0xdd, 0xe1, 0xe6); }
QColor text() { return QColor(0x1f, 0x23, 0x28); }
QColor mutedText() { return QColor(0x65, 0x6d, 0x76); }
QString diffLeftColor() { return QStringLiteral("#fde2c8"); }
QString diffRightColor() { return QStringLiteral("#cfe8d5"); }

QColor verdictColor(std::optional<store::Verdict> v) {
    if (!v) return mutedText();
    switch (*v) {
    case store::Verdict::A: return QColor(0x2e, 0x7d, 0x4f);
    case store::Verdict::B: return QColor(0x2b, 0x63, 0x9c);
    case store::Verdict::Tie: return QColor(0x8a, 0x6d, 0x1f);
    case store::Verdict::BothBad: return QColor(0xb0, 0x3a, 0x2e);
    case store::Verdict::Skip: return QColor(0x80, 0x86, 0x8d);
    }
    return mutedText();
}

QString verdictText(std::optional<store::Verdict> v, int strength) {
    if (!v) return {};
    switch (*v) {
    case store::Verdict::A: return strength >= 2 ? QStringLiteral("A ≫") : QStringLiteral("A");
    case store::Verdict::B: return strength >= 2 ? QStringLiteral("B ≫") : QStringLiteral("B");
    case store::Verdict::Tie: return QStringLiteral("tie");
    case store::Verdict::BothBad: return QStringLiteral("both bad");
    case store::Verdict::Skip: return QStringLiteral("skipped");
    }
    return {};
}

namespace {
bool isAB(std::optional<store::Verdict> v) { return v == store::Verdict::A || v == store::Verdict::B; }
// Whether the winner of an A/B verdict was the response shown on the left.
bool winnerLeft(store::Verdict v, char shownLeft) { return (v == store::Verdict::A ? 'a' : 'b') == shownLeft; }
}  // namespace

QString screenVerdictText(std::optional<store::Verdict> v, int strength, char shownLeft) {
    if (!isAB(v)) return verdictText(v, strength);
    const bool left = winnerLeft(*v, shownLeft);
    if (strength >= 2) return left ? QObject::tr("left much better") : QObject::tr("right much better");
    return left ? QObject::tr("left better") : QObject::tr("right better");
}

QString screenVerdictWithStored(std::optional<store::Verdict> v, int strength, char shownLeft) {
    if (!isAB(v)) return verdictText(v, strength);
    return QStringLiteral("%1 (%2)").arg(screenVerdictText(v, strength, shownLeft),
                                         *v == store::Verdict::A ? QStringLiteral("A") : QStringLiteral("B"));
}

QString screenVerdictShort(std::optional<store::Verdict> v, int strength, char shownLeft) {
    if (!isAB(v)) return verdictText(v, strength);
    const QString side = winnerLeft(*v, shownLeft) ? QObject::tr("left") : QObject::tr("right");
    return QStringLiteral("%1%2 · %3")
        .arg(side, strength >= 2 ? QStringLiteral(" ≫") : QString(),
             *v == store::Verdict::A ? QStringLiteral("A") : QStringLiteral("B"));
}

QString verdictExplanation(std::optional<store::Verdict> v, int strength, char shownLeft) {
    if (!v) return QObject::tr("unlabelled");
    if (!isAB(v)) return verdictText(v, strength);
    const QString letter = *v == store::Verdict::A ? QStringLiteral("A") : QStringLiteral("B");
    const bool left = winnerLeft(*v, shownLeft);
    return QObject::tr("%1: the response shown on the %2 won; it is stored as response %3 (verdict %3%4)")
        .arg(screenVerdictText(v, strength, shownLeft), left ? QObject::tr("left") : QObject::tr("right"), letter,
             strength >= 2 ? QObject::tr(", strength 2") : QString());
}

QString kbd(const QString& key) {
    return QStringLiteral(
               "<span style=\"background-color:#eef1f4; color:#3d4650; border:1px solid #cfd5dc;"
               " font-family:monospace; font-weight:600;\">&nbsp;%1&nbsp;</span>")
        .arg(key.toHtmlEscaped());
}

void apply(QApplication& app) {
    app.setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
    QPalette p;
    p.setColor(QPalette::Window, window());
    p.setColor(QPalette::WindowText, text());
    p.setColor(QPalette::Base, surface());
    p.setColor(QPalette::AlternateBase, QColor(0xf8, 0xf9, 0xfb));
    p.setColor(QPalette::ToolTipBase, QColor(0xff, 0xff, 0xf4));
    p.setColor(QPalette::ToolTipText, text());
    p.setColor(QPalette::PlaceholderText, QColor(0x9a, 0xa1, 0xa9));
    p.setColor(QPalette::Text, text());
    p.setColor(QPalette::Button, QColor(0xfa, 0xfb, 0xfc));
    p.setColor(QPalette::ButtonText, text());
    p.setColor(QPalette::Highlight, QColor(0xd6, 0xe4, 0xf3));
    p.setColor(QPalette::HighlightedText, text());
    p.setColor(QPalette::Link, accent());
    p.setColor(QPalette::Mid, border());
    p.setColor(QPalette::Disabled, QPalette::Text, mutedText());
    p.setColor(QPalette::Disabled, QPalette::WindowText, mutedText());
    p.setColor(QPalette::Disabled, QPalette::ButtonText, mutedText());
    app.setPalette(p);

    QFont f = app.font();
    if (f.pointSizeF() < 10) f.setPointSizeF(10);
    app.setFont(f);

    app.setStyleSheet(QStringLiteral(R"(
QListWidget#sidebar { background: #e9ecf0; border: none; border-right: 1px solid #dde1e6;
  padding-top: 8px; outline: 0; }
QListWidget#sidebar::item { padding: 10px 14px; margin: 2px 6px; border-radius: 6px; color: #3d4650; }
QListWidget#sidebar::item:selected { background: #ffffff; color: #1f2328; font-weight: 600; }
QFrame#card { background: #ffffff; border: 1px solid #dde1e6; border-radius: 8px; }
QLabel#cardTitle { font-weight: 600; color: #1f2328; }
QLabel#cardMeta { color: #656d76; }
QLabel#hintBar { color: #656d76; padding: 4px 2px; }
QLabel#verdictChip { border-radius: 9px; padding: 2px 10px; font-weight: 600; }
QTextBrowser { border: none; background: transparent; }
QTableView { border: 1px solid #dde1e6; border-radius: 6px; gridline-color: #eef0f3;
  selection-background-color: #d6e4f3; selection-color: #1f2328; }
QHeaderView::section { background: #f4f5f7; border: none; border-bottom: 1px solid #dde1e6;
  padding: 4px 6px; color: #656d76; font-weight: 600; }
QLineEdit, QComboBox { border: 1px solid #cfd5dc; border-radius: 5px; padding: 4px 6px; background: #ffffff; }
QLineEdit:focus, QComboBox:focus { border: 1px solid #3a6ea5; }
QStatusBar { background: #e9ecf0; color: #3d4650; border-top: 1px solid #dde1e6; }
QSplitter::handle { background: transparent; }
QToolTip { border: 1px solid #cfd5dc; padding: 4px; }
)"));
}

}  // namespace dpowb::ui::theme
