#include "file_dialogs.h"

#include <QApplication>
#include <QFileDialog>
#include <QFileInfo>
#include <QStyle>

namespace dpowb::ui {

QIcon NameOnlyIconProvider::icon(IconType type) const {
    QStyle* style = QApplication::style();
    switch (type) {
    case Computer: return style->standardIcon(QStyle::SP_ComputerIcon);
    case Desktop: return style->standardIcon(QStyle::SP_DesktopIcon);
    case Trashcan: return style->standardIcon(QStyle::SP_TrashIcon);
    case Network: return style->standardIcon(QStyle::SP_DriveNetIcon);
    case Drive: return style->standardIcon(QStyle::SP_DriveHDIcon);
    case Folder: return style->standardIcon(QStyle::SP_DirIcon);
    case File: break;
    }
    return style->standardIcon(QStyle::SP_FileIcon);
}

QIcon NameOnlyIconProvider::icon(const QFileInfo& info) const {
    if (info.isRoot()) return icon(Drive);
    if (info.isDir()) return icon(Folder);
    return icon(File);
}

QString NameOnlyIconProvider::type(const QFileInfo& info) const {
    if (info.isRoot()) return QApplication::translate("FileDialogs", "Drive");
    if (info.isDir()) return QApplication::translate("FileDialogs", "Folder");
    if (info.isSymLink() && !info.exists()) return QApplication::translate("FileDialogs", "Broken link");
    const QString suffix = info.suffix();
    if (suffix.isEmpty()) return QApplication::translate("FileDialogs", "File");
    return QApplication::translate("FileDialogs", "%1 file").arg(suffix.toUpper());
}

namespace dialogs {

namespace {

NameOnlyIconProvider* sharedProvider() {
    static NameOnlyIconProvider provider;  // lives as long as the program; dialogs only point to it
    return &provider;
}

QString runDialog(QFileDialog* dialog) {
    QString chosen;
    if (dialog->exec() == QDialog::Accepted && !dialog->selectedFiles().isEmpty()) chosen = dialog->selectedFiles().front();
    delete dialog;
    return chosen;
}

}  // namespace

QFileDialog* create(QWidget* parent, const QString& caption, const QString& dir, const QString& filter) {
    auto* dialog = new QFileDialog(parent, caption, dir, filter);
    // The native dialogs (GTK in-process, or a portal) sniff contents to choose icons and
    // thumbnails; Qt's widget dialog asks the provider below instead.
    dialog->setOption(QFileDialog::DontUseNativeDialog, true);
    dialog->setOption(QFileDialog::DontUseCustomDirectoryIcons, true);
    dialog->setIconProvider(sharedProvider());
    return dialog;
}

QString openFile(QWidget* parent, const QString& caption, const QString& dir, const QString& filter) {
    QFileDialog* d = create(parent, caption, dir, filter);
    d->setAcceptMode(QFileDialog::AcceptOpen);
    d->setFileMode(QFileDialog::ExistingFile);
    return runDialog(d);
}

QString saveFile(QWidget* parent, const QString& caption, const QString& path, const QString& filter) {
    QFileDialog* d = create(parent, caption, path, filter);
    d->setAcceptMode(QFileDialog::AcceptSave);
    d->setFileMode(QFileDialog::AnyFile);
    return runDialog(d);
}

QString existingDirectory(QWidget* parent, const QString& caption, const QString& dir) {
    QFileDialog* d = create(parent, caption, dir, {});
    d->setAcceptMode(QFileDialog::AcceptOpen);
    d->setFileMode(QFileDialog::Directory);
    d->setOption(QFileDialog::ShowDirsOnly, true);
    return runDialog(d);
}

}  // namespace dialogs
}  // namespace dpowb::ui
