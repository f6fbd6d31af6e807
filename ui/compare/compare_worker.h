// The compare view's background thread: owns the two loaded models (a CompareEngine) and runs
// one request at a time — generate both sides, score a pair, compute the margins of many
// pairs, or sample a batch of new pairs into the project — reporting through queued signals
// that carry value structs. Stop is an atomic flag shared with the GUI, checked between tokens
// and between batches.
#pragma once

#include <QMetaType>
#include <QObject>
#include <QString>

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "eval/compare_engine.h"
#include "store/types.h"

namespace dpowb::ui {

// The compare engine (core/eval) under the names the compare view uses.
using eval::CompareEngine;
using eval::ScoredPair;
using eval::ScoredText;
using eval::Side;
using SamplingSettings = eval::CompareSampling;

struct CompareModels {
    QString policyPath, referencePath;  // reference "" = POLICY/reference
    qint64 runId = 0;  // 0 = two folders picked by hand
    QString projectPath;  // where runId is recorded (its encoding settings come from there)
    double beta = 0.1;
};

struct GenerateRequest {
    CompareModels models;
    std::string prompt;
    std::vector<Message> messages;
    SamplingSettings settings;
};

// One pair's implicit rewards under a policy/reference: rewardX = β·(log π_θ(X) − log π_ref(X)).
struct MarginRow {
    qint64 pairId = 0;
    QString split;
    QString prompt;  // first line, for the table
    std::optional<store::Verdict> verdict;
    double rewardA = 0, rewardB = 0;
    // chosen − rejected when the verdict is a or b (negative: the model disagrees with the
    // label); A − B otherwise (near zero: the model cannot tell them apart).
    double margin() const { return verdict == store::Verdict::B ? rewardB - rewardA : rewardA - rewardB; }
    bool oriented() const { return verdict == store::Verdict::A || verdict == store::Verdict::B; }
};

struct SampleBatchRequest {
    CompareModels models;
    QString projectPath;
    QString fromSplit = QStringLiteral("test");
    QString toSplit = QStringLiteral("test");  // the prompts' split by default: no test prompt leaks into train
    int prompts = 10;
    SamplingSettings settings;
};

// The metadata of a pair made from a policy and a reference completion.
std::string comparePairMetadata(const CompareModels& models, const SamplingSettings& settings,
                                int sampleIndex, qint64 promptPairId);
// A new pair from the two sides' completions: A = policy, B = reference, source
// "policy-vs-reference".
store::Pair makeComparePair(const CompareModels& models, const SamplingSettings& settings, int sampleIndex,
                            qint64 promptPairId, const std::string& prompt, const std::vector<Message>& messages,
                            const std::string& policyText, const std::string& referenceText, const QString& split);

class CompareWorker : public QObject {
    Q_OBJECT
public:
    explicit CompareWorker(std::shared_ptr<std::atomic<bool>> cancel, QObject* parent = nullptr);
    ~CompareWorker() override;

    // Each runs synchronously on the worker's thread (call through a queued invocation).
    void generate(const GenerateRequest& request);
    void scorePair(const CompareModels& models, const std::string& prompt, const std::vector<Message>& messages,
                   const std::string& responseA, const std::string& responseB);
    void computeMargins(const CompareModels& models, const QString& projectPath, const QString& split);
    void samplePairs(const SampleBatchRequest& request);

Q_SIGNALS:
    void status(const QString& text);
    void piece(int side, int sample, const QString& text);
    void completed(int side, int sample, const dpowb::ui::ScoredText& result);
    void generationFinished(bool cancelled);
    void pairScored(const dpowb::ui::ScoredPair& result, double beta);
    void marginProgress(qint64 done, qint64 total);
    void marginsReady(const std::vector<dpowb::ui::MarginRow>& rows);
    void sampleProgress(int done, int total);
    // added = pairs new to the project (duplicates are not added twice); error empty on success.
    void samplesFinished(int added, int generated, bool cancelled, const QString& error);
    void failed(const QString& message);
    // Emitted last by every job, whatever its outcome: the GUI may send the next one.
    void jobDone();

private:
    struct JobScope;
    bool loadModels(const CompareModels& models);

    std::shared_ptr<std::atomic<bool>> cancel_;
    std::unique_ptr<CompareEngine> engine_;
};

void registerCompareMetaTypes();

}  // namespace dpowb::ui

Q_DECLARE_METATYPE(dpowb::ui::ScoredText)
Q_DECLARE_METATYPE(dpowb::ui::ScoredPair)
Q_DECLARE_METATYPE(std::vector<dpowb::ui::MarginRow>)
