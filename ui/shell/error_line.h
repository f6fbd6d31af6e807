// Errors from the core as the GUI shows them (message boxes, status lines, error labels, the
// training log): one printable line of valid UTF-8 of bounded length, however much of a hostile
// file the message quotes (common/error_text.h's oneLine, the same text the CLI prints).
#pragma once

#include <exception>
#include <string>

#include <QString>

namespace dpowb::ui {

QString errorLine(const std::string& message);
QString errorLine(const std::exception& e);
QString errorLine(const QString& message);

}  // namespace dpowb::ui
