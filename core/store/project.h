// The project file: one SQLite database per project (WAL, foreign keys on, busy timeout,
// schema versioned with PRAGMA user_version and migrated forward on open).
//
// Threading: a Project is one connection and belongs to one thread. Another thread that
// needs the same file opens its own Project on the same path (the GUI labels while the
// trainer writes metrics). Writes are short transactions.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/progress.h"
#include "store/types.h"

namespace dpowb::store {

// The cache key of one response sequence: SHA-256 of the prompt ids and the response ids
// (length-prefixed, so that no split of one id list into two collides with another).
std::string refSequenceHash(const std::vector<int32_t>& promptIds, const std::vector<int32_t>& responseIds);

class Project {
public:
    // Creates a new, empty project file; fails if the file exists.
    static Project create(const std::string& path);
    // Opens an existing project file, migrating its schema forward. Runs recorded as
    // running whose process is gone are marked interrupted: on this host at once (the pid no
    // longer exists), from another host when its heartbeat is older than 30 s. Fails with a
    // clear message if the file is not a project.
    static Project open(const std::string& path);
    // Opens if it exists, else creates.
    static Project openOrCreate(const std::string& path);
    // Opens for reading only (the ranks > 0 of a data-parallel run): no migration, no marking
    // of interrupted runs; a file of an older schema is refused (open it once read-write).
    static Project openReadOnly(const std::string& path);

    Project(Project&&) noexcept;
    Project& operator=(Project&&) noexcept;
    ~Project();

    const std::string& path() const;
    static int schemaVersion();  // the version this build writes
    // Changes whenever another connection (another thread, window or process) commits a
    // change to the file (PRAGMA data_version): the GUI polls it to refresh.
    int64_t dataVersion();
    // Counters of committed changes, one per side of the data: `pairs` moves with pairs,
    // labels, pair sets, the search index and the annotation mode; `runs` with runs, their
    // metrics, samples, health warnings and per-pair outcomes (heartbeats included). Every
    // write transaction adds one to each side it touched. A window that sees dataVersion()
    // move reads these to reload only what changed.
    struct ChangeCounters {
        int64_t pairs = 0, runs = 0;
    };
    ChangeCounters changeCounters();
    // Commits on this connection that touched a side without counting it (0 unless a write
    // path bypasses the store's transactions: tests check it stays 0).
    int64_t uncountedCommits() const;
    // Whether this connection still stands on the files SQLite opened, and still holds the
    // locks that tell other processes it is there. POSIX record locks belong to a process,
    // not to a descriptor: when anything in this process opens and closes the project file
    // or its -shm outside SQLite (a file dialog sniffing MIME types, a thumbnailer), the
    // kernel drops every lock this process holds on it, and a second process may then
    // checkpoint and delete the -wal/-shm this connection still maps. Returns "" when all
    // is well, else what is wrong (the caller should close and reopen the project).
    // Checks the file identities with stat() and the locks in /proc/locks (Linux; elsewhere
    // only the identities).
    std::string connectionProblem();
    // A commit that leaves a large WAL (a bulk import: ~170 MB for 100,000 pairs) has it
    // copied into the file on a background thread rather than on the committing one (see
    // project.cpp, "background checkpoints"). Waits until every such copy this process started
    // is done. (The last connection of the process to a file waits for that file's copy when
    // it closes, and the process for all of them at exit.) For tests and benchmarks.
    static void waitForBackgroundCheckpoints();
    // A random identifier of this project (32 hex digits), made on first use and kept in the
    // file: run folders record it, so that a folder written by another project (two project
    // files side by side, or a project file deleted and made anew under the same name) is
    // recognised as foreign.
    std::string projectId();

    // ---- pairs ----
    // Adds a pair unless one with the same content hash exists; returns the id either way.
    // `inserted` (when given) tells which. When pair.verdict is set, a new pair also gets it
    // as its first label (annotator "import").
    int64_t addPair(const Pair& pair, bool* inserted = nullptr);
    std::optional<Pair> pair(int64_t id);
    std::vector<Pair> pairs(const PairQuery& query);
    std::vector<int64_t> pairIds(const PairQuery& query);  // ids only (lazy views)
    int64_t countPairs(const PairQuery& query);
    std::vector<std::string> sources();
    // Replaces the editable text of a pair (keeps the id); used by the GUI's edit.
    void updatePairMetadata(int64_t id, const std::string& metadataJson);
    // Rebuild the full-text index (after a bulk import, outside its transaction).
    void rebuildSearchIndex();
    // Adds the pairs not yet in the full-text index (cheap when few are missing).
    void updateSearchIndex();

