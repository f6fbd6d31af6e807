// Internals of store::Project shared by the files of core/store (importers use the prepared
// insert statements directly). Not a public header: nothing outside core/store includes it.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <memory>
#include <optional>
#include <string>

#include "store/project.h"

namespace dpowb::store {

int64_t nowMillis();
// Digest of the canonical serialization of prompt (text or messages) + responses A and B.
std::string contentHash(const Pair& pair);
// The searchable text of a chat prompt: the message contents, one paragraph each.
std::string promptSearchText(const std::vector<Message>& messages);
std::string messagesToJson(const std::vector<Message>& messages);
std::vector<Message> messagesFromJson(const std::string& json);

// How many commits in this process handed their checkpoint to the background thread
// (Project::waitForBackgroundCheckpoints); for tests.
int64_t backgroundCheckpointRequests();

// One schema step: the SQL that takes a file from version `to - 1` to version `to`.
struct Migration {
    int to;
    const char* sql;
};
const std::vector<Migration>& migrations();
// Applies the steps after `from` up to `to` in the caller's transaction (tests build old
// files with it).
void applyMigrations(SQLite::Database& db, int from, int to);

struct Project::Impl {
    Impl(const std::string& path, int flags);
    ~Impl();

    std::string path;
    std::string filePath;  // absolute, as SQLite names it (background checkpoints)
    SQLite::Database db;
    int writeDepth = 0;        // nesting of write transactions on this connection
    bool pairsAdded = false;   // pairs inserted since the search index last caught up
    bool deferSearchIndex = false;  // set by an import that leaves the index to a later call
    int64_t nextLabelId = 0;   // valid inside a write transaction that inserts labels (bulk)
    // The files this connection stands on, as found right after it opened (see
    // Project::connectionProblem()). 0 = not recorded.
    uint64_t dbDevice = 0, dbInode = 0, shmDevice = 0, shmInode = 0;
    // Whether /proc/locks showed this process's locks on both files right after the open
    // (on some file systems, overlayfs for one, it names another device or inode than stat()).
    bool locksVisible = false;

    // Inserts a pair (and, when `verdict` is given, its first label by `annotator`) unless a
    // pair with the same content exists. Must run inside a write transaction. `hash`: its
    // contentHash(), when the caller computed it already (the importer, on its reading thread).
    int64_t insertPair(const Pair& pair, std::optional<Verdict> verdict, const std::string& annotator,
                       bool* inserted, const std::string* hash = nullptr);
    // Adds the pairs inserted since the last call to the full-text index (own transaction).
    void indexNewPairs();
    // The project's annotation mode (meta `annotation_mode`; Single when unset).
    AnnotationMode annotationMode();
    // Consensus mode: sets the pair's verdict, judges and agreeing from its standing labels
    // (inside a write transaction).
    void resolvePair(int64_t pairId);

    // The sides of the data this connection's open transaction touched (noteRowChange in
    // project.cpp sets them row by row); countChanges() adds one to each side's counter in
    // meta, inside the transaction, just before it commits. Writers whose table is WITHOUT
    // ROWID (SQLite reports no row changes there) set their side themselves.
    enum : unsigned { kPairsSide = 1, kRunsSide = 2 };
    unsigned dirtyKinds = 0;
    int64_t uncountedCommits = 0;  // commits that touched a side without counting it
    void countChanges();

    void beginWrite();
    void commitWrite();
    void rollbackWrite() noexcept;

private:
    std::unique_ptr<SQLite::Statement> insertPairStmt_, insertLabelStmt_, findHashStmt_;
};

// One row of a pair's label history as a file carries it (the `pairs` format): links to other
// rows are indexes into the same list, not label ids, so that they survive a move between
// projects.
struct HistoryRow {
    std::optional<Verdict> verdict;  // for an undo row, the verdict it restored
    int strength = 1;
    std::string rationale;
    std::string annotator;
    char shownLeft = 'a';
    int64_t createdAt = 0;
    int reverts = -1;  // undo row: the index of the label row it reverts; -1 for a label
    int prev = -1;     // the index of the row that was current before this one; -1 for none
    bool adjudication = false;  // an adjudicator's verdict (or its undo)
    bool isUndo() const { return reverts >= 0; }
};

// Reads and merges label histories for the `pairs` format, with its statements prepared once
// (an export or import of a million pairs calls it a million times).
class LabelHistoryIo {
public:
    explicit LabelHistoryIo(Project::Impl& d);
    ~LabelHistoryIo();
    // A pair's history in id order; `current` gets the index of the row whose id is
    // currentLabelId (-1 for none).
    std::vector<HistoryRow> read(int64_t pairId, int64_t currentLabelId, int* current);
    // Merges a history read from a file into the pair's (inside a write transaction). A row
    // equal to one already there (verdict, strength, rationale, annotator, shown side, time and
    // undo target) is not added again; the others are appended in file order with their links
    // mapped to label ids. `current` is the index of the file's current label (-1 for none).
    // The pair's current label becomes the file's when the pair had no history, or when rows
    // were added and the file's latest row is newer than the pair's latest one (the newest
    // judgement wins). `newPair`: the pair was just inserted (nothing to compare with).
    // Returns the number of rows added.
    int64_t merge(int64_t pairId, bool newPair, const std::vector<HistoryRow>& rows, int current);

private:
    AnnotationMode mode() {  // read once per import
        if (!mode_) mode_ = d_.annotationMode();
        return *mode_;
    }
    Project::Impl& d_;
    std::unique_ptr<SQLite::Statement> select_, insert_, update_;
    std::optional<AnnotationMode> mode_;
};

// RAII write transaction (BEGIN IMMEDIATE at the outermost level, so that two connections
// never both hold a read snapshot and then race to upgrade it to a write lock).
class WriteScope {
public:
    explicit WriteScope(Project::Impl& d) : d_(d) { d_.beginWrite(); }
    ~WriteScope() {
        if (!done_) d_.rollbackWrite();
    }
    void commit() {
        d_.commitWrite();
        done_ = true;
    }

private:
    Project::Impl& d_;
    bool done_ = false;
};

}  // namespace dpowb::store
