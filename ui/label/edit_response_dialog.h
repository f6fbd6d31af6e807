// Editing a response (E): the original pair is never changed; the edited text becomes a new
// pair "edited vs original" so that a correction is itself a preference to train on.
#pragma once

#include <QDialog>

class QCheckBox;
class QPlainTextEdit;

namespace dpowb::ui {

class EditResponseDialog : public QDialog {
    Q_OBJECT
public:
    EditResponseDialog(const QString& original, const QString& sideName, QWidget* parent = nullptr);
    QString editedText() const;
    bool isModified() const;
    bool labelEditedAsBetter() const;
    QPlainTextEdit* editor() const { return edit_; }

public Q_SLOTS:
    void reject() override;  // asks before throwing an edit away

private:
    QString original_;
    QPlainTextEdit* edit_;
    QCheckBox* prefer_;
};

}  // namespace dpowb::ui