    // ---- labels (append-only) ----
    // Appends a label (options.adjudication: an adjudicator's verdict, a/b/tie/both_bad only)
    // and updates the pair's verdict by the project's annotation mode.
    Label label(int64_t pairId, Verdict verdict, const LabelOptions& options = {});
    // Single mode: reverts the pair's current label, whoever gave it. Consensus and blind
    // modes: reverts `annotator`'s latest standing label on the pair (with `adjudication`, the
    // latest standing adjudication). Appends an undo row; nullopt if there is nothing to undo.
    // The returned row's verdict is the pair's verdict afterwards.
    std::optional<Label> undo(int64_t pairId, const std::string& annotator = {}, bool adjudication = false);

    // ---- several annotators (schema v6; docs/ANALYTICS.md "Several annotators") ----
    AnnotationMode annotationMode();
    // Records the mode and recomputes every pair's verdict from its labels (one transaction;
    // no label is added or lost, so switching back restores the former verdicts).
    void setAnnotationMode(AnnotationMode mode);
    // What `annotator` may see of the pair's verdicts ("" = $USER).
    PairVerdicts verdictsFor(int64_t pairId, const std::string& annotator);
    std::vector<Label> history(int64_t pairId);  // oldest first
    // Latest label rows across all pairs, newest first (GUI undo across pairs, activity).
    std::vector<Label> recentLabels(int limit);
    Stats stats();

    // Pairs whose current verdict is a or b in the given split, with chosen/rejected resolved.
    std::vector<TrainingPair> trainingPairs(const std::string& split);

    // ---- runs, metrics, samples ----
    int64_t createRun(const RunRecord& run);  // status running, pid/host/heartbeat filled
    std::optional<RunRecord> run(int64_t id);
    std::vector<RunRecord> runs();            // newest first
    void updateRun(const RunRecord& run);      // all mutable fields
    void setRunStatus(int64_t id, RunStatus status, const std::string& error = {});
    void heartbeat(int64_t runId, int64_t step, int64_t totalSteps);
    void addMetrics(const std::vector<MetricRow>& rows);  // one transaction
    std::vector<MetricRow> metrics(int64_t runId);  // by step
    // The rows written after the row `afterId` (0: all), in the order they were written: a
    // follower of a running job reads only what is new.
    std::vector<MetricRow> metricsAfter(int64_t runId, int64_t afterId);
    // Training-health warnings of a run (schema v5), oldest step first.
    void addHealthWarning(const HealthRow& warning);
    std::vector<HealthRow> healthWarnings(int64_t runId);
    int64_t addSample(const SampleRow& sample);
    std::vector<SampleRow> samples(int64_t runId);
    // Marks stale running runs interrupted (also done by open()); returns how many.
    int markInterruptedRuns();

    // ---- cached reference log-probs (schema v4) ----
    // One entry per response sequence, keyed by the reference's fingerprint, the settings
    // that produced the ids (settingsKey) and refSequenceHash() of the exact prompt + response
    // token ids: a relabelled, edited or re-imported pair can only meet values computed for
    // the very same ids. Returns one slot per hash, in order (nullopt = not cached).
    std::vector<std::optional<RefSeqLogp>> refSeqLogps(const std::string& fingerprint,
                                                       const std::string& settingsKey,
                                                       const std::vector<std::string>& sequenceHashes);
    // Stores (sequence hash, value) rows in one transaction; an existing key is overwritten.
    void putRefSeqLogps(const std::string& fingerprint, const std::string& settingsKey,
                        const std::vector<std::pair<std::string, RefSeqLogp>>& values);
    int64_t countRefSeqLogps();  // entries over all fingerprints and settings

    // ---- transactions for bulk work (importers) ----
    class Transaction {
    public:
        explicit Transaction(Project& p);
        ~Transaction();  // rolls back unless committed
        void commit();

    private:
        Project* p_;
        bool done_ = false;
    };

    struct Impl;
    Impl& impl() { return *d_; }

private:
    explicit Project(std::unique_ptr<Impl> d);
    std::unique_ptr<Impl> d_;
};

}  // namespace dpowb::store
