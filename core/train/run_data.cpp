// The run's data: pairs from the project (or the run's label snapshot, when resuming or on a
// rank > 0) or from a data file, tokenized into Examples; the order of an epoch's batches and
// the micro-batches of a step.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "store/formats.h"
#include "train/batching.h"
#include "train/run.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dpowb::train::detail {

namespace {

// A data file through the importers' reader (store::readPairs): every format `dpowb import`
// reads, plus pre-tokenized pairs. A record's preferred response is the chosen one; records
// without a preference (ties, "both bad", unlabelled `pairs` records) are left out, as a
// project's training set leaves them out. `skipped` counts them.
std::vector<RawPair> readPairsFile(const std::string& path, const TrainConfig& cfg, size_t* skipped) {
    store::ReadOptions ro;
    ro.format = cfg.dataFormat.empty() ? "auto" : cfg.dataFormat;
    if (!cfg.dataMap.empty()) ro.map = store::parseColumnMap(cfg.dataMap);
    ro.allowTokenIds = true;
    ro.formatOption = "--data-format";
    std::vector<RawPair> out;
    store::readPairs(path, ro, [&](store::ReadRecord& r) {
        if (!r.verdict || (*r.verdict != store::Verdict::A && *r.verdict != store::Verdict::B)) {
            if (skipped) ++*skipped;
            return true;
        }
        const bool aChosen = *r.verdict == store::Verdict::A;
        RawPair p;
        p.pairId = r.line;
        if (r.tokenized) {
            p.tokenized = true;
            auto ids = [](const std::vector<int64_t>& v) { return std::vector<text::TokenId>(v.begin(), v.end()); };
            p.promptIds = ids(r.promptIds);
            p.chosenIds = ids(r.chosenIds);
            p.rejectedIds = ids(r.rejectedIds);
        } else {
            p.prompt = std::move(r.pair.prompt);
            p.messages = std::move(r.pair.promptMessages);
            p.chosen = aChosen ? std::move(r.pair.responseA) : std::move(r.pair.responseB);
            p.rejected = aChosen ? std::move(r.pair.responseB) : std::move(r.pair.responseA);
        }
        out.push_back(std::move(p));
        return true;
    });
    return out;
}

// Distinct evaluation prompts (text, chat messages or token ids) that training pairs have too.
size_t sharedPrompts(const std::vector<RawPair>& train, const std::vector<RawPair>& eval) {
    auto key = [](const RawPair& p) {
        std::string k = p.tokenized ? "ids:" : p.messages.empty() ? "text:" + p.prompt : "chat:";
        if (p.tokenized)
            for (auto id : p.promptIds) k += std::to_string(id) + ",";
        for (const auto& m : p.messages) k += m.role + '\x1f' + m.content + '\x1e';
        return k;
    };
    std::set<std::string> seen, shared;
    for (const auto& p : train) seen.insert(key(p));
    for (const auto& p : eval)
        if (seen.count(key(p))) shared.insert(key(p));
    return shared.size();
}

std::vector<RawPair> fromProject(const std::vector<store::TrainingPair>& pairs) {
    std::vector<RawPair> out;
    for (const auto& t : pairs) {
        RawPair p;
        p.pairId = t.pairId;
        p.prompt = t.prompt;
        p.messages = t.promptMessages;
        p.chosen = t.chosen;
        p.rejected = t.rejected;
        p.disagreement = t.disagreement();
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace

void Run::loadData() {
    obs_.onPhase("load", 0, 0);
    if (project_) {
        if (resuming_ || rank_ > 0) {
            // The label snapshot decides the data, not the labels as they are now (and every
            // rank of a data-parallel run reads rank 0's).
            json snap = json::parse(snapshotJson_);
            auto trainPairs = project_->trainingPairs("train");
            auto testPairs = project_->trainingPairs("test");
            std::map<int64_t, store::TrainingPair> byId;
            for (auto& t : trainPairs) byId[t.pairId] = t;
            std::set<int64_t> testIds;
            for (auto& t : testPairs) testIds.insert(t.pairId), byId[t.pairId] = t;
            std::vector<store::TrainingPair> tr, te;
            for (const auto& row : snap) {
                const int64_t id = row.at(0).get<int64_t>();
                const std::string verdict = row.at(1).get<std::string>();
                auto pair = project_->pair(id);
                if (!pair) throw Error("run snapshot names pair " + std::to_string(id) + ", which is no longer in the project");
                store::TrainingPair t;
                t.pairId = id;
                t.prompt = pair->prompt;
                t.promptMessages = pair->promptMessages;
                t.chosen = verdict == "a" ? pair->responseA : pair->responseB;
                t.rejected = verdict == "a" ? pair->responseB : pair->responseA;
                if (row.size() > 4) t.judges = row.at(3).get<int>(), t.agreeing = row.at(4).get<int>();
                (pair->split == "test" ? te : tr).push_back(std::move(t));
            }
            rawTrain_ = fromProject(tr);
            rawEval_ = fromProject(te);
        } else {
            auto tr = project_->trainingPairs("train");
            auto te = project_->trainingPairs("test");
            store::PairQuery q;
            q.verdict = store::VerdictFilter::A;
            auto aIds = project_->pairIds(q);
            std::set<int64_t> chosenA(aIds.begin(), aIds.end());
            json snap = json::array();
            for (const auto* set : {&tr, &te})
                for (const auto& t : *set) {
                    json row = {t.pairId, chosenA.count(t.pairId) ? "a" : "b", t.labelId};
                    if (t.judges > 0) row.push_back(t.judges), row.push_back(t.agreeing);  // consensus mode
                    snap.push_back(std::move(row));
                }
            snapshotJson_ = snap.dump();
            rawTrain_ = fromProject(tr);
            rawEval_ = fromProject(te);
        }
        if (rawTrain_.empty())
            throw Error(cfg_.db + ": no training pairs: label some pairs of split \"train\" a or b first");
    } else {
        size_t skipped = 0, evalSkipped = 0;
        rawTrain_ = readPairsFile(cfg_.data, cfg_, &skipped);
        if (!cfg_.evalData.empty()) rawEval_ = readPairsFile(cfg_.evalData, cfg_, &evalSkipped);
        if (skipped + evalSkipped > 0)
            info(std::to_string(skipped + evalSkipped) +
                 " records without a preference (tie, both bad or unlabelled) left out");
        if (rawTrain_.empty()) throw Error(cfg_.data + ": no pairs with a preference (a or b) in the file");
        json snap = json::array();
        for (const auto& p : rawTrain_) snap.push_back({p.pairId, "a", 0});
        snapshotJson_ = snap.dump();
    }
    info("data: " + std::to_string(rawTrain_.size()) + " training pairs, " + std::to_string(rawEval_.size()) +
         " evaluation pairs");
    if (cfg_.agreement != "off") {
        size_t split = 0;
        for (const auto& p : rawTrain_) split += p.disagreement > 0;
        if (split == 0)
            warn("--agreement " + cfg_.agreement + ": every training pair is unanimous, so it changes nothing "
                 "(annotators' votes count in consensus mode: dpowb annotation-mode DB consensus)");
        else
            info("agreement (" + cfg_.agreement + "): " + std::to_string(split) + " of " +
                 std::to_string(rawTrain_.size()) + " training pairs have a dissenting annotator");
    }
    const size_t shared = sharedPrompts(rawTrain_, rawEval_);
    if (shared > 0)
        warn(std::to_string(shared) + " of the evaluation prompts also appear in training pairs: the eval metrics on "
             "them measure memorisation, not generalisation (move those pairs to one split)");
}

std::vector<Example> Run::tokenize(const std::vector<RawPair>& raw, const char* what) {
    std::vector<Example> out;
    int64_t truncated = 0, dropped = 0, notPrefix = 0, done = 0;
    for (const auto& r : raw) {
        Example e;
        e.pairId = r.pairId;
        e.disagreement = r.disagreement;
        e.enc = r.tokenized ? model::encodePairIds(r.promptIds, r.chosenIds, r.rejectedIds, encode_)
                            : model::encodePair(*policy_, r.prompt, r.messages, r.chosen, r.rejected, encode_);
        if (++done % 256 == 0) obs_.onPhase("tokenize", done, int64_t(raw.size()));
        if (e.enc.responseTruncated) ++truncated;
        if (e.enc.promptNotPrefix) ++notPrefix;
        if (e.enc.emptyResponse) {
            ++dropped;
            continue;
        }
        for (auto id : e.enc.prompt)
            if (id >= policy_->config.vocabSize)
                throw Error(std::string(what) + " pair " + std::to_string(r.pairId) + ": token id " + std::to_string(id) +
                            " is outside the model's vocabulary (" + std::to_string(policy_->config.vocabSize) + ")");
        e.length = int64_t(e.enc.prompt.size() + std::max(e.enc.chosen.size(), e.enc.rejected.size()));
        out.push_back(std::move(e));
    }
    if (truncated > 0)
        warn(std::string(what) + ": " + std::to_string(truncated) + " of " + std::to_string(raw.size()) +
             " pairs had responses cut to --max-length " + std::to_string(cfg_.maxLength));
    if (notPrefix > 0)
        warn(std::string(what) + ": in " + std::to_string(notPrefix) +
             " pairs the tokenized prompt is not a prefix of prompt + response; its last tokens went to the "
             "responses, as TRL does");
    if (dropped > 0)
        warn(std::string(what) + ": dropped " + std::to_string(dropped) +
             " pairs whose response was truncated away entirely (prompt longer than --max-length allows)");
    if (!raw.empty() && out.empty())
        throw Error(std::string(what) + ": every pair lost its response to truncation (--max-length " +
                    std::to_string(cfg_.maxLength) + ", --max-prompt-length " + std::to_string(cfg_.maxPromptLength) +
                    "); the loss would sit at log 2. Raise --max-length or lower --max-prompt-length");
    return out;
}

std::vector<std::vector<int64_t>> Run::epochBatches(int64_t epoch) const {
    std::vector<int64_t> lengths;
    for (const auto& e : train_) lengths.push_back(e.length);
    // The global micro-batches (batch size x ranks); each rank trains on its shard of each.
    return lengthGroupedBatches(lengths, cfg_.batchSize * world_, cfg_.seed, epoch);
}

void Run::computeSchedule() {
    const int64_t global = cfg_.batchSize * world_;
    microPerEpoch_ = (int64_t(train_.size()) + global - 1) / global;
    stepsPerEpoch_ = (microPerEpoch_ + cfg_.gradAccum - 1) / cfg_.gradAccum;
    totalSteps_ = cfg_.maxSteps > 0 ? cfg_.maxSteps : std::max<int64_t>(1, int64_t(std::ceil(cfg_.epochs * double(stepsPerEpoch_))));
}

std::vector<MicroBatch> Run::microBatchesOf(const std::vector<std::vector<int64_t>>& batches,
                                            const std::vector<Example>& pool) const {
    std::vector<MicroBatch> out;
    for (const auto& b : batches) {
        MicroBatch mb;
        for (auto i : b) {
            mb.pairs.push_back(&pool[size_t(i)].enc);
            if (refPrecomputed_) mb.cached.push_back(pool[size_t(i)].ref);
            if (lossOptions_.agreement != AgreementUse::Off) mb.disagreement.push_back(pool[size_t(i)].disagreement);
        }
        out.push_back(std::move(mb));
    }
    return out;
}

}  // namespace dpowb::train::detail
