#include "label_keys.h"

#include <QKeyEvent>
#include <QKeySequence>

namespace dpowb::ui {

LabelCommand labelCommandFor(int key, Qt::KeyboardModifiers modifiers) {
    using C = LabelCommand;
    // The keypad flag says where a digit came from, not what it means.
    modifiers &= ~Qt::KeypadModifier;
    const bool shift = modifiers & Qt::ShiftModifier;
    const Qt::KeyboardModifiers other = modifiers & ~Qt::ShiftModifier;
    if (other == Qt::ControlModifier) {
        if (key == Qt::Key_Z && !shift) return C::Undo;
        return C::None;
    }
    if (other != Qt::NoModifier) return C::None;  // Alt, Meta, Ctrl+Alt: not ours
    switch (key) {
    case Qt::Key_1: return shift ? C::LeftMuchBetter : C::LeftBetter;
    case Qt::Key_Exclam: return C::LeftMuchBetter;
    case Qt::Key_2: return shift ? C::RightMuchBetter : C::RightBetter;
    case Qt::Key_At:
    case Qt::Key_QuoteDbl: return C::RightMuchBetter;
    case Qt::Key_Question: return C::Help;  // Shift+/ on most layouts
    case Qt::Key_Escape: return shift ? C::None : C::Leave;
    default: break;
    }
    if (shift) return C::None;  // Shift+3, Shift+S, …: unbound, so a slip does nothing
    switch (key) {
    case Qt::Key_3: return C::Tie;
    case Qt::Key_4: return C::BothBad;
    case Qt::Key_S: return C::Skip;
    case Qt::Key_J:
    case Qt::Key_Down: return C::Next;
    case Qt::Key_K:
    case Qt::Key_Up: return C::Previous;
    case Qt::Key_N: return C::NextUnlabelled;
    case Qt::Key_E: return C::EditResponse;
    case Qt::Key_R: return C::Rationale;
    case Qt::Key_Slash: return C::Search;
    case Qt::Key_D: return C::WordDiff;
    default: return C::None;
    }
}

LabelCommand labelCommandFor(const QKeyEvent& event) {
    if (event.matches(QKeySequence::Undo)) return LabelCommand::Undo;
    return labelCommandFor(event.key(), event.modifiers());
}

bool isLabelling(LabelCommand command) {
    switch (command) {
    case LabelCommand::LeftBetter:
    case LabelCommand::LeftMuchBetter:
    case LabelCommand::RightBetter:
    case LabelCommand::RightMuchBetter:
    case LabelCommand::Tie:
    case LabelCommand::BothBad:
    case LabelCommand::Skip:
    case LabelCommand::Undo: return true;
    default: return false;
    }
}

const char* labelCommandName(LabelCommand command) {
    switch (command) {
    case LabelCommand::None: return "none";
    case LabelCommand::LeftBetter: return "left better";
    case LabelCommand::LeftMuchBetter: return "left much better";
    case LabelCommand::RightBetter: return "right better";
    case LabelCommand::RightMuchBetter: return "right much better";
    case LabelCommand::Tie: return "tie";
    case LabelCommand::BothBad: return "both bad";
    case LabelCommand::Skip: return "skip";
    case LabelCommand::Undo: return "undo";
    case LabelCommand::Next: return "next";
    case LabelCommand::Previous: return "previous";
    case LabelCommand::NextUnlabelled: return "next unlabelled";
    case LabelCommand::EditResponse: return "edit response";
    case LabelCommand::Rationale: return "rationale";
    case LabelCommand::Search: return "search";
    case LabelCommand::WordDiff: return "word diff";
    case LabelCommand::Help: return "help";
    case LabelCommand::Leave: return "leave";
    }
    return "?";
}

}  // namespace dpowb::ui
