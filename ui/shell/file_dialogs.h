// File dialogs that never touch the files they list.
//
// Qt's own dialog (and the GTK/portal ones behind the "native" option) find an icon and a
// type name for every entry; for names whose extension does not settle the MIME type (a
// project's "-wal" and "-shm" files, "*.db") that means opening the file and reading its first
// bytes. Opening and closing a file drops every POSIX lock this process holds on it, and the
// GUI holds SQLite's locks on the project it has open: one "Export…" dialog in the project's
// folder was enough for a CLI process to take the project for unused, checkpoint it and delete
// the -wal/-shm the GUI still had mapped (see docs/ARCHITECTURE.md, "The project file and
// other processes"). These dialogs are Qt's widget dialog with an icon provider that decides
// by name and stat() alone. Every file dialog of the GUI goes through here.
#pragma once

#include <QAbstractFileIconProvider>
#include <QString>

class QFileDialog;
class QWidget;

namespace dpowb::ui {

// Icons and type names from the file's kind (stat) and name; never reads a file.
class NameOnlyIconProvider : public QAbstractFileIconProvider {
public:
    QIcon icon(IconType type) const override;
    QIcon icon(const QFileInfo& info) const override;
    QString type(const QFileInfo& info) const override;
};

namespace dialogs {

// A dialog set up as the functions below use it (for tests and non-modal use); caller owns it.
QFileDialog* create(QWidget* parent, const QString& caption, const QString& dir, const QString& filter);

QString openFile(QWidget* parent, const QString& caption, const QString& dir, const QString& filter = {});
QString saveFile(QWidget* parent, const QString& caption, const QString& path, const QString& filter = {});
QString existingDirectory(QWidget* parent, const QString& caption, const QString& dir);

}  // namespace dialogs
}  // namespace dpowb::ui
