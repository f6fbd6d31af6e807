#include "edit_response_dialog.h"

#include <QCheckBox>
#include <QDialogButtonBox>
#include <QFontDatabase>
#include <QLabel>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace dpowb::ui {

EditResponseDialog::EditResponseDialog(const QString& original, const QString& sideName, QWidget* parent)
    : QDialog(parent), original_(original) {
    setWindowTitle(tr("Edit the %1 response").arg(sideName));
    resize(760, 560);
    auto* lay = new QVBoxLayout(this);
    auto* intro = new QLabel(tr("The original pair stays as it is. Saving adds a new pair: your edited "
                                "text against the original response, with the same prompt."),
                             this);
    intro->setWordWrap(true);
    lay->addWidget(intro);
    edit_ = new QPlainTextEdit(this);
    edit_->setPlainText(original);
    edit_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    lay->addWidget(edit_, 1);
    prefer_ = new QCheckBox(tr("Label the new pair: the edited response is better"), this);
    prefer_->setChecked(true);
    lay->addWidget(prefer_);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Save | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Save)->setText(tr("Add as new pair"));
    connect(buttons, &QDialogButtonBox::accepted, this, [this] {
        if (!isModified()) {
            QMessageBox::information(this, windowTitle(), tr("The text is unchanged: there is nothing to add."));
            return;
        }
        accept();
    });
    connect(buttons, &QDialogButtonBox::rejected, this, &EditResponseDialog::reject);
    lay->addWidget(buttons);
}

QString EditResponseDialog::editedText() const { return edit_->toPlainText(); }
bool EditResponseDialog::isModified() const { return edit_->toPlainText() != original_; }
bool EditResponseDialog::labelEditedAsBetter() const { return prefer_->isChecked(); }

void EditResponseDialog::reject() {
    if (isModified() &&
        QMessageBox::question(this, windowTitle(), tr("Discard your edit?"),
                              QMessageBox::Discard | QMessageBox::Cancel, QMessageBox::Cancel) !=
            QMessageBox::Discard)
        return;
    QDialog::reject();
}

}  // namespace dpowb::ui
