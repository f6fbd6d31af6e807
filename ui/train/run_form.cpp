#include "run_form.h"

#include <QButtonGroup>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QDoubleValidator>
#include <QFile>
#include "cached_models.h"
#include "model/hf_cache.h"
#include "file_dialogs.h"
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QLocale>
#include <QPushButton>
#include <QRadioButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSpinBox>
#include <QVBoxLayout>
#include <algorithm>
#include <climits>
#include <cmath>

#include "common/error.h"
#include "error_line.h"
#include "model/inspect.h"
#include "train/estimate.h"
#include "train/loss_types.h"
#include "train/presets.h"

namespace dpowb::ui {

namespace {

constexpr const char* kBuiltin = "builtin:tiny";

QString formatBytes(double bytes) { return QLocale().formattedDataSize(static_cast<qint64>(bytes), 1); }

QString formatCount(qint64 n) {
    if (n >= 1'000'000'000) return QStringLiteral("%1 B").arg(n / 1e9, 0, 'f', 2);
    if (n >= 1'000'000) return QStringLiteral("%1 M").arg(n / 1e6, 0, 'f', 1);
    if (n >= 1'000) return QStringLiteral("%1 k").arg(n / 1e3, 0, 'f', 1);
    return QString::number(n);
}

// CUDA devices as the NVIDIA driver lists them, without loading any GPU library.
QStringList cudaDevices() {
    QStringList out;
    QDir gpus(QStringLiteral("/proc/driver/nvidia/gpus"));
    const QStringList entries = gpus.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
    for (int i = 0; i < entries.size(); ++i) {
        QString model;
        QFile info(gpus.filePath(entries[i] + "/information"));
        if (info.open(QIODevice::ReadOnly)) {
            for (const QByteArray& line : info.readAll().split('\n'))
                if (line.startsWith("Model:")) model = QString::fromUtf8(line.mid(6)).trimmed();
        }
        out << (model.isEmpty() ? QStringLiteral("cuda:%1").arg(i) : QStringLiteral("cuda:%1 — %2").arg(i).arg(model));
    }
    return out;
}

QLineEdit* numberEdit(QWidget* parent) {
    auto* e = new QLineEdit(parent);
    auto* v = new QDoubleValidator(e);
    v->setNotation(QDoubleValidator::ScientificNotation);
    v->setLocale(QLocale::c());
    e->setValidator(v);
    return e;
}

QString numberText(double v) { return QString::number(v, 'g', 6); }

bool parseNumber(const QLineEdit* e, double* out) {
    bool ok = false;
    const double v = QLocale::c().toDouble(e->text().trimmed(), &ok);
    if (ok) *out = v;
    return ok;
}

QSpinBox* spin(QWidget* parent, int lo, int hi) {
    auto* s = new QSpinBox(parent);
    s->setRange(lo, hi);
    s->setGroupSeparatorShown(true);
    return s;
}

QDoubleSpinBox* dspin(QWidget* parent, double lo, double hi, int decimals, double step) {
    auto* s = new QDoubleSpinBox(parent);
    s->setRange(lo, hi);
    s->setDecimals(decimals);
    s->setSingleStep(step);
    return s;
}

void setCombo(QComboBox* box, const QString& value) {
    int i = box->findData(value);
    if (i < 0) i = box->findText(value);
    if (i >= 0) {
        box->setCurrentIndex(i);
    } else if (box->isEditable()) {
        box->setEditText(value);
    }
}

QString comboValue(const QComboBox* box) {
    if (box->isEditable()) {
        const int i = box->findText(box->currentText());
        if (i >= 0 && box->itemData(i).isValid()) return box->itemData(i).toString();
        return box->currentText().section(QStringLiteral(" — "), 0, 0).trimmed();
    }
    const QVariant d = box->currentData();
    return d.isValid() ? d.toString() : box->currentText();
}

}  // namespace

QString ModelInfo::summary() const {
    if (!ok) return error;
    QStringList lines;
    if (!hubName.isEmpty()) lines << QObject::tr("Hugging Face cache: %1").arg(hubName);
    lines << QObject::tr("%1 (%2) · %3 parameters · %4 layers, hidden %5")
                 .arg(QString::fromStdString(config.architecture), QString::fromStdString(config.modelType),
                      formatCount(parameters))
                 .arg(config.numLayers)
                 .arg(config.hiddenSize);
    QString files = weightBytes > 0 ? QObject::tr("weights %1 on disk").arg(formatBytes(double(weightBytes)))
                                    : QObject::tr("weights created from a seed");
    lines << QObject::tr("%1 · tokenizer: %2 · chat template: %3")
                 .arg(files, tokenizer ? QObject::tr("yes") : QObject::tr("MISSING"), chatTemplate);
    return lines.join('\n');
}

ModelInfo inspectModel(const QString& folderOrBuiltin) {
    ModelInfo info;
    if (folderOrBuiltin.trimmed().isEmpty()) {
        info.error = QObject::tr("Choose a model folder (a Hugging Face folder with config.json).");
        return info;
    }
    try {
        const model::ModelInspection found = model::inspectModel(folderOrBuiltin.toStdString());
        info.config = found.config;
        info.parameters = found.parameters;
        info.weightBytes = found.weightBytes;
        info.tokenizer = found.tokenizer;
        info.chatTemplate = QString::fromStdString(found.chatTemplate.describe());
        if (auto snapshot = model::hubSnapshotOf(folderOrBuiltin.toStdString()))
            info.hubName = QString::fromStdString(snapshot->repoId + " @ " + snapshot->revision.substr(0, 12));
        if (!found.tokenizer) {
            info.error = !found.tokenizerFile
                             ? QObject::tr("%1: no tokenizer.json — copy the tokenizer files into the folder").arg(folderOrBuiltin)
                             : errorLine(found.tokenizerProblem);
            return info;
        }
        info.ok = true;
    } catch (const std::exception& e) {
        info.ok = false;
        info.error = errorLine(e);
    }
    return info;
}

RunForm::RunForm(QWidget* parent) : QWidget(parent) {
    buildUi();
    applyPreset("demo");
}

int RunForm::neededWidth() const {
    const auto* scroll = findChild<QScrollArea*>();
    const int bar = scroll->verticalScrollBar()->sizeHint().width();
    return scroll->widget()->minimumSizeHint().width() + bar + 2 * scroll->frameWidth() + 2;
}

void RunForm::buildUi() {
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);

    auto* scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* body = new QWidget(scroll);
    auto* col = new QVBoxLayout(body);
    col->setContentsMargins(4, 4, 4, 4);
    scroll->setWidget(body);
    outer->addWidget(scroll, 1);

    auto addGroup = [&](const QString& title) {
        auto* box = new QGroupBox(title, body);
        auto* form = new QFormLayout(box);
        form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
        // A row whose label and field do not fit side by side puts the label above: the form
        // never needs more width than its widest field.
        form->setRowWrapPolicy(QFormLayout::WrapLongRows);
        form->setLabelAlignment(Qt::AlignRight);
        col->addWidget(box);
        return form;
    };

    // ---- run and model ----
    QFormLayout* f = addGroup(tr("Run"));
    preset_ = new QComboBox(body);
    preset_->setObjectName("preset");
    for (const train::PresetInfo& p : train::presets())
        preset_->addItem(QString::fromStdString(p.title), QString::fromStdString(p.name));
    auto* applyPresetButton = new QPushButton(tr("Apply"), body);
    applyPresetButton->setObjectName("applyPreset");
    auto* presetRow = new QHBoxLayout;
    presetRow->addWidget(preset_, 1);
    presetRow->addWidget(applyPresetButton);
    f->addRow(tr("Preset"), presetRow);
    connect(applyPresetButton, &QPushButton::clicked, this,
            [this] { applyPreset(preset_->currentData().toString().toStdString()); });
    name_ = new QLineEdit(body);
    name_->setObjectName("name");
    name_->setPlaceholderText(tr("shown in the runs list"));
    f->addRow(tr("Name"), name_);

    builtin_ = new QRadioButton(tr("Built-in tiny model"), body);
    builtin_->setObjectName("builtin");
    folder_ = new QRadioButton(tr("Model folder"), body);
    folder_->setObjectName("modelFolder");
    auto* group = new QButtonGroup(this);
    group->addButton(builtin_);
    group->addButton(folder_);
    modelPath_ = new QLineEdit(body);
    modelPath_->setObjectName("modelPath");
    modelPath_->setPlaceholderText(tr("Hugging Face folder: config.json, model.safetensors, tokenizer.json"));
    browseModel_ = new QPushButton(tr("Browse…"), body);
    // The folder radio with its two pickers on one line, the path under them at full width.
    auto* modelRow = new QHBoxLayout;
    modelRow->addWidget(folder_);
    modelRow->addStretch(1);
    modelRow->addWidget(browseModel_);
    cachedModels_ = new CachedModelsButton(body);
    modelRow->addWidget(cachedModels_);
    f->addRow(tr("Policy"), builtin_);
    f->addRow(QString(), modelRow);
    f->addRow(QString(), modelPath_);
    modelInfoLabel_ = new QLabel(body);
    modelInfoLabel_->setObjectName("modelInfo");
    modelInfoLabel_->setWordWrap(true);
    modelInfoLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    f->addRow(QString(), modelInfoLabel_);
    connect(builtin_, &QRadioButton::toggled, this, [this] { modelChanged(); });
    connect(modelPath_, &QLineEdit::editingFinished, this, [this] {
        if (!modelPath_->text().isEmpty()) folder_->setChecked(true);
        modelChanged();
    });
    connect(cachedModels_, &CachedModelsButton::chosen, this, [this](const QString& dir) {
        modelPath_->setText(dir);
        folder_->setChecked(true);
        modelChanged();
    });
    connect(browseModel_, &QPushButton::clicked, this, [this] {
        const QString dir = pickFolder(tr("Choose a model folder"), modelPath_->text());
        if (dir.isEmpty()) return;
        modelPath_->setText(dir);
        folder_->setChecked(true);
        modelChanged();
    });

    auto folderRow = [&](QLineEdit* edit, const QString& title, const QString& placeholder) {
        edit->setPlaceholderText(placeholder);
        auto* row = new QHBoxLayout;
        auto* browse = new QPushButton(tr("Browse…"), body);
        row->addWidget(edit, 1);
        row->addWidget(browse);
        connect(browse, &QPushButton::clicked, this, [this, edit, title] {
            const QString dir = pickFolder(title, edit->text());
            if (!dir.isEmpty()) edit->setText(dir);
        });
        return row;
    };
    refPath_ = new QLineEdit(body);
    refPath_->setObjectName("ref");
    f->addRow(tr("Reference"), folderRow(refPath_, tr("Choose the reference model folder"),
                                         tr("empty: the initial policy")));
    outPath_ = new QLineEdit(body);
    outPath_->setObjectName("out");
    f->addRow(tr("Output"), folderRow(outPath_, tr("Choose the output folder"),
                                      tr("empty: <project>.runs/<run id>/ beside the project")));
    dataFile_ = new QLineEdit(body);
    dataFile_->setObjectName("dataFile");
    dataFile_->setPlaceholderText(tr("empty: the project's labelled pairs"));
    auto* dataRow = new QHBoxLayout;
    auto* browseData = new QPushButton(tr("Browse…"), body);
    dataRow->addWidget(dataFile_, 1);
    dataRow->addWidget(browseData);
    connect(browseData, &QPushButton::clicked, this, [this] {
        const QString file = dialogs::openFile(this, tr("Training pairs (JSONL)"), dataFile_->text(),
                                                          tr("JSON lines (*.jsonl *.jsonl.gz);;All files (*)"));
        if (!file.isEmpty()) dataFile_->setText(file);
        updateStart();
    });
    connect(dataFile_, &QLineEdit::textChanged, this, [this] { updateStart(); });
    f->addRow(tr("Data"), dataRow);
    evalDataFile_ = new QLineEdit(body);
    evalDataFile_->setObjectName("evalDataFile");
    evalDataFile_->setPlaceholderText(tr("with a JSONL file: optional JSONL evaluated every eval interval"));
    f->addRow(tr("Eval data"), evalDataFile_);
    metricsFile_ = new QLineEdit(body);
    metricsFile_->setObjectName("metricsFile");
    metricsFile_->setPlaceholderText(tr("optional: also write metrics to a JSONL file"));
    f->addRow(tr("Metrics file"), metricsFile_);

    // ---- loss ----
    f = addGroup(tr("Loss and reference"));
    loss_ = new QComboBox(body);
    loss_->setObjectName("loss");
    for (const auto& info : train::lossTypes()) {
        loss_->addItem(QString::fromUtf8(info.label), QString::fromLatin1(info.name));
        loss_->setItemData(loss_->count() - 1, QString::fromUtf8(info.summary), Qt::ToolTipRole);
    }
    lossWeight_ = dspin(body, 0, 100, 3, 0.1);
    lossWeight_->setObjectName("lossWeight");
    lossWeight_->setValue(1.0);
    lossWeight_->setToolTip(tr("This loss's weight when further terms are added (TRL's loss_weights)"));
    auto* lossRow = new QHBoxLayout;
    lossRow->addWidget(loss_, 1);
    lossRow->addWidget(new QLabel(tr("×"), body));
    lossRow->addWidget(lossWeight_);
    f->addRow(tr("Loss"), lossRow);
    extraTerms_ = new QLineEdit(body);
    extraTerms_->setObjectName("extraTerms");
    extraTerms_->setPlaceholderText(tr("optional terms, e.g. bco_pair=0.2, sft=1"));
    extraTerms_->setToolTip(tr("Losses added to the one above, each with its weight: TRL's loss_type list and "
                               "loss_weights. MPO: sigmoid × 0.8 plus bco_pair=0.2, sft=1. Names: %1")
                                .arg(QString::fromStdString(train::lossNames())));
    f->addRow(tr("Plus"), extraTerms_);
    lossSummary_ = new QLabel(body);
    lossSummary_->setObjectName("lossSummary");
    lossSummary_->setWordWrap(true);
    f->addRow(QString(), lossSummary_);
    beta_ = dspin(body, 0.001, 100, 3, 0.05);
    beta_->setObjectName("beta");
    f->addRow(tr("β"), beta_);
    labelSmoothing_ = dspin(body, 0, 0.49, 3, 0.05);
    labelSmoothing_->setObjectName("labelSmoothing");
    f->addRow(tr("Label smoothing"), labelSmoothing_);
    agreement_ = new QComboBox(body);
    agreement_->setObjectName("agreement");
    agreement_->addItem(tr("not used"), "off");
    agreement_->addItem(tr("label smoothing per pair"), "smoothing");
    agreement_->addItem(tr("loss weight per pair"), "weights");
    agreement_->setToolTip(tr("Pairs the annotators disagreed on (consensus mode) count less: ε = the share who "
                              "disagreed (at most 0.4), or the loss × (1 − 2 × that share)"));
    f->addRow(tr("Agreement"), agreement_);
    referenceFree_ = new QCheckBox(tr("Reference-free (log π_ref ≡ 0)"), body);
    f->addRow(QString(), referenceFree_);
    rpoAlpha_ = dspin(body, 0, 100, 3, 0.1);
    rpoAlpha_->setToolTip(tr("Weight of an SFT term on the chosen response (RPO); 0 = off"));
    f->addRow(tr("RPO α"), rpoAlpha_);
    precomputeRef_ = new QCheckBox(tr("Precompute reference log-probs (then free the reference)"), body);
    precomputeRef_->setObjectName("precomputeRef");
    f->addRow(QString(), precomputeRef_);
    simpoGamma_ = dspin(body, 0, 100, 3, 0.1);
    simpoGamma_->setObjectName("simpoGamma");
    simpoGamma_->setToolTip(tr("SimPO's target margin γ between the per-token log-probs (TRL's simpo_gamma)"));
    f->addRow(tr("SimPO γ"), simpoGamma_);
    ldAlpha_ = dspin(body, 0, 1, 2, 0.1);
    ldAlpha_->setObjectName("ldAlpha");
    ldAlpha_->setToolTip(tr("LD-DPO: weight of the tokens past the shorter response's length, so that length alone "
                            "makes no margin; 1 = off, 0 = only the shared length counts (TRL's ld_alpha)"));
    f->addRow(tr("Length weight (LD-DPO α)"), ldAlpha_);
    useWeighting_ = new QCheckBox(tr("Weigh pairs by the policy's probability of them (WPO)"), body);
    useWeighting_->setObjectName("useWeighting");
    useWeighting_->setToolTip(tr("Off-policy pairs the model would rarely write count less (TRL's use_weighting)"));
    f->addRow(QString(), useWeighting_);
    fDivergence_ = new QComboBox(body);
    fDivergence_->setObjectName("fDivergence");
    fDivergence_->addItem(tr("reverse KL (standard DPO)"), "reverse_kl");
    fDivergence_->addItem(tr("forward KL (mass-covering)"), "forward_kl");
    fDivergence_->addItem(tr("Jensen–Shannon"), "js_divergence");
    fDivergence_->addItem(tr("α-divergence"), "alpha_divergence");
    fDivergence_->setToolTip(tr("Which f-divergence keeps the policy near the reference (f-DPO; TRL's "
                                "f_divergence_type); only losses built on the reward difference take another"));
    fAlpha_ = dspin(body, 0.01, 10, 2, 0.1);
    fAlpha_->setObjectName("fAlpha");
    fAlpha_->setToolTip(tr("α of the α-divergence (TRL's f_alpha_divergence_coef)"));
    auto* fRow = new QHBoxLayout;
    fRow->addWidget(fDivergence_, 1);
    fRow->addWidget(new QLabel(tr("α"), body));
    fRow->addWidget(fAlpha_);
    f->addRow(tr("Divergence"), fRow);
    syncRef_ = new QCheckBox(tr("Move the reference towards the policy (TR-DPO)"), body);
    syncRef_->setObjectName("syncRef");
    syncRef_->setToolTip(tr("Every N steps the reference becomes α·policy + (1 − α)·reference (TRL's "
                            "sync_ref_model); needs full fine-tuning and a live reference"));
    syncAlpha_ = dspin(body, 0.01, 1, 2, 0.1);
    syncAlpha_->setObjectName("syncAlpha");
    syncSteps_ = spin(body, 1, 1000000);
    syncSteps_->setObjectName("syncSteps");
    auto* syncRow = new QHBoxLayout;
    syncRow->addWidget(syncRef_, 1);
    syncRow->addWidget(new QLabel(tr("α"), body));
    syncRow->addWidget(syncAlpha_);
    syncRow->addWidget(new QLabel(tr("every"), body));
    syncRow->addWidget(syncSteps_);
    f->addRow(tr("Reference"), syncRow);
    sftEpochs_ = spin(body, 0, 1000);
    sftEpochs_->setObjectName("sftEpochs");
    sftEpochs_->setSpecialValueText(tr("no warm-up"));
    sftOn_ = new QComboBox(body);
    sftOn_->addItem(tr("chosen responses"), "chosen");
    sftOn_->addItem(tr("both responses"), "both");
    auto* sftRow = new QHBoxLayout;
    sftRow->addWidget(sftEpochs_);
    sftRow->addWidget(new QLabel(tr("epochs on"), body));
    sftRow->addWidget(sftOn_, 1);
    f->addRow(tr("SFT warm-up"), sftRow);

    // ---- optimisation ----
    f = addGroup(tr("Optimisation"));
    lr_ = numberEdit(body);
    lr_->setObjectName("lr");
    scheduler_ = new QComboBox(body);
    scheduler_->addItems({"constant", "linear", "cosine"});
    warmup_ = spin(body, 0, 1'000'000);
    auto* lrRow = new QHBoxLayout;
    lrRow->addWidget(lr_, 1);
    lrRow->addWidget(scheduler_);
    lrRow->addWidget(new QLabel(tr("warm-up"), body));
    lrRow->addWidget(warmup_);
    f->addRow(tr("Learning rate"), lrRow);
    epochs_ = dspin(body, 0, 10000, 2, 1);
    epochs_->setObjectName("epochs");
    maxSteps_ = spin(body, -1, INT_MAX);
    maxSteps_->setObjectName("maxSteps");
    maxSteps_->setSpecialValueText(tr("from epochs"));
    auto* lenRow = new QHBoxLayout;
    lenRow->addWidget(epochs_);
    lenRow->addWidget(new QLabel(tr("max steps"), body));
    lenRow->addWidget(maxSteps_, 1);
    f->addRow(tr("Epochs"), lenRow);
    batch_ = spin(body, 1, 4096);
    batch_->setObjectName("batchSize");
    gradAccum_ = spin(body, 1, 4096);
    gradAccum_->setObjectName("gradAccum");
    auto* batchRow = new QHBoxLayout;
    batchRow->addWidget(batch_);
    batchRow->addWidget(new QLabel(tr("× accumulation"), body));
    batchRow->addWidget(gradAccum_);
    f->addRow(tr("Batch size"), batchRow);
    maxLength_ = spin(body, 2, 1'000'000);
    maxLength_->setObjectName("maxLength");
    maxPromptLength_ = spin(body, 0, 1'000'000);
    maxPromptLength_->setObjectName("maxPromptLength");
    truncation_ = new QComboBox(body);
    truncation_->addItems({"keep_start", "keep_end"});
    auto* lengthRow = new QHBoxLayout;
    lengthRow->addWidget(maxLength_);
    lengthRow->addWidget(new QLabel(tr("prompt"), body));
    lengthRow->addWidget(maxPromptLength_);
    lengthRow->addWidget(truncation_);
    f->addRow(tr("Max length"), lengthRow);
    weightDecay_ = dspin(body, 0, 10, 4, 0.01);
    maxGradNorm_ = dspin(body, 0, 1e6, 3, 0.5);
    maxGradNorm_->setSpecialValueText(tr("off"));
    auto* regRow = new QHBoxLayout;
    regRow->addWidget(weightDecay_);
    regRow->addWidget(new QLabel(tr("max grad norm"), body));
    regRow->addWidget(maxGradNorm_);
    f->addRow(tr("Weight decay"), regRow);
    adamBeta1_ = numberEdit(body);
    adamBeta2_ = numberEdit(body);
    adamEpsilon_ = numberEdit(body);
    auto* adamRow = new QHBoxLayout;
    adamRow->addWidget(new QLabel(tr("β₁"), body));
    adamRow->addWidget(adamBeta1_);
    adamRow->addWidget(new QLabel(tr("β₂"), body));
    adamRow->addWidget(adamBeta2_);
    adamRow->addWidget(new QLabel(tr("ε"), body));
    adamRow->addWidget(adamEpsilon_);
    f->addRow(tr("AdamW"), adamRow);

    // ---- LoRA ----
    f = addGroup(tr("LoRA"));
    loraRank_ = spin(body, 0, 4096);
    loraRank_->setObjectName("loraRank");
    loraRank_->setSpecialValueText(tr("off (full fine-tuning)"));
    loraAlpha_ = dspin(body, 0, 10000, 1, 1);
    loraDropout_ = dspin(body, 0, 0.99, 2, 0.05);
    auto* loraRow = new QHBoxLayout;
    loraRow->addWidget(loraRank_, 1);
    loraRow->addWidget(new QLabel(tr("α"), body));
    loraRow->addWidget(loraAlpha_);
    loraRow->addWidget(new QLabel(tr("dropout"), body));
    loraRow->addWidget(loraDropout_);
    f->addRow(tr("Rank"), loraRow);
    loraTargets_ = new QLineEdit(body);
    f->addRow(tr("Target modules"), loraTargets_);

    // ---- hardware and logging ----
    f = addGroup(tr("Hardware and logging"));
    dtype_ = new QComboBox(body);
    dtype_->addItems({"float32", "bfloat16"});  // float16 training is refused (no loss scaling)
    device_ = new QComboBox(body);
    device_->setObjectName("device");
    device_->setEditable(true);
    device_->addItem(tr("auto (CUDA when present)"), "auto");
    device_->addItem("cpu", "cpu");
    for (const QString& d : cudaDevices()) device_->addItem(d, d.section(QStringLiteral(" — "), 0, 0));
    auto* hwRow = new QHBoxLayout;
    hwRow->addWidget(dtype_);
    hwRow->addWidget(new QLabel(tr("device"), body));
    hwRow->addWidget(device_, 1);
    f->addRow(tr("Precision"), hwRow);
    seed_ = spin(body, 0, INT_MAX);
    seed_->setGroupSeparatorShown(false);
    f->addRow(tr("Seed"), seed_);
    loggingSteps_ = spin(body, 0, 1'000'000);
    loggingSteps_->setObjectName("loggingSteps");
    loggingSteps_->setSpecialValueText(tr("automatic"));
    loggingSteps_->setToolTip(tr("Automatic: every step of a run of up to 500 steps, a few hundred points of a "
                                 "longer one (the SFT warm-up on its own steps)"));
    evalSteps_ = spin(body, 0, 1'000'000);
    evalSteps_->setObjectName("evalSteps");
    evalSteps_->setSpecialValueText(tr("each epoch"));
    saveSteps_ = spin(body, 0, 1'000'000);
    saveSteps_->setSpecialValueText(tr("end only"));
    auto* logRow = new QHBoxLayout;
    logRow->addWidget(loggingSteps_);
    logRow->addWidget(new QLabel(tr("eval every"), body));
    logRow->addWidget(evalSteps_);
    logRow->addWidget(new QLabel(tr("save every"), body));
    logRow->addWidget(saveSteps_);
    f->addRow(tr("Log every"), logRow);
    // GPUs to use: one process per chosen GPU (shown only with two or more GPUs).
    gpus_ = new QListWidget(body);
    gpus_->setObjectName("gpus");
    gpus_->setToolTip(tr("Data-parallel processes, one per chosen GPU; the global batch is batch size x processes x "
                         "accumulation. Several processes run as `dpowb train --nproc N` beside this program, seeing "
                         "only the chosen GPUs (CUDA_VISIBLE_DEVICES); Space toggles a GPU."));
    processesRow_ = new QWidget(body);
    auto* procRow = new QVBoxLayout(processesRow_);
    procRow->setContentsMargins(0, 0, 0, 0);
    procRow->addWidget(gpus_);
    processesLabel_ = new QLabel(body);
    processesLabel_->setObjectName("processesSummary");
    processesLabel_->setWordWrap(true);
    procRow->addWidget(processesLabel_);
    f->addRow(tr("GPUs to use"), processesRow_);
    connect(gpus_, &QListWidget::itemChanged, this, [this] {
        const QList<int> chosen = chosenGpus();
        QStringList ids;
        for (int i : chosen) ids << QString::number(i);
        processesLabel_->setText(chosen.size() > 1  ? tr("%1 processes, one per GPU (CUDA_VISIBLE_DEVICES=%2)")
                                                          .arg(chosen.size())
                                                          .arg(ids.join(','))
                                 : chosen.size() == 1 ? tr("one process, in this program, on cuda:%1").arg(chosen[0])
                                                      : tr("choose at least one GPU"));
        if (start_) updateStart();
    });
    setGpus(cudaDevices());
    col->addStretch(1);

    // ---- what will happen ----
    dataLabel_ = new QLabel(this);
    dataLabel_->setObjectName("dataSummary");
    dataLabel_->setWordWrap(true);
    dataLabel_->setText(tr("Counting labelled pairs…"));
    memoryLabel_ = new QLabel(this);
    memoryLabel_->setObjectName("memoryEstimate");
    memoryLabel_->setWordWrap(true);
    blockerLabel_ = new QLabel(this);
    blockerLabel_->setObjectName("startBlocker");
    blockerLabel_->setWordWrap(true);
    blockerLabel_->setStyleSheet("color: #b02020;");
    start_ = new QPushButton(tr("Start training"), this);
    start_->setObjectName("start");
    start_->setDefault(true);
    // A project without a test split (an imported data set) would train with no eval curve.
    holdOutRow_ = new QWidget(this);
    holdOutRow_->setObjectName("holdOutRow");
    auto* holdOut = new QHBoxLayout(holdOutRow_);
    holdOut->setContentsMargins(0, 0, 0, 0);
    holdOut->addWidget(new QLabel(tr("No test pairs: evaluation would have nothing to measure."), holdOutRow_));
    holdOutPercent_ = new QSpinBox(holdOutRow_);
    holdOutPercent_->setRange(1, 50);
    holdOutPercent_->setValue(10);
    holdOutPercent_->setSuffix(tr(" %"));
    holdOutButton_ = new QPushButton(tr("Hold out as test"), holdOutRow_);
    holdOutButton_->setObjectName("holdOut");
    holdOutButton_->setToolTip(tr("Moves this share of the labelled train pairs to the test split, chosen by the "
                                  "seed below and recorded in the project (dpowb hold-out does the same)."));
    holdOut->addWidget(holdOutPercent_);
    holdOut->addWidget(holdOutButton_);
    holdOut->addStretch(1);
    holdOutRow_->setVisible(false);
    connect(holdOutButton_, &QPushButton::clicked, this, [this] {
        holdOutButton_->setEnabled(false);  // until the next data summary
        Q_EMIT holdOutRequested(double(holdOutPercent_->value()), quint64(seed_->value()));
    });
    outer->addWidget(dataLabel_);
    outer->addWidget(holdOutRow_);
    outer->addWidget(memoryLabel_);
    outer->addWidget(blockerLabel_);
    outer->addWidget(start_);
    connect(start_, &QPushButton::clicked, this, [this] {
        if (startBlocker().isEmpty()) Q_EMIT startRequested(config());
    });

    // Anything that changes the estimate or validity re-evaluates both.
    const auto refresh = [this] {
        if (applying_) return;
        updateEstimate();
        updateStart();
    };
    for (QSpinBox* s : {sftEpochs_, warmup_, maxSteps_, batch_, gradAccum_, maxLength_, maxPromptLength_,
                        loraRank_, seed_, loggingSteps_, evalSteps_, saveSteps_})
        connect(s, &QSpinBox::valueChanged, this, refresh);
    for (QDoubleSpinBox* s : {beta_, labelSmoothing_, rpoAlpha_, epochs_, weightDecay_, maxGradNorm_, loraAlpha_, loraDropout_,
                              lossWeight_, simpoGamma_, ldAlpha_, fAlpha_, syncAlpha_})
        connect(s, &QDoubleSpinBox::valueChanged, this, refresh);
    connect(syncSteps_, &QSpinBox::valueChanged, this, refresh);
    // The chosen loss's one line, and label smoothing only where that loss has an ε (exo_pair
    // needs one: it starts at 1e-3, TRL's suggestion).
    // The options that apply to the loss are enabled, the others off and reset: SimPO's γ with
    // simpo, no reference options for simpo and orpo, the f-divergence with the losses that have
    // one, RPO α (the sft term) not beside sft itself.
    const auto lossChanged = [this] {
        const std::string name = comboValue(loss_).toStdString();
        for (const auto& info : train::lossTypes()) {
            if (name != info.name) continue;
            lossSummary_->setText(QString::fromUtf8(info.summary));
            labelSmoothing_->setEnabled(info.labelSmoothing);
            if (!info.labelSmoothing) labelSmoothing_->setValue(0);
            if (name == "exo_pair" && labelSmoothing_->value() == 0) labelSmoothing_->setValue(0.001);
            const bool refFree = name == "simpo" || name == "orpo";
            simpoGamma_->setEnabled(name == "simpo");
            for (QWidget* w : std::initializer_list<QWidget*>{referenceFree_, precomputeRef_, syncRef_, ldAlpha_, useWeighting_})
                w->setEnabled(!refFree);
            if (refFree) {
                referenceFree_->setChecked(false);
                precomputeRef_->setChecked(false);
                syncRef_->setChecked(false);
                ldAlpha_->setValue(1.0);
                useWeighting_->setChecked(false);
            }
            fDivergence_->setEnabled(info.fDivergence);
            if (!info.fDivergence) setCombo(fDivergence_, "reverse_kl");
            rpoAlpha_->setEnabled(info.type != train::LossType::Sft);
            if (info.type == train::LossType::Sft) rpoAlpha_->setValue(0);
        }
        fAlpha_->setEnabled(fDivergence_->isEnabled() && comboValue(fDivergence_) == "alpha_divergence");
        syncAlpha_->setEnabled(syncRef_->isEnabled() && syncRef_->isChecked());
        syncSteps_->setEnabled(syncAlpha_->isEnabled());
    };
    connect(loss_, &QComboBox::currentIndexChanged, this, lossChanged);
    connect(fDivergence_, &QComboBox::currentIndexChanged, this, lossChanged);
    connect(syncRef_, &QCheckBox::toggled, this, lossChanged);
    lossChanged();
    for (QComboBox* c : {loss_, sftOn_, scheduler_, truncation_, dtype_, device_, agreement_, fDivergence_})
        connect(c, &QComboBox::currentIndexChanged, this, refresh);
    for (QCheckBox* c : {referenceFree_, precomputeRef_, useWeighting_, syncRef_}) connect(c, &QCheckBox::toggled, this, refresh);
    for (QLineEdit* e : {lr_, adamBeta1_, adamBeta2_, adamEpsilon_, loraTargets_, refPath_, extraTerms_})
        connect(e, &QLineEdit::textChanged, this, refresh);
}

QString RunForm::pickFolder(const QString& title, const QString& current) {
    return dialogs::existingDirectory(this, title, current.isEmpty() ? QDir::homePath() : current);
}

train::TrainConfig RunForm::config() const {
    train::TrainConfig c;
    c.name = name_->text().trimmed().toStdString();
    c.model = builtin_->isChecked() ? std::string(kBuiltin) : modelPath_->text().trimmed().toStdString();
    c.ref = refPath_->text().trimmed().toStdString();
    c.out = outPath_->text().trimmed().toStdString();
    c.data = dataFile_->text().trimmed().toStdString();
    if (!c.data.empty()) c.evalData = evalDataFile_->text().trimmed().toStdString();
    c.metricsFile = metricsFile_->text().trimmed().toStdString();
    c.loss = comboValue(loss_).toStdString();
    // Further terms "name=weight, ..." (a name alone weighs 1); a malformed entry goes into the
    // list as written, so that validate() names it.
    const QString extra = extraTerms_->text().trimmed();
    if (!extra.isEmpty() || lossWeight_->value() != 1.0) {
        c.lossWeights = {lossWeight_->value()};
        for (const QString& item : extra.split(',', Qt::SkipEmptyParts)) {
            const QStringList parts = item.split('=');
            c.loss += "," + parts.front().trimmed().toStdString();
            bool ok = parts.size() == 1;
            double w = 1.0;
            if (parts.size() == 2) w = parts[1].trimmed().toDouble(&ok);
            c.lossWeights.push_back(ok ? w : std::nan(""));
        }
    }
    c.simpoGamma = simpoGamma_->value();
    c.ldAlpha = ldAlpha_->value();
    c.useWeighting = useWeighting_->isChecked();
    c.fDivergenceType = comboValue(fDivergence_).toStdString();
    c.fAlphaDivergenceCoef = fAlpha_->value();
    c.syncRefModel = syncRef_->isChecked();
    c.refModelMixupAlpha = syncAlpha_->value();
    c.refModelSyncSteps = syncSteps_->value();
    c.agreement = comboValue(agreement_).toStdString();
    c.beta = beta_->value();
    c.labelSmoothing = labelSmoothing_->value();
    c.referenceFree = referenceFree_->isChecked();
    c.rpoAlpha = rpoAlpha_->value();
    c.precomputeRef = precomputeRef_->isChecked();
    c.sftEpochs = sftEpochs_->value();
    c.sftOn = comboValue(sftOn_).toStdString();
    // An unparsable number leaves NaN, which validate() rejects with the option's name.
    auto number = [](const QLineEdit* e) {
        double v = std::nan("");
        parseNumber(e, &v);
        return v;
    };
    c.lr = number(lr_);
    c.lrSchedulerType = scheduler_->currentText().toStdString();
    c.warmupSteps = warmup_->value();
    c.epochs = epochs_->value();
    c.maxSteps = maxSteps_->value();
    c.batchSize = batch_->value();
    c.gradAccum = gradAccum_->value();
    c.maxLength = maxLength_->value();
    c.maxPromptLength = maxPromptLength_->value();
    c.truncationMode = truncation_->currentText().toStdString();
    c.weightDecay = weightDecay_->value();
    c.maxGradNorm = maxGradNorm_->value();
    c.adamBeta1 = number(adamBeta1_);
    c.adamBeta2 = number(adamBeta2_);
    c.adamEpsilon = number(adamEpsilon_);
    c.loraRank = loraRank_->value();
    c.loraAlpha = loraAlpha_->value();
    c.loraDropout = loraDropout_->value();
    c.loraTargetModules = loraTargets_->text().remove(' ').toStdString();
    c.dtype = dtype_->currentText().toStdString();
    c.device = comboValue(device_).toStdString();
    if (const QList<int> g = chosenGpus(); g.size() == 1 && (c.device == "auto" || c.device == "cuda"))
        c.device = "cuda:" + std::to_string(g[0]);  // the one chosen GPU, in this program
    c.seed = static_cast<uint64_t>(seed_->value());
    c.loggingSteps = loggingSteps_->value();
    c.evalSteps = evalSteps_->value();
    c.saveSteps = saveSteps_->value();
    return c;
}

void RunForm::setGpus(const QStringList& gpus) {
    gpuCount_ = int(gpus.size());
    {
        const QSignalBlocker block(gpus_);
        gpus_->clear();
        for (const QString& g : gpus) {
            auto* item = new QListWidgetItem(g, gpus_);
            item->setData(Qt::UserRole, g.section(QStringLiteral(" — "), 0, 0).section(':', 1).toInt());
            item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsUserCheckable);
            item->setCheckState(Qt::Checked);
        }
        gpus_->setCurrentRow(0);
        gpus_->setFixedHeight(gpus_->sizeHintForRow(0) * std::min(std::max(1, gpuCount_), 4) + 2 * gpus_->frameWidth());
    }
    if (gpuCount_ > 0) Q_EMIT gpus_->itemChanged(gpus_->item(0));
    // Offered only when there is more than one device to spread a run over.
    if (auto* form = qobject_cast<QFormLayout*>(processesRow_->parentWidget() ? processesRow_->parentWidget()->layout() : nullptr))
        form->setRowVisible(processesRow_, gpuCount_ > 1);
    else
        processesRow_->setVisible(gpuCount_ > 1);
}

QList<int> RunForm::chosenGpus() const {
    QList<int> out;
    if (gpuCount_ < 2) return out;
    for (int i = 0; i < gpus_->count(); ++i)
        if (gpus_->item(i)->checkState() == Qt::Checked) out << gpus_->item(i)->data(Qt::UserRole).toInt();
    return out;
}

int RunForm::processes() const { return gpuCount_ > 1 ? std::max<int>(1, int(chosenGpus().size())) : 1; }

void RunForm::setConfig(const train::TrainConfig& c) {
    applying_ = true;
    name_->setText(QString::fromStdString(c.name));
    const bool builtin = c.model == kBuiltin;
    builtin_->setChecked(builtin);
    folder_->setChecked(!builtin);
    if (!builtin) modelPath_->setText(QString::fromStdString(c.model));
    refPath_->setText(QString::fromStdString(c.ref));
    outPath_->setText(QString::fromStdString(c.out));
    dataFile_->setText(QString::fromStdString(c.data));
    evalDataFile_->setText(QString::fromStdString(c.evalData));
    metricsFile_->setText(QString::fromStdString(c.metricsFile));
    {
        // The first term in the list, the others as "name=weight".
        const QStringList names = QString::fromStdString(c.loss).split(',');
        setCombo(loss_, names.front().trimmed());
        lossWeight_->setValue(c.lossWeights.empty() ? 1.0 : c.lossWeights.front());
        QStringList extra;
        for (int i = 1; i < names.size(); ++i) {
            const double w = size_t(i) < c.lossWeights.size() ? c.lossWeights[size_t(i)] : 1.0;
            extra << names[i].trimmed() + "=" + numberText(w);
        }
        extraTerms_->setText(extra.join(", "));
    }
    simpoGamma_->setValue(c.simpoGamma);
    ldAlpha_->setValue(c.ldAlpha);
    useWeighting_->setChecked(c.useWeighting);
    setCombo(fDivergence_, QString::fromStdString(c.fDivergenceType));
    fAlpha_->setValue(c.fAlphaDivergenceCoef);
    syncRef_->setChecked(c.syncRefModel);
    syncAlpha_->setValue(c.refModelMixupAlpha);
    syncSteps_->setValue(static_cast<int>(c.refModelSyncSteps));
    setCombo(agreement_, QString::fromStdString(c.agreement));
    beta_->setValue(c.beta);
    labelSmoothing_->setValue(c.labelSmoothing);
    referenceFree_->setChecked(c.referenceFree);
    rpoAlpha_->setValue(c.rpoAlpha);
    precomputeRef_->setChecked(c.precomputeRef);
    sftEpochs_->setValue(static_cast<int>(c.sftEpochs));
    setCombo(sftOn_, QString::fromStdString(c.sftOn));
    lr_->setText(numberText(c.lr));
    setCombo(scheduler_, QString::fromStdString(c.lrSchedulerType));
    warmup_->setValue(static_cast<int>(c.warmupSteps));
    epochs_->setValue(c.epochs);
    maxSteps_->setValue(static_cast<int>(c.maxSteps));
    batch_->setValue(static_cast<int>(c.batchSize));
    gradAccum_->setValue(static_cast<int>(c.gradAccum));
    maxLength_->setValue(static_cast<int>(c.maxLength));
    maxPromptLength_->setValue(static_cast<int>(c.maxPromptLength));
    setCombo(truncation_, QString::fromStdString(c.truncationMode));
    weightDecay_->setValue(c.weightDecay);
    maxGradNorm_->setValue(c.maxGradNorm);
    adamBeta1_->setText(numberText(c.adamBeta1));
    adamBeta2_->setText(numberText(c.adamBeta2));
    adamEpsilon_->setText(numberText(c.adamEpsilon));
    loraRank_->setValue(static_cast<int>(c.loraRank));
    loraAlpha_->setValue(c.loraAlpha);
    loraDropout_->setValue(c.loraDropout);
    loraTargets_->setText(QString::fromStdString(c.loraTargetModules));
    setCombo(dtype_, QString::fromStdString(c.dtype));
    setCombo(device_, QString::fromStdString(c.device));
    seed_->setValue(static_cast<int>(std::min<uint64_t>(c.seed, INT_MAX)));
    loggingSteps_->setValue(static_cast<int>(c.loggingSteps));
    evalSteps_->setValue(static_cast<int>(c.evalSteps));
    saveSteps_->setValue(static_cast<int>(c.saveSteps));
    applying_ = false;
    modelChanged();
}

void RunForm::applyPreset(const std::string& name) {
    preset_->setCurrentIndex(preset_->findData(QString::fromStdString(name)));
    const train::TrainConfig current = config();
    train::TrainConfig c = train::presetConfig(name);
    const bool demo = c.model == kBuiltin;
    c.data = current.data;
    c.evalData = current.evalData;
    c.device = current.device;
    if (!demo) {
        // Keep the folder the user typed even when the built-in model was selected.
        c.model = current.model == kBuiltin ? modelPath_->text().trimmed().toStdString() : current.model;
    }
    setConfig(c);
    if (!demo && modelPath_->text().isEmpty()) {
        folder_->setChecked(true);
        modelChanged();
    }
}

void RunForm::modelChanged() {
    if (applying_) return;
    modelPath_->setEnabled(folder_->isChecked());
    browseModel_->setEnabled(true);
    modelInfo_ = inspectModel(builtin_->isChecked() ? QString::fromLatin1(kBuiltin) : modelPath_->text().trimmed());
    modelInfoLabel_->setText(modelInfo_.summary());
    modelInfoLabel_->setStyleSheet(modelInfo_.ok ? QString() : QStringLiteral("color: #b02020;"));
    updateEstimate();
    updateStart();
}

void RunForm::updateEstimate() {
    if (!modelInfo_.ok) {
        memoryLabel_->setText(tr("Memory: choose a valid model to see an estimate."));
        return;
    }
    const train::TrainConfig c = config();
    const train::MemoryEstimate e = train::estimateMemory(modelInfo_.config, c);
    QString text = tr("Memory ≈ %1: weights %2 · gradients %3 · optimizer %4")
                       .arg(formatBytes(e.total()), formatBytes(e.weights), formatBytes(e.gradients),
                            formatBytes(e.optimizer));
    if (e.reference > 0) text += tr(" · reference %1").arg(formatBytes(e.reference));
    text += tr(" · activations ≤ %1 (%2 × 2 sequences of %3 tokens)")
                .arg(formatBytes(e.activations))
                .arg(c.batchSize)
                .arg(c.maxLength);
    text += tr(". Trains %1 of %2 parameters.").arg(formatCount(e.trainableParameters), formatCount(modelInfo_.parameters));
    memoryLabel_->setText(text);
}

void RunForm::setDataSummary(const DataSummary& s) {
    data_ = s;
    if (!s.error.isEmpty()) {
        dataLabel_->setText(s.error);
    } else {
        dataLabel_->setText(tr("Trains on <b>%1</b> labelled train pairs, evaluates on <b>%2</b> test pairs. "
                               "Not used: %3 ties, %4 both bad, %5 skipped, %6 unlabelled.")
                                .arg(s.trainPairs)
                                .arg(s.testPairs)
                                .arg(s.ties)
                                .arg(s.bothBad)
                                .arg(s.skipped)
                                .arg(s.unlabelled));
    }
    holdOutRow_->setVisible(s.ready && s.error.isEmpty() && s.testPairs == 0 && s.trainPairs >= 2);
    holdOutButton_->setEnabled(true);
    updateStart();
}

void RunForm::setRunning(bool running) {
    running_ = running;
    updateStart();
}

QString RunForm::startBlocker() const {
    if (running_) return tr("A run is in progress.");
    if (!modelInfo_.ok) return modelInfo_.error;
    if (gpuCount_ > 1 && chosenGpus().isEmpty()) return tr("GPUs to use: choose at least one.");
    train::TrainConfig c = config();
    if (c.data.empty()) {
        if (!data_.error.isEmpty()) return data_.error;
        if (!data_.ready) return tr("Counting labelled pairs…");
        if (data_.trainPairs == 0)
            return tr("No labelled train pairs: label some pairs A or B (ties, both-bad and skips are not trained on).");
        c.db = "project";
    } else if (!QFileInfo(QString::fromStdString(c.data)).isFile()) {
        return tr("%1: no such file").arg(QString::fromStdString(c.data));
    }
    try {
        c.validate();
    } catch (const std::exception& e) {
        return errorLine(e);
    }
    return {};
}

void RunForm::updateStart() {
    if (applying_) return;
    const QString blocker = startBlocker();
    start_->setEnabled(blocker.isEmpty());
    blockerLabel_->setText(running_ ? QString() : blocker);
    blockerLabel_->setVisible(!blockerLabel_->text().isEmpty());
}

}  // namespace dpowb::ui
