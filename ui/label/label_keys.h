// The label page's keyboard: one table from a key press to a command, used for every key the
// page reacts to (there are no QAction shortcuts for them, so no key is bound twice).
//
// Shifted digits arrive in two forms: as the digit with Shift (most platforms, the keypad) or
// as the shifted character with Shift (X11: Shift+1 is Key_Exclam on a US layout, Shift+2 is
// Key_At there and Key_QuoteDbl on UK/German layouts). Both forms give the same command.
#pragma once

#include <Qt>

class QKeyEvent;

namespace dpowb::ui {

enum class LabelCommand {
    None,
    LeftBetter,
    LeftMuchBetter,
    RightBetter,
    RightMuchBetter,
    Tie,
    BothBad,
    Skip,
    Undo,
    Next,
    Previous,
    NextUnlabelled,
    EditResponse,
    Rationale,
    Search,
    WordDiff,
    Help,
    Leave,  // Esc: out of a text field, back to the list
};

LabelCommand labelCommandFor(int key, Qt::KeyboardModifiers modifiers);
LabelCommand labelCommandFor(const QKeyEvent& event);
// Commands that write a label: a held-down key must not label pair after pair.
bool isLabelling(LabelCommand command);
const char* labelCommandName(LabelCommand command);

}  // namespace dpowb::ui
