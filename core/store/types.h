// Value types of the project file. Plain structs: no SQLite, no JSON library, no Qt.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/message.h"

namespace dpowb::store {

// A human judgement of a pair. A and B are the stored responses (not screen sides).
enum class Verdict { A, B, Tie, BothBad, Skip };

const char* toString(Verdict v);  // "a", "b", "tie", "both_bad", "skip"
// Accepts "a", "b", "tie", "both_bad", "both-bad", "skip" (case-insensitive); nullopt otherwise.
std::optional<Verdict> parseVerdict(std::string_view text);
// a/b/tie/both_bad count as labelled; skip does not.
inline bool isLabelled(Verdict v) { return v != Verdict::Skip; }

using dpowb::Message;

// The response side of a pair may itself be a message list (TRL conversational); the store
// keeps responses as text plus, where the source had them, the assistant messages as JSON.
struct Pair {
    int64_t id = 0;  // assigned in import order, starting at 1
    // Exactly one of the two prompt forms is used: plain text, or chat messages.
    std::string prompt;
    std::vector<Message> promptMessages;
    std::string responseA;
    std::string responseB;
    std::string source;           // e.g. "demo", "import:hh-rlhf", "policy-vs-reference"
    std::string split = "train";  // "train" or "test"
    std::string metadataJson = "{}";  // free-form JSON object
    std::string contentHash;      // hex digest of prompt + responses; filled by the store
    int64_t createdAt = 0;        // unix milliseconds; filled by the store

    // Current label (read-only; filled by queries from the label history).
    std::optional<Verdict> verdict;
    int labelStrength = 0;

