#include "error_line.h"

#include "common/error_text.h"

namespace dpowb::ui {

QString errorLine(const std::string& message) { return QString::fromStdString(oneLine(message)); }

QString errorLine(const std::exception& e) { return errorLine(std::string(e.what())); }

QString errorLine(const QString& message) { return errorLine(message.toStdString()); }

}  // namespace dpowb::ui
