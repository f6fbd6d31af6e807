// "Sample pairs…": what `dpowb sample-pairs` does, from the compare view — one policy and one
// reference completion for each of N distinct prompts of a split, added as new unlabelled
// pairs (source policy-vs-reference) in one transaction at the end, so a stop or a failure
// adds nothing. Uses the view's models and sampling settings.
#pragma once

#include <QDialog>

QT_BEGIN_NAMESPACE
class QComboBox;
class QDialogButtonBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;
QT_END_NAMESPACE

namespace dpowb::ui {

class CompareView;

class CompareSampleDialog : public QDialog {
    Q_OBJECT
public:
    explicit CompareSampleDialog(CompareView* view);

    QSpinBox* promptsSpin() const { return prompts_; }
    QComboBox* fromSplitCombo() const { return fromSplit_; }
    QComboBox* toSplitCombo() const { return toSplit_; }
    QPushButton* startButton() const { return start_; }
    QString resultText() const;

private:
    void start();
    void onFinished(int added, int generated, bool cancelled, const QString& error);

    CompareView* view_;
    QSpinBox* prompts_;
    QComboBox* fromSplit_;
    QComboBox* toSplit_;
    QProgressBar* progress_;
    QLabel* result_;
    QPushButton* start_;
    QPushButton* stop_;
    QDialogButtonBox* buttons_;
    bool running_ = false;
};

}  // namespace dpowb::ui
