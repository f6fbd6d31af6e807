#include "compare_worker.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <algorithm>
#include <exception>
#include <set>

#include "common/error.h"
#include "error_line.h"
#include "eval/sample_pairs.h"
#include "store/project.h"

namespace dpowb::ui {

namespace {

QString firstLine(const store::Pair& p) {
    QString text;
    if (p.isChat()) text = QString::fromStdString(p.promptMessages.back().content);
    else text = QString::fromStdString(p.prompt);
    text = text.simplified();
    if (text.size() > 120) text = text.left(117) + QStringLiteral("...");
    return text;
}

}  // namespace

std::string comparePairMetadata(const CompareModels& models, const SamplingSettings& settings, int sampleIndex,
                                qint64 promptPairId) {
    QJsonObject o;
    if (models.runId > 0) o.insert(QStringLiteral("run_id"), models.runId);
    o.insert(QStringLiteral("policy"), models.policyPath);
    o.insert(QStringLiteral("reference"), models.referencePath);
    o.insert(QStringLiteral("beta"), models.beta);
    o.insert(QStringLiteral("response_a"), QStringLiteral("policy"));
    o.insert(QStringLiteral("response_b"), QStringLiteral("reference"));
    QJsonObject sampling = QJsonDocument::fromJson(QByteArray::fromStdString(settings.toJson())).object();
    // The seed this very sample used (sample i of a batch uses seed + i).
    sampling.insert(QStringLiteral("seed"), QString::number(settings.seedFor(sampleIndex)).toLongLong());
    o.insert(QStringLiteral("sampling"), sampling);
    if (promptPairId > 0) o.insert(QStringLiteral("prompt_from_pair"), promptPairId);
    return QJsonDocument(o).toJson(QJsonDocument::Compact).toStdString();
}

store::Pair makeComparePair(const CompareModels& models, const SamplingSettings& settings, int sampleIndex,
                            qint64 promptPairId, const std::string& prompt, const std::vector<Message>& messages,
                            const std::string& policyText, const std::string& referenceText, const QString& split) {
    store::Pair p;
    p.prompt = messages.empty() ? prompt : std::string();
    p.promptMessages = messages;
    p.responseA = policyText;
    p.responseB = referenceText;
    p.source = "policy-vs-reference";
    p.split = split.toStdString();
    p.metadataJson = comparePairMetadata(models, settings, sampleIndex, promptPairId);
    return p;
}

void registerCompareMetaTypes() {
    qRegisterMetaType<dpowb::ui::ScoredText>("dpowb::ui::ScoredText");
    qRegisterMetaType<dpowb::ui::ScoredPair>("dpowb::ui::ScoredPair");
    qRegisterMetaType<std::vector<dpowb::ui::MarginRow>>("std::vector<dpowb::ui::MarginRow>");
}

struct CompareWorker::JobScope {
    CompareWorker* worker;
    ~JobScope() { Q_EMIT worker->jobDone(); }
};

CompareWorker::CompareWorker(std::shared_ptr<std::atomic<bool>> cancel, QObject* parent)
    : QObject(parent), cancel_(std::move(cancel)), engine_(std::make_unique<CompareEngine>()) {
    registerCompareMetaTypes();
}

CompareWorker::~CompareWorker() = default;

bool CompareWorker::loadModels(const CompareModels& models) {
    try {
        eval::ModelPair pair;
        if (models.runId > 0 && !models.projectPath.isEmpty()) {
            // The run's own encoding settings (max length, template), so that its margins are
            // the numbers its training saw.
            auto project = store::Project::openReadOnly(models.projectPath.toStdString());
            pair = eval::modelsForRun(project, models.runId);
        } else {
            pair = eval::modelsForFolders(models.policyPath.toStdString(), models.referencePath.toStdString(), models.beta);
        }
        pair.beta = models.beta;
        if (const eval::ModelPair* current = engine_->models(); !current || current->policy != pair.policy ||
                                                                  current->reference != pair.reference)
            Q_EMIT status(tr("Loading %1 and %2...").arg(QString::fromStdString(pair.policy), QString::fromStdString(pair.reference)));
        engine_->load(pair, cancel_.get());
    } catch (const Cancelled&) {
        Q_EMIT status(tr("Stopped while loading the models."));
        return false;
    } catch (const std::exception& e) {
        Q_EMIT failed(errorLine(e));
        return false;
    }
    return true;
}

void CompareWorker::generate(const GenerateRequest& request) {
    JobScope job{this};
    if (!loadModels(request.models)) {
        Q_EMIT generationFinished(/*cancelled=*/cancel_->load());  // stopped while loading, or failed
        return;
    }
    bool cancelled = false;
    try {
        // Sample by sample, policy then reference, so that both panes fill at the same pace.
        for (int i = 0; i < request.settings.samples && !cancelled; ++i) {
            for (Side side : {Side::Policy, Side::Reference}) {
                Q_EMIT status(tr("Generating sample %1 of %2 (%3)...")
                                  .arg(i + 1)
                                  .arg(request.settings.samples)
                                  .arg(side == Side::Policy ? tr("policy") : tr("reference")));
                const int s = int(side);
                ScoredText result = engine_->generate(
                    side, request.prompt, request.messages, request.settings, i,
                    [this, s, i](const std::string& piece) { Q_EMIT this->piece(s, i, QString::fromStdString(piece)); },
                    cancel_.get());
                // A stopped completion stays as streamed text: it has no scores to show.
                if (result.finishReason == "cancelled") {
                    cancelled = true;
                    break;
                }
                Q_EMIT completed(s, i, result);
                if (cancel_->load()) {
                    cancelled = true;
                    break;
                }
            }
        }
    } catch (const Cancelled&) {
        cancelled = true;
    } catch (const std::exception& e) {
        Q_EMIT failed(errorLine(e));
    }
    Q_EMIT generationFinished(cancelled);
}

void CompareWorker::scorePair(const CompareModels& models, const std::string& prompt,
                              const std::vector<Message>& messages, const std::string& responseA,
                              const std::string& responseB) {
    JobScope job{this};
    if (!loadModels(models)) return;
    try {
        Q_EMIT status(tr("Scoring the pair..."));
        ScoredPair scored = engine_->scorePair(prompt, messages, responseA, responseB);
        Q_EMIT pairScored(scored, models.beta);
    } catch (const std::exception& e) {
        Q_EMIT failed(errorLine(e));
    }
}

void CompareWorker::computeMargins(const CompareModels& models, const QString& projectPath, const QString& split) {
    JobScope job{this};
    if (!loadModels(models)) return;
    try {
        auto project = store::Project::openReadOnly(projectPath.toStdString());
        store::PairQuery q;
        q.split = split.toStdString();
        std::vector<store::Pair> pairs = project.pairs(q);
        Q_EMIT status(tr("Scoring %1 pairs under both models...").arg(pairs.size()));
        const auto margins = engine_->scorePairs(
            pairs, [this](int64_t done, int64_t total) { Q_EMIT marginProgress(done, total); }, cancel_.get());
        std::vector<MarginRow> rows;
        rows.reserve(pairs.size());
        for (size_t i = 0; i < pairs.size(); ++i) {
            MarginRow r;
            r.pairId = pairs[i].id;
            r.split = QString::fromStdString(pairs[i].split);
            r.prompt = firstLine(pairs[i]);
            r.verdict = pairs[i].verdict;
            r.rewardA = models.beta * (margins[i].policyLogpA - margins[i].referenceLogpA);
            r.rewardB = models.beta * (margins[i].policyLogpB - margins[i].referenceLogpB);
            rows.push_back(std::move(r));
        }
        Q_EMIT marginsReady(rows);
    } catch (const Cancelled&) {
        Q_EMIT status(tr("Margins: stopped."));
    } catch (const std::exception& e) {
        Q_EMIT failed(errorLine(e));
    }
}

void CompareWorker::samplePairs(const SampleBatchRequest& request) {
    JobScope job{this};
    if (!loadModels(request.models)) {
        if (cancel_->load()) Q_EMIT samplesFinished(0, 0, true, QString());  // stopped while loading
        else Q_EMIT samplesFinished(0, 0, false, tr("the models could not be loaded"));
        return;
    }
    try {
        auto project = store::Project::open(request.projectPath.toStdString());
        // What `dpowb sample-pairs --from-split` does (eval/sample_pairs.h): distinct prompts,
        // pair k with seed + k, the policy's side drawn per pair and recorded.
        const std::vector<eval::SamplePrompt> prompts =
            eval::promptsFromSplit(project, request.fromSplit.toStdString(), false, size_t(std::max(1, request.prompts)));
        const int total = int(prompts.size());
        Q_EMIT sampleProgress(0, total);
        Progress progress;
        progress.cancel = cancel_.get();
        const std::vector<eval::SampledPair> sampled =
            eval::samplePairs(engine_->comparer(), prompts, total, request.settings.toCore(), request.toSplit.toStdString(),
                              progress, [this](int64_t done, int64_t all) { Q_EMIT sampleProgress(int(done), int(all)); });
        std::vector<store::Pair> made;
        for (const auto& s : sampled) made.push_back(s.pair);
        Q_EMIT sampleProgress(total, total);
        // All or nothing: nothing reaches the project until every prompt has its pair.
        int added = 0;
        {
            store::Project::Transaction tx(project);
            for (const auto& p : made) {
                bool inserted = false;
                project.addPair(p, &inserted);
                if (inserted) ++added;
            }
            tx.commit();
        }
        Q_EMIT samplesFinished(added, int(made.size()), false, QString());
    } catch (const Cancelled&) {
        Q_EMIT samplesFinished(0, 0, true, QString());
    } catch (const std::exception& e) {
        Q_EMIT samplesFinished(0, 0, false, errorLine(e));
    }
}

}  // namespace dpowb::ui
