#include "import_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include "file_dialogs.h"
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <chrono>
#include <memory>

#include "common/error.h"
#include "error_line.h"
#include "store/project.h"
#include "theme.h"

namespace dpowb::ui {

namespace {

QString cut(const std::string& s, int n = 200) {
    QString q = QString::fromUtf8(s.data(), qsizetype(std::min<size_t>(s.size(), size_t(n) * 4))).simplified();
    return q.size() > n ? q.left(n - 1) + QChar(0x2026) : q;
}

}  // namespace

ImportDialog::ImportDialog(const QString& projectPath, QWidget* parent)
    : QDialog(parent), projectPath_(projectPath) {
    setWindowTitle(tr("Import pairs"));
    resize(900, 600);
    auto* lay = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    auto* fileRow = new QHBoxLayout;
    path_ = new QLineEdit(this);
    path_->setPlaceholderText(tr("JSONL, .jsonl.gz, JSON array, CSV or Parquet file"));
    auto* browseButton = new QPushButton(tr("Browse…"), this);
    fileRow->addWidget(path_, 1);
    fileRow->addWidget(browseButton);
    form->addRow(tr("File"), fileRow);
    format_ = new QComboBox(this);
    for (const auto& f : store::importFormats()) format_->addItem(QString::fromStdString(f));
    auto* formatRow = new QHBoxLayout;
    formatRow->addWidget(format_);
    detectedLabel_ = new QLabel(this);
    detectedLabel_->setObjectName(QStringLiteral("cardMeta"));
    formatRow->addWidget(detectedLabel_, 1);
    form->addRow(tr("Format"), formatRow);
    split_ = new QComboBox(this);
    split_->addItem(QStringLiteral("train"));
    split_->addItem(QStringLiteral("test"));
    split_->setToolTip(tr("The split of records that do not name one"));
    form->addRow(tr("Split"), split_);
    // Column mapping (LLaMA-Factory's dataset_info.json "columns"): for files whose column
    // names no built-in layout knows, e.g. question / answer_good / answer_bad.
    auto* mapRow = new QHBoxLayout;
    for (const char* field : {"prompt", "chosen", "rejected"}) {
        auto* box = new QComboBox(this);
        box->setObjectName(QStringLiteral("map_%1").arg(QLatin1String(field)));
        box->addItem(tr("as named"));
        box->setToolTip(tr("The file's column read as \"%1\"").arg(QLatin1String(field)));
        box->setSizeAdjustPolicy(QComboBox::AdjustToContents);
        mapRow->addWidget(new QLabel(QStringLiteral("%1 \u2190").arg(QLatin1String(field)), this));
        mapRow->addWidget(box);
        mapBoxes_.emplace_back(QLatin1String(field), box);
        connect(box, qOverload<int>(&QComboBox::activated), this, &ImportDialog::refreshPreview);
    }
    mapRow->addStretch(1);
    form->addRow(tr("Columns"), mapRow);
    lay->addLayout(form);

    lay->addWidget(new QLabel(tr("First records"), this));
    preview_ = new QTableWidget(0, 4, this);
    preview_->setHorizontalHeaderLabels({tr("Prompt"), tr("Response A"), tr("Response B"), tr("Label")});
    preview_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    preview_->horizontalHeader()->setSectionResizeMode(3, QHeaderView::ResizeToContents);
    preview_->verticalHeader()->hide();
    preview_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    preview_->setWordWrap(false);
    lay->addWidget(preview_, 1);

    progress_ = new QProgressBar(this);
    progress_->setTextVisible(true);
    progress_->hide();
    lay->addWidget(progress_);
    status_ = new QLabel(this);
    status_->setWordWrap(true);
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    lay->addWidget(status_);

    buttons_ = new QDialogButtonBox(QDialogButtonBox::Close, this);
    importButton_ = buttons_->addButton(tr("Import"), QDialogButtonBox::AcceptRole);
    importButton_->setEnabled(false);
    lay->addWidget(buttons_);

    connect(browseButton, &QPushButton::clicked, this, &ImportDialog::browse);
    connect(path_, &QLineEdit::editingFinished, this, [this] {
        if (!path_->text().isEmpty()) refreshPreview();
    });
    connect(format_, qOverload<int>(&QComboBox::activated), this, &ImportDialog::refreshPreview);
    connect(importButton_, &QPushButton::clicked, this, &ImportDialog::startImport);
    connect(buttons_, &QDialogButtonBox::rejected, this, &ImportDialog::reject);
    connect(&previewWatcher_, &QFutureWatcherBase::finished, this, [this] {
        showPreview(previewWatcher_.result());
    });
    connect(&importWatcher_, &QFutureWatcherBase::finished, this, [this] {
        finishImport(importWatcher_.result());
    });
}

ImportDialog::~ImportDialog() {
    // ~QDialog hides a shown dialog, which takes the focus from the path field: its
    // editingFinished handler would then preview again on a half-destroyed dialog (UBSan).
    path_->disconnect(this);
    cancel_ = true;
    importWatcher_.waitForFinished();
    previewWatcher_.waitForFinished();
}

QString ImportDialog::file() const { return path_->text(); }

QComboBox* ImportDialog::mapBox(const QString& field) const {
    for (const auto& [name, box] : mapBoxes_)
        if (name == field) return box;
    return nullptr;
}

store::ColumnMap ImportDialog::columnMap() const {
    store::ColumnMap map;
    for (const auto& [name, box] : mapBoxes_)
        if (box->currentIndex() > 0) map.entries.emplace_back(name.toStdString(), box->currentText().toStdString());
    return map;
}

void ImportDialog::setColumns(const QStringList& columns) {
    if (columns == columns_) return;
    columns_ = columns;
    for (const auto& [name, box] : mapBoxes_) {
        const QString keep = box->currentIndex() > 0 ? box->currentText() : QString();
        while (box->count() > 1) box->removeItem(1);
        box->addItems(columns);
        const int at = keep.isEmpty() ? -1 : box->findText(keep);
        box->setCurrentIndex(at > 0 ? at : 0);
    }
}
int ImportDialog::previewRowCount() const { return preview_->rowCount(); }
bool ImportDialog::isBusy() const { return importWatcher_.isRunning(); }

void ImportDialog::browse() {
    const QString f = dialogs::openFile(
        this, tr("Import pairs"), QFileInfo(path_->text()).absolutePath(),
        tr("Preference data (*.jsonl *.jsonl.gz *.json *.csv *.parquet *.gz);;All files (*)"));
    if (!f.isEmpty()) setFile(f);
}

void ImportDialog::setFile(const QString& path) {
    path_->setText(path);
    refreshPreview();
}

void ImportDialog::showError(const QString& message) {
    error_ = message;
    status_->setStyleSheet(QStringLiteral("color:#b03a2e;"));
    status_->setText(message);
}

void ImportDialog::refreshPreview() {
    error_.clear();
    detected_.clear();
    status_->clear();
    status_->setStyleSheet(QString());
    preview_->setRowCount(0);
    importButton_->setEnabled(false);
    detectedLabel_->setText(tr("reading…"));
    const std::string file = path_->text().toStdString();
    const std::string format = format_->currentText().toStdString();
    const store::ColumnMap map = columnMap();
    previewWatcher_.setFuture(QtConcurrent::run([file, format, map]() {
        PreviewOutcome out;
        try {
            // The columns first: a file no layout recognises can still be mapped.
            for (const auto& c : store::fileColumns(file)) out.columns << QString::fromStdString(c);
        } catch (const std::exception&) {
        }
        try {
            std::string detected;
            out.records = store::previewFile(file, format, 20, &detected, map);
            out.detected = QString::fromStdString(detected.empty() ? format : detected);
        } catch (const std::exception& e) {
            out.error = errorLine(e);
        }
        return out;
    }));
}

void ImportDialog::showPreview(const PreviewOutcome& outcome) {
    setColumns(outcome.columns);
    if (!outcome.error.isEmpty()) {
        detectedLabel_->setText(tr("not recognised"));
        QString message = outcome.error;
        if (message.contains(QLatin1String("cannot tell the format")) && !columns_.isEmpty())
            message += QLatin1Char(' ') + tr("Choose the columns that hold the prompt, the chosen and the rejected "
                                              "response under Columns.");
        showError(message);
        Q_EMIT previewReady();
        return;
    }
    detected_ = outcome.detected;
    detectedLabel_->setText(format_->currentText() == QLatin1String("auto") ? tr("detected: %1").arg(detected_)
                                                                             : QString());
    preview_->setRowCount(int(outcome.records.size()));
    for (int r = 0; r < int(outcome.records.size()); ++r) {
        const store::Pair& p = outcome.records[size_t(r)].pair;
        std::string prompt = p.prompt;
        if (p.isChat())
            for (const auto& m : p.promptMessages) prompt += m.role + ": " + m.content + "  ";
        const auto& v = outcome.records[size_t(r)].verdict;
        const QString cells[] = {cut(prompt), cut(p.responseA), cut(p.responseB), theme::verdictText(v)};
        for (int c = 0; c < 4; ++c) preview_->setItem(r, c, new QTableWidgetItem(cells[c]));
    }
    status_->setText(outcome.records.empty() ? tr("The file holds no records.")
                                             : tr("Showing the first %n record(s).", nullptr, int(outcome.records.size())));
    importButton_->setEnabled(!outcome.records.empty());
    Q_EMIT previewReady();
}

void ImportDialog::setBusy(bool busy) {
    importButton_->setEnabled(!busy);
    path_->setEnabled(!busy);
    format_->setEnabled(!busy);
    for (const auto& [name, box] : mapBoxes_) box->setEnabled(!busy);
    split_->setEnabled(!busy);
    progress_->setVisible(busy || progress_->value() > 0);
    buttons_->button(QDialogButtonBox::Close)->setText(busy ? tr("Cancel") : tr("Close"));
}

void ImportDialog::startImport() {
    if (isBusy() || path_->text().isEmpty()) return;
    cancel_ = false;
    succeeded_ = false;
    error_.clear();
    status_->setStyleSheet(QString());
    status_->setText(tr("Importing…"));
    progress_->setRange(0, 0);
    progress_->setValue(0);
    setBusy(true);

    store::ImportOptions options;
    options.format = format_->currentText().toStdString();
    options.map = columnMap();
    options.split = split_->currentText().toStdString();
    options.progress.cancel = &cancel_;
    // Reports come from the worker thread: hop to the GUI thread, at most ~20 times a second.
    QPointer<ImportDialog> self(this);
    auto last = std::make_shared<std::atomic<int64_t>>(0);
    options.progress.report = [self, last](int64_t done, int64_t total, const std::string& phase) {
        const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count();
        if (now - last->load() < 50 && done != total) return;
        last->store(now);
        const QString ph = QString::fromStdString(phase);
        QMetaObject::invokeMethod(
            self.data(),
            [self, done, total, ph] {
                if (!self) return;
                // The bar counts in thousandths so that totals beyond int range still fit.
                if (total > 0) {
                    self->progress_->setRange(0, 1000);
                    self->progress_->setValue(int(std::min<int64_t>(1000, done * 1000 / total)));
                    self->progress_->setFormat(QStringLiteral("%1  %p%").arg(ph));
                } else {
                    self->progress_->setRange(0, 0);
                }
                self->status_->setText(tr("%1: %L2 records").arg(ph).arg(done));
            },
            Qt::QueuedConnection);
    };
    const std::string project = projectPath_.toStdString();
    const std::string file = path_->text().toStdString();
    importWatcher_.setFuture(QtConcurrent::run([project, file, options]() {
        ImportOutcome out;
        try {
            auto p = store::Project::open(project);
            out.result = store::importFile(p, file, options);
        } catch (const Cancelled&) {
            out.cancelled = true;
        } catch (const std::exception& e) {
            out.error = errorLine(e);
        }
        return out;
    }));
}

void ImportDialog::finishImport(const ImportOutcome& outcome) {
    progress_->setRange(0, 1000);
    progress_->setValue(outcome.error.isEmpty() && !outcome.cancelled ? 1000 : 0);
    setBusy(false);
    QString message;
    if (outcome.cancelled) {
        message = tr("Import cancelled; the project is unchanged.");
        status_->setStyleSheet(QString());
        status_->setText(message);
    } else if (!outcome.error.isEmpty()) {
        message = outcome.error;
        showError(message);
    } else {
        succeeded_ = true;
        result_ = outcome.result;
        message = tr("Imported %L1 new pairs (%L2 records read, %L3 duplicates skipped, %L4 arrived labelled).")
                      .arg(result_.inserted)
                      .arg(result_.records)
                      .arg(result_.duplicates)
                      .arg(result_.labelled);
        status_->setStyleSheet(QStringLiteral("color:#2e7d4f;"));
        status_->setText(message);
        importButton_->setEnabled(false);
    }
    Q_EMIT importFinished(succeeded_, message);
    if (closeWhenDone_) QDialog::reject();
}

void ImportDialog::cancelImport() {
    if (!isBusy()) return;
    cancel_ = true;
    status_->setText(tr("Cancelling…"));
}

void ImportDialog::reject() {
    if (isBusy()) {
        if (QMessageBox::question(this, windowTitle(), tr("Stop the import? Nothing will be added.")) !=
            QMessageBox::Yes)
            return;
        closeWhenDone_ = true;
        cancelImport();
        return;
    }
    QDialog::reject();
}

}  // namespace dpowb::ui
