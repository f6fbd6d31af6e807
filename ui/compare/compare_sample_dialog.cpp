#include "compare_sample_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include "compare_view.h"

namespace dpowb::ui {

CompareSampleDialog::CompareSampleDialog(CompareView* view) : QDialog(view), view_(view) {
    setWindowTitle(tr("Sample pairs"));
    auto* layout = new QVBoxLayout(this);
    const CompareModels m = view->models();
    auto* intro = new QLabel(tr("For each prompt, one completion from the policy (<tt>%1</tt>) and one from the reference "
                                "(<tt>%2</tt>) with the view's sampling settings become a new unlabelled pair "
                                "(A = policy, B = reference). Nothing is added unless every prompt gets its pair.")
                                 .arg(m.policyPath.toHtmlEscaped(), m.referencePath.toHtmlEscaped()));
    intro->setWordWrap(true);
    layout->addWidget(intro);
    auto* form = new QFormLayout;
    prompts_ = new QSpinBox;
    prompts_->setRange(1, 100000);
    prompts_->setValue(20);
    fromSplit_ = new QComboBox;
    fromSplit_->addItems({QStringLiteral("test"), QStringLiteral("train")});
    toSplit_ = new QComboBox;
    toSplit_->addItems({QStringLiteral("test"), QStringLiteral("train")});
    // New pairs go to the split their prompts came from unless the user says otherwise: pairs
    // made from test prompts in split train would leak the evaluation set into training.
    connect(fromSplit_, &QComboBox::currentTextChanged, toSplit_, &QComboBox::setCurrentText);
    form->addRow(tr("Prompts"), prompts_);
    form->addRow(tr("Take prompts from split"), fromSplit_);
    form->addRow(tr("Add the pairs to split"), toSplit_);
    layout->addLayout(form);
    progress_ = new QProgressBar;
    progress_->setRange(0, 1);
    progress_->setValue(0);
    layout->addWidget(progress_);
    result_ = new QLabel;
    result_->setWordWrap(true);
    layout->addWidget(result_);
    buttons_ = new QDialogButtonBox;
    start_ = buttons_->addButton(tr("Start"), QDialogButtonBox::AcceptRole);
    stop_ = buttons_->addButton(tr("Stop"), QDialogButtonBox::ActionRole);
    stop_->setEnabled(false);
    buttons_->addButton(QDialogButtonBox::Close);
    layout->addWidget(buttons_);

    connect(start_, &QPushButton::clicked, this, &CompareSampleDialog::start);
    connect(stop_, &QPushButton::clicked, view_, &CompareView::stop);
    connect(buttons_, &QDialogButtonBox::rejected, this, [this] {
        if (running_) view_->stop();
        reject();
    });
    connect(view_, &CompareView::sampleProgress, this, [this](int done, int total) {
        progress_->setRange(0, total);
        progress_->setValue(done);
        result_->setText(tr("%1 of %2 prompts...").arg(done).arg(total));
    });
    connect(view_, &CompareView::samplesFinished, this, &CompareSampleDialog::onFinished);
}

QString CompareSampleDialog::resultText() const { return result_->text(); }

void CompareSampleDialog::start() {
    if (running_) return;
    result_->clear();
    if (!view_->samplePairs(prompts_->value(), fromSplit_->currentText(), toSplit_->currentText())) {
        result_->setText(view_->errorText());
        return;
    }
    running_ = true;
    start_->setEnabled(false);
    stop_->setEnabled(true);
}

void CompareSampleDialog::onFinished(int added, int generated, bool cancelled, const QString& error) {
    if (!running_) return;
    running_ = false;
    start_->setEnabled(true);
    stop_->setEnabled(false);
    if (!error.isEmpty()) result_->setText(tr("Failed: %1. Nothing was added.").arg(error));
    else if (cancelled) result_->setText(tr("Stopped. Nothing was added."));
    else
        result_->setText(tr("%1 new pairs added to the project (%2 generated; the rest were already there).")
                             .arg(added)
                             .arg(generated));
}

}  // namespace dpowb::ui
