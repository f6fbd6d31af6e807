// Per-pair outcomes of a run: the implicit rewards β·(log π_θ − log π_ref) each pair got from
// the run's policy, kept so that a run can be looked at pair by pair (the per-pair drill-down:
// `dpowb pairs-outcomes`, the Train page's "Pairs" tab) and so that `dpowb score-pairs` and
// the drill-down compute and read the same numbers.
//
// Two writers, one table (schema v7, `pair_outcomes`):
//  - the trainer, at each evaluation (step 0 included), for the evaluation pairs (split "eval":
//    the project's "test" pairs), oriented as the run trained them (its label snapshot);
//  - `dpowb score-pairs --run N`, for the pairs it scored (split "train" or "eval" by the
//    pair's project split), at the run's current step, oriented by the current verdict (A − B
//    for a pair without an a/b verdict).
// Torch-free and Qt-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/types.h"

namespace dpowb::store {

class Project;

// β·(policy log-prob − reference log-prob) of one response.
double implicitReward(double beta, double policyLogp, double referenceLogp);

// One pair under a policy and a reference, chosen/rejected as oriented (see `chosen`).
struct PairOutcomeRecord {
    int64_t pairId = 0;
    // Which stored response is the "chosen" one: "a" or "b" (by the run's label or the pair's
    // verdict); "" = no a/b verdict, A is taken as "chosen" and the margin is A − B.
    std::string chosen;
    double policyChosen = 0, referenceChosen = 0, policyRejected = 0, referenceRejected = 0;
    int64_t chosenTokens = 0, rejectedTokens = 0;
    double chosenReward = 0, rejectedReward = 0;
    double margin() const { return chosenReward - rejectedReward; }
};

// A record from the summed log-probs of responses A and B: rewards by implicitReward(), the
// orientation by `verdict` (a: A chosen, b: B chosen, otherwise A − B with chosen "").
PairOutcomeRecord outcomeFromLogps(int64_t pairId, std::optional<Verdict> verdict, double beta, double policyA,
                                   double referenceA, double policyB, double referenceB, int64_t tokensA,
                                   int64_t tokensB);

// "eval" for a pair of project split "test" (what the trainer evaluates on), "train" for
// "train", "" for any other split (not part of a run).
std::string outcomeSplitOf(const std::string& projectSplit);

// Stores one evaluation (or scoring) of `split` at `step`, replacing an earlier one of the
// same run, step, split and source ("eval": the trainer; "score": score-pairs). One
// transaction.
void recordPairOutcomes(Project& project, int64_t runId, int64_t step, const std::string& split,
                        const std::string& source, const std::vector<PairOutcomeRecord>& records);

struct OutcomeSnapshot {
    int64_t step = 0;
    std::string split;
    std::string source;
    int64_t pairs = 0;
};
// What a run has, by split then step.
std::vector<OutcomeSnapshot> outcomeSnapshots(Project& project, int64_t runId);

enum class OutcomeFilter {
    All,      // every pair, by pair id
    Flipped,  // margin < 0: the policy prefers the rejected response; most negative first
    Worst,    // the `limit` lowest margins
    Changed,  // the `limit` largest |margin − margin at the first recorded step|
};
const char* toString(OutcomeFilter f);
std::optional<OutcomeFilter> parseOutcomeFilter(std::string_view text);

struct DrillDownQuery {
    int64_t runId = 0;
    std::string split = "eval";  // "eval" | "train"
    int64_t step = -1;           // -1 = the latest recorded step of the split
    OutcomeFilter filter = OutcomeFilter::All;
    int64_t limit = 20;          // for Worst and Changed; <= 0 = no limit
};

struct DrillDownRow {
    PairOutcomeRecord outcome;         // at the table's step
    std::optional<double> baseMargin;  // at the table's base step (absent: not evaluated then)
    std::optional<double> change() const {
        if (!baseMargin) return std::nullopt;
        return outcome.margin() - *baseMargin;
    }
    std::optional<Verdict> verdictNow;  // the pair's current verdict in the project
    std::string projectSplit;
    std::string prompt;  // the prompt's first line (chat: the last user message's), at most 200 bytes
};

struct DrillDownTable {
    int64_t runId = 0;
    std::string split;
    std::string source;        // of the rows at `step`: "eval" or "score"
    int64_t step = -1;         // -1: the run has no outcomes of this split
    int64_t baseStep = -1;     // the first recorded step of the split (the change's origin)
    std::vector<int64_t> steps;  // every recorded step of the split, ascending
    int64_t pairsAtStep = 0;   // rows before the filter
    std::vector<DrillDownRow> rows;
};

// The run's outcomes of one split at one step, filtered and ordered. Throws dpowb::Error when
// the run does not exist or `step` was not recorded (naming the steps that were).
DrillDownTable loadDrillDown(Project& project, const DrillDownQuery& query);

// The filter on rows already loaded (the GUI filters without reading again): see
// OutcomeFilter for the order of each.
std::vector<DrillDownRow> filterOutcomes(std::vector<DrillDownRow> rows, OutcomeFilter filter, int64_t limit);

// Saved pair sets: "send to relabel" from the drill-down; the Label page lists them as
// filters (PairQuery::pairSet). Kept in the project file.
struct PairSetInfo {
    int64_t id = 0;
    std::string name;
    int64_t runId = 0;  // 0: not from a run
    int64_t pairs = 0;  // members still in the project
    int64_t createdAt = 0;
};
// Creates a set (or, when one of the same name exists, replaces its members). Returns its id.
// Throws dpowb::Error when a pair id is not in the project (nothing is written then).
int64_t savePairSet(Project& project, const std::string& name, int64_t runId, const std::vector<int64_t>& pairIds);
std::vector<PairSetInfo> pairSets(Project& project);
void deletePairSet(Project& project, int64_t setId);

}  // namespace dpowb::store
