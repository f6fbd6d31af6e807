// File > Import: pick a file, see the detected format and the first records, choose the
// split, import with a progress bar. Detection, preview and the import itself run in worker
// threads (the import on its own connection to the project); Cancel stops the import at its
// next check and the project is left as it was (the import is one transaction).
#pragma once

#include <QDialog>
#include <QFutureWatcher>

#include <atomic>

#include "store/formats.h"

class QComboBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTableWidget;

namespace dpowb::ui {

class ImportDialog : public QDialog {
    Q_OBJECT
public:
    ImportDialog(const QString& projectPath, QWidget* parent = nullptr);
    ~ImportDialog() override;  // cancels and waits for a running import

    void setFile(const QString& path);  // starts detection and preview
    QString file() const;
    QString detectedFormat() const { return detected_; }
    QString errorText() const { return error_; }
    int previewRowCount() const;
    bool isBusy() const;
    bool importSucceeded() const { return succeeded_; }
    const store::ImportResult& result() const { return result_; }

    QComboBox* formatBox() const { return format_; }
    QComboBox* splitBox() const { return split_; }
    // The column mapping: which column of the file is read as "prompt", "chosen", "rejected"
    // (item 0 = "as named"); a change previews again.
    QComboBox* mapBox(const QString& field) const;
    QStringList fileColumns() const { return columns_; }
    store::ColumnMap columnMap() const;
    QTableWidget* previewTable() const { return preview_; }
    QPushButton* importButton() const { return importButton_; }
    QProgressBar* progressBar() const { return progress_; }

public Q_SLOTS:
    void startImport();
    void cancelImport();
    void reject() override;

Q_SIGNALS:
    void previewReady();                                  // after setFile / a format change
    void importFinished(bool ok, const QString& message);

private:
    struct PreviewOutcome {
        QString detected;
        QStringList columns;
        std::vector<store::PreviewRecord> records;
        QString error;
    };
    struct ImportOutcome {
        store::ImportResult result;
        bool cancelled = false;
        QString error;
    };
    void browse();
    void refreshPreview();
    void showPreview(const PreviewOutcome& outcome);
    void finishImport(const ImportOutcome& outcome);
    void setBusy(bool busy);
    void showError(const QString& message);

    void setColumns(const QStringList& columns);
    QString projectPath_;
    QStringList columns_;
    std::vector<std::pair<QString, QComboBox*>> mapBoxes_;
    QString detected_;
    QString error_;
    bool succeeded_ = false;
    bool closeWhenDone_ = false;
    store::ImportResult result_;
    std::atomic<bool> cancel_{false};
    quint64 previewGeneration_ = 0;
    QFutureWatcher<PreviewOutcome> previewWatcher_;
    QFutureWatcher<ImportOutcome> importWatcher_;

    QLineEdit* path_;
    QComboBox* format_;
    QComboBox* split_;
    QLabel* detectedLabel_;
    QTableWidget* preview_;
    QProgressBar* progress_;
    QLabel* status_;
    QPushButton* importButton_;
    QDialogButtonBox* buttons_;
};

}  // namespace dpowb::ui
