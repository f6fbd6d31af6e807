// The form that configures a training run: every option of `dpowb train`, presets that
// fill it, the model folder checked as soon as it is chosen, what the run will train on,
// and an estimate of the memory it needs.
#pragma once

#include <QString>
#include <QWidget>
#include <optional>

#include "model/config.h"
#include "train/trainer.h"
#include "train_metatypes.h"

QT_BEGIN_NAMESPACE
class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPushButton;
class QRadioButton;
class QSpinBox;
QT_END_NAMESPACE

namespace dpowb::ui {

class CachedModelsButton;

// What a model folder (or builtin:tiny) holds, read without loading any weights
// (model/inspect.h), with the reason the form cannot train it.
struct ModelInfo {
    bool ok = false;
    QString error;          // why the folder cannot be trained (when !ok)
    model::ModelConfig config;
    qint64 parameters = 0;
    qint64 weightBytes = 0;  // size of the safetensors files on disk
    bool tokenizer = false;  // tokenizer.json present
    QString chatTemplate;    // recognised template name, "none", or why it is not recognised
    QString hubName;         // "ORG/NAME @ REVISION12" for a snapshot of the Hugging Face cache
    QString summary() const;
};
ModelInfo inspectModel(const QString& folderOrBuiltin);

// What the project's current labels give the trainer.
struct DataSummary {
    qint64 trainPairs = 0, testPairs = 0;  // verdict a/b per split
    qint64 ties = 0, bothBad = 0, skipped = 0, unlabelled = 0;
    QString error;
    bool ready = false;  // false until counted
};

class RunForm : public QWidget {
    Q_OBJECT
public:
    explicit RunForm(QWidget* parent = nullptr);

    // The configuration the form describes; `db` is left for the caller (the project path).
    train::TrainConfig config() const;
    void setConfig(const train::TrainConfig& config);
    // Fills the form with a named preset (train/presets.h), keeping the data, the device and
    // a model folder already chosen.
    void applyPreset(const std::string& name);

    void setDataSummary(const DataSummary& summary);
    // While a run is going the form stays editable but Start is disabled.
    void setRunning(bool running);

    const ModelInfo& modelInfo() const { return modelInfo_; }
    CachedModelsButton* cachedModels() const { return cachedModels_; }  // the Hugging Face cache's models
    QString startBlocker() const;  // why Start is disabled ("" when it is not)

    QPushButton* startButton() const { return start_; }
    // "Hold out N % as test": shown while the project has trainable pairs but no test pairs.
    QWidget* holdOutRow() const { return holdOutRow_; }
    // The width the form needs to show every field whole, without a horizontal scrollbar.
    int neededWidth() const;
    QSpinBox* holdOutPercent() const { return holdOutPercent_; }
    QPushButton* holdOutButton() const { return holdOutButton_; }

    // Data parallelism: "GPUs to use" is offered only when there is more than one GPU; all
    // are chosen at first, one process per chosen GPU (the job sees only those,
    // CUDA_VISIBLE_DEVICES, and its rank i trains on the i-th of them). The form lists the
    // driver's GPUs itself; tests give a list ("cuda:N — model").
    void setGpus(const QStringList& gpus);
    // The chosen GPUs' CUDA indices (empty when none is offered).
    QList<int> chosenGpus() const;
    // How many processes the run uses (1 = in this program, on the training thread).
    int processes() const;
    QComboBox* presetBox() const { return preset_; }

Q_SIGNALS:
    void startRequested(const dpowb::train::TrainConfig& config);
    // Move `percent` % of the trainable train pairs to the test split, chosen by `seed` (the
    // form's training seed); store/holdout.h.
    void holdOutRequested(double percent, quint64 seed);

private:
    void buildUi();
    void modelChanged();
    void updateEstimate();
    void updateStart();
    QString pickFolder(const QString& title, const QString& current);

    // data and model
    QLineEdit* name_;
    QComboBox* preset_;
    QRadioButton* builtin_;
    QRadioButton* folder_;
    QLineEdit* modelPath_;
    QPushButton* browseModel_;
    CachedModelsButton* cachedModels_ = nullptr;
    QLabel* modelInfoLabel_;
    QLabel* lossSummary_ = nullptr;  // the chosen loss's one line (train/loss_types.h)
    QLineEdit* refPath_;
    QLineEdit* outPath_;
    QLineEdit* dataFile_;
    QLineEdit* evalDataFile_;
    QLineEdit* metricsFile_;
    // loss
    QComboBox* loss_;
    QDoubleSpinBox* beta_;
    QDoubleSpinBox* labelSmoothing_;
    QComboBox* agreement_;  // --agreement
    QCheckBox* referenceFree_;
    QDoubleSpinBox* rpoAlpha_;
    QCheckBox* precomputeRef_;
    // TRL 1.x's loss options beyond the loss itself (train/loss_types.h, TrainConfig)
    QDoubleSpinBox* lossWeight_;   // the chosen loss's weight in a combination
    QLineEdit* extraTerms_;        // further terms, "bco_pair=0.2, sft=1" (MPO with sigmoid 0.8)
    QDoubleSpinBox* simpoGamma_;
    QDoubleSpinBox* ldAlpha_;
    QCheckBox* useWeighting_;
    QComboBox* fDivergence_;
    QDoubleSpinBox* fAlpha_;
    QCheckBox* syncRef_;
    QDoubleSpinBox* syncAlpha_;
    QSpinBox* syncSteps_;
    QSpinBox* sftEpochs_;
    QComboBox* sftOn_;
    // optimisation
    QLineEdit* lr_;
    QComboBox* scheduler_;
    QSpinBox* warmup_;
    QDoubleSpinBox* weightDecay_;
    QDoubleSpinBox* maxGradNorm_;
    QLineEdit* adamBeta1_;
    QLineEdit* adamBeta2_;
    QLineEdit* adamEpsilon_;
    QDoubleSpinBox* epochs_;
    QSpinBox* maxSteps_;
    QSpinBox* batch_;
    QSpinBox* gradAccum_;
    QSpinBox* maxLength_;
    QSpinBox* maxPromptLength_;
    QComboBox* truncation_;
    // LoRA
    QSpinBox* loraRank_;
    QDoubleSpinBox* loraAlpha_;
    QDoubleSpinBox* loraDropout_;
    QLineEdit* loraTargets_;
    // hardware and logging
    QComboBox* dtype_;
    QComboBox* device_;
    QSpinBox* seed_;
    QSpinBox* loggingSteps_;
    QSpinBox* evalSteps_;
    QSpinBox* saveSteps_;
    QListWidget* gpus_;
    QLabel* processesLabel_;
    QWidget* processesRow_;
    int gpuCount_ = 0;

    QLabel* dataLabel_;
    QLabel* memoryLabel_;
    QLabel* blockerLabel_;
    QPushButton* start_ = nullptr;

    ModelInfo modelInfo_;
    DataSummary data_;
    QWidget* holdOutRow_ = nullptr;
    QSpinBox* holdOutPercent_ = nullptr;
    QPushButton* holdOutButton_ = nullptr;
    bool running_ = false;
    bool applying_ = false;  // setConfig in progress: no per-field reactions
};

}  // namespace dpowb::ui
