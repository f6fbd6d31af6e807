// The workbench's look: a light, low-contrast palette with one accent colour, Fusion style,
// and a small style sheet for the parts Fusion does not cover (sidebar, cards, key hints).
#pragma once

#include <QColor>
#include <QString>

#include <optional>

#include "store/types.h"

class QApplication;

namespace dpowb::ui::theme {

void apply(QApplication& app);

QColor accent();
QColor window();
QColor surface();
QColor border();
QColor text();
QColor mutedText();
// Background tint of a diff highlight on the left / right response.
QString diffLeftColor();
QString diffRightColor();

// Colour and short text of a verdict in tables and chips.
QColor verdictColor(std::optional<store::Verdict> v);
QString verdictText(std::optional<store::Verdict> v, int strength = 1);
// A verdict in the words of the screen, for a pair whose stored response `shownLeft` ('a' or
// 'b') is on the left: "left better", "right much better", "tie", … A and B never appear.
QString screenVerdictText(std::optional<store::Verdict> v, int strength, char shownLeft);
// The same with the stored verdict alongside: "left better (B)"; short: "left · B", "left ≫ · B".
QString screenVerdictWithStored(std::optional<store::Verdict> v, int strength, char shownLeft);
QString screenVerdictShort(std::optional<store::Verdict> v, int strength, char shownLeft);
// One sentence for a tooltip: which response won and where it was shown.
QString verdictExplanation(std::optional<store::Verdict> v, int strength, char shownLeft);

// A keyboard key drawn as a small rounded chip, for inline hints in rich text.
QString kbd(const QString& key);

}  // namespace dpowb::ui::theme