    bool isChat() const { return !promptMessages.empty(); }
};

// One row of the append-only label history.
struct Label {
    int64_t id = 0;
    int64_t pairId = 0;
    // The pair's verdict after this row: for a label, the verdict given; for an undo, the
    // verdict restored (nullopt = back to unlabelled).
    std::optional<Verdict> verdict;
    int strength = 1;          // 1 = better, 2 = much better (Shift in the GUI); 0 for undo rows
    std::string rationale;
    std::string annotator;
    char shownLeft = 'a';      // which stored response was on the left of the screen: 'a'/'b'
    int64_t createdAt = 0;     // unix milliseconds
    int64_t reverts = 0;       // for an undo row, the id of the label row it reverts; else 0
    bool adjudication = false; // an adjudicator's verdict (or the undo of one), schema v6
    bool isUndo() const { return reverts != 0; }
};

struct LabelOptions {
    int strength = 1;
    std::string rationale;
    std::string annotator;  // default: $USER
    char shownLeft = 'a';
    bool adjudication = false;  // recorded as an adjudicator's verdict (Project::adjudicate)
};

// How a pair's training verdict follows from its labels (docs/ANALYTICS.md, "Several
// annotators"). Kept in the project file (meta `annotation_mode`).
enum class AnnotationMode {
    Single,     // the latest label, whoever gave it, is the pair's verdict (a relabel corrects)
    Consensus,  // each annotator's latest label is a vote: the strict majority, or the adjudication
    Blind,      // Consensus, and an annotator sees no one else's verdict on a pair before giving one
};
const char* toString(AnnotationMode m);  // "single", "consensus", "blind"
std::optional<AnnotationMode> parseAnnotationMode(std::string_view text);
inline bool isConsensus(AnnotationMode m) { return m != AnnotationMode::Single; }

// Unresolved: consensus mode, annotators judged the pair but no verdict has a strict majority
// and no adjudication settled it (left out of training).
enum class VerdictFilter { Any, Unlabelled, A, B, Tie, BothBad, Skip, Labelled, Unresolved };

// Filters and paging for listing pairs. Empty strings mean "any".
struct PairQuery {
    std::string split;
    std::string source;
    VerdictFilter verdict = VerdictFilter::Any;
    std::string search;        // full-text search over prompt and responses (FTS5)
    int64_t pairSet = 0;       // only the members of this saved pair set (store/pair_outcomes.h); 0 = any
    enum class Order { Id, IdDesc, Length, LengthDesc, Created, CreatedDesc, Verdict } order = Order::Id;
    int64_t limit = -1;        // -1 = all
    int64_t offset = 0;
    // When set, the verdict filter and Order::Verdict use this annotator's own latest standing
    // label instead of the pair's verdict ("not yet labelled by me", "my a"; several annotators).
    // Unresolved still means the pair's state.
    std::string annotator;
};

// What one annotator may see of a pair's verdicts (Project::verdictsFor). In blind mode the
// others' verdicts, the adjudication and the pair's verdict stay hidden until the annotator
// has a standing label of their own on the pair.
struct PairVerdicts {
    std::optional<Verdict> mine;  // the annotator's own latest standing label (skip included)
    int mineStrength = 0;
    bool hidden = false;          // blind mode, nothing of mine yet: the fields below are empty
    std::vector<std::pair<std::string, Verdict>> others;  // the others' latest standing labels, by name
    std::optional<Verdict> adjudicated;  // the standing adjudication
    std::optional<Verdict> verdict;      // the pair's training verdict
    bool unresolved = false;             // consensus mode: judged, no majority, not adjudicated
    int judges = 0, agreeing = 0;        // as TrainingPair
};

struct Stats {
    int64_t pairs = 0;
    int64_t labelled = 0;    // current verdict a/b/tie/both_bad
    int64_t skipped = 0;
    int64_t unlabelled = 0;  // no current verdict and no judgement
    int64_t unresolved = 0;  // consensus mode: judged, but no majority and no adjudication
    std::vector<std::pair<std::string, int64_t>> bySplit;    // ("train", N), ("test", N), ...
    std::vector<std::pair<std::string, int64_t>> byVerdict;  // keys a, b, tie, both_bad, skip
    std::vector<std::pair<std::string, int64_t>> bySource;
    // Distinct prompts that pairs of split train and pairs of split test both have: evaluation
    // on those prompts measures memorisation, not generalisation.
    int64_t promptsInBothSplits = 0;
};

// A pair ready for training: chosen/rejected resolved from the current verdict (a → A chosen).
struct TrainingPair {
    int64_t pairId = 0;
    std::string prompt;                  // plain-text prompt (empty when chat)
    std::vector<Message> promptMessages;  // chat prompt
    std::string chosen;
    std::string rejected;
    int64_t labelId = 0;                 // the label row this snapshot used (0 for imported-as-labelled)
    // Consensus mode (schema v6): the annotators who judged the pair (a, b, tie, both_bad; an
    // adjudicator counts as one more) and how many of them gave the training verdict. 0/0 when
    // not known (single mode): full agreement.
    int judges = 0, agreeing = 0;
    // The share of judges who did not give the training verdict (0 when not known).
    double disagreement() const { return judges > 0 ? 1.0 - double(agreeing) / double(judges) : 0.0; }
};

enum class RunStatus { Running, Finished, Failed, Cancelled, Interrupted };
const char* toString(RunStatus s);
std::optional<RunStatus> parseRunStatus(std::string_view text);

struct RunRecord {
    int64_t id = 0;
    std::string name;
    RunStatus status = RunStatus::Running;
    std::string configJson = "{}";    // the whole run configuration (TrainConfig as JSON)
    std::string snapshotJson = "[]";  // label snapshot: [[pair_id, "a"|"b", label_id], ...]
    std::string dataFingerprint;      // store/provenance.h: SHA-256 of the snapshot's pairs and labels ("" = none)
    std::string modelPath;            // the initial policy (folder or builtin:tiny)
    std::string referencePath;        // the reference actually used
    std::string outputDir;            // where the trained model and checkpoints go
    std::string error;                // failure reason, when failed
    std::string summaryJson = "{}";   // final metrics
    int64_t startedAt = 0, finishedAt = 0, heartbeatAt = 0;  // unix milliseconds
    int64_t pid = 0;
    std::string host;
    int64_t step = 0, totalSteps = 0;
};

// One logged point of a run: step, split ("train"/"eval"), metrics as a JSON object
// whose keys are docs/MATH.md's names (without the eval_ prefix).
struct MetricRow {
    int64_t runId = 0;
    int64_t step = 0;
    double epoch = 0;
    std::string split = "train";
    std::string valuesJson = "{}";
    int64_t createdAt = 0;
    int64_t id = 0;  // the row's id, in the order rows were written (set when read back)
};

// A training-health warning of a run (train/health.h): the kind, where it fired, the figure
// that crossed its threshold (NaN when none) and a one-line message with the numbers.
struct HealthRow {
    int64_t runId = 0;
    int64_t step = 0;
    std::string split;
    std::string code;
    double value = 0;
    std::string message;
    int64_t createdAt = 0;
};

// A completion sampled during or after a run (compare view, sample-pairs).
struct SampleRow {
    int64_t id = 0;
    int64_t runId = 0;   // 0 when not tied to a run
    int64_t pairId = 0;  // 0 when the prompt was typed
    int64_t step = 0;
    std::string model;   // "policy" or "reference" (or a folder)
    std::string prompt;
    std::string completion;
    double logpPolicy = 0, logpReference = 0;
    std::string settingsJson = "{}";
    int64_t createdAt = 0;
};

// The reference log-probs of one pair (chosen and rejected sequences), as training uses them.
struct RefLogps {
    double chosen = 0;
    double rejected = 0;
    int64_t chosenTokens = 0;
    int64_t rejectedTokens = 0;
};

// One cached reference log-prob: the summed log-prob of one response sequence (prompt +
// response token ids) and how many tokens it sums over.
struct RefSeqLogp {
    double logp = 0;
    int64_t tokens = 0;
};

}  // namespace dpowb::store
