// The project file. Schema history lives in migrations(); every open brings a file forward.
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <string_view>
#include <set>
#include <random>
#include <tuple>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "common/error.h"
#include "common/error_text.h"
#include "store/project_impl.h"
#include "store/sha256.h"

namespace dpowb::store {

namespace {

// "DPOW": marks a SQLite file as a project, so that opening some other database fails clearly.
constexpr int kApplicationId = 0x44504f57;
constexpr int kBusyTimeoutMs = 10000;
constexpr int64_t kStaleHeartbeatMs = 30000;

bool fileExists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

void removeDatabaseFiles(const std::string& path) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::remove((path + suffix).c_str());
}

std::string hostName() {
    char buf[256] = {0};
    if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
    return buf;
}

bool processAlive(int64_t pid) {
    if (pid <= 0) return false;
    if (::kill(pid_t(pid), 0) == 0) return true;
    return errno == EPERM;  // exists, owned by someone else
}

std::optional<Verdict> verdictColumn(const SQLite::Column& c) {
    if (c.isNull()) return std::nullopt;
    return parseVerdict(c.getString());
}

void bindOptionalVerdict(SQLite::Statement& st, int index, std::optional<Verdict> v) {
    if (v)
        st.bind(index, toString(*v));
    else
        st.bind(index);
}

void appendField(Sha256& h, std::string_view tag, std::string_view value) {
    // Length-prefixed fields: no choice of separator can make two different pairs collide.
    uint8_t len[8];
    uint64_t n = value.size();
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(n >> (8 * i));
    h.update(tag);
    h.update(len, 8);
    h.update(value);
}

}  // namespace

// ---------------------------------------------------------------- helpers shared by the store

int64_t nowMillis() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string contentHash(const Pair& pair) {
    Sha256 h;
    if (pair.isChat()) {
        appendField(h, "C", std::to_string(pair.promptMessages.size()));
        for (const auto& m : pair.promptMessages) {
            appendField(h, "r", m.role);
            appendField(h, "c", m.content);
        }
    } else {
        appendField(h, "P", pair.prompt);
    }
    appendField(h, "A", pair.responseA);
    appendField(h, "B", pair.responseB);
    return h.hexDigest();
}

std::string promptSearchText(const std::vector<Message>& messages) {
    std::string out;
    for (const auto& m : messages) {
        if (!out.empty()) out += "\n\n";
        out += m.content;
    }
    return out;
}

std::string messagesToJson(const std::vector<Message>& messages) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& m : messages) arr.push_back({{"role", m.role}, {"content", m.content}});
    return arr.dump();
}

// The prompt_messages column, as messagesToJson wrote it. A damaged file (a flipped byte, or
// another program's writes) is refused with dpowb::Error, never a JSON library exception.
std::vector<Message> messagesFromJson(const std::string& json) {
    std::vector<Message> out;
    const auto arr = nlohmann::json::parse(json, nullptr, false);
    const auto damaged = [&]() {
        return Error("the project file is damaged: a pair's prompt messages are not a list of {role, content} (" +
                     excerpt(json) + "); restore the file from a backup");
    };
    if (arr.is_discarded() || !arr.is_array()) throw damaged();
    for (const auto& m : arr) {
        if (!m.is_object()) throw damaged();
        const auto role = m.find("role"), content = m.find("content");
        if (role == m.end() || content == m.end() || !role->is_string() || !content->is_string()) throw damaged();
        out.push_back({role->get<std::string>(), content->get<std::string>()});
    }
    return out;
}

// ---------------------------------------------------------------- schema

const std::vector<Migration>& migrations() {
    static const std::vector<Migration> steps = {
        {1, R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE pairs(
  id INTEGER PRIMARY KEY,
  prompt TEXT NOT NULL DEFAULT '',
  prompt_messages TEXT,
  response_a TEXT NOT NULL,
  response_b TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  split TEXT NOT NULL DEFAULT 'train',
  metadata TEXT NOT NULL DEFAULT '{}',
  content_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  prompt_length INTEGER NOT NULL DEFAULT 0,
  response_a_length INTEGER NOT NULL DEFAULT 0,
  response_b_length INTEGER NOT NULL DEFAULT 0);
CREATE INDEX pairs_split ON pairs(split);
CREATE INDEX pairs_source ON pairs(source);
CREATE TABLE labels(
  id INTEGER PRIMARY KEY,
  pair_id INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
  verdict TEXT CHECK (verdict IN ('a', 'b', 'tie', 'both_bad', 'skip')),
  strength INTEGER NOT NULL DEFAULT 1,
  rationale TEXT NOT NULL DEFAULT '',
  annotator TEXT NOT NULL DEFAULT '',
  shown_left TEXT NOT NULL DEFAULT 'a' CHECK (shown_left IN ('a', 'b')),
  created_at INTEGER NOT NULL,
  reverts INTEGER REFERENCES labels(id),
  prev_label_id INTEGER REFERENCES labels(id));
CREATE INDEX labels_pair ON labels(pair_id, id);
CREATE TABLE runs(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  config TEXT NOT NULL DEFAULT '{}',
  snapshot TEXT NOT NULL DEFAULT '[]',
  model_path TEXT NOT NULL DEFAULT '',
  reference_path TEXT NOT NULL DEFAULT '',
  output_dir TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  summary TEXT NOT NULL DEFAULT '{}',
  started_at INTEGER NOT NULL DEFAULT 0,
  finished_at INTEGER NOT NULL DEFAULT 0,
  heartbeat_at INTEGER NOT NULL DEFAULT 0,
  pid INTEGER NOT NULL DEFAULT 0,
  host TEXT NOT NULL DEFAULT '',
  step INTEGER NOT NULL DEFAULT 0,
  total_steps INTEGER NOT NULL DEFAULT 0);
CREATE TABLE metrics(
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  epoch REAL NOT NULL DEFAULT 0,
  split TEXT NOT NULL DEFAULT 'train',
  values_json TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL);
CREATE INDEX metrics_run ON metrics(run_id, step);
CREATE TABLE samples(
  id INTEGER PRIMARY KEY,
  run_id INTEGER REFERENCES runs(id) ON DELETE CASCADE,
  pair_id INTEGER REFERENCES pairs(id) ON DELETE SET NULL,
  step INTEGER NOT NULL DEFAULT 0,
  model TEXT NOT NULL DEFAULT '',
  prompt TEXT NOT NULL DEFAULT '',
  completion TEXT NOT NULL DEFAULT '',
  logp_policy REAL NOT NULL DEFAULT 0,
  logp_reference REAL NOT NULL DEFAULT 0,
  settings TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL);
CREATE INDEX samples_run ON samples(run_id, id);
CREATE TABLE ref_logps(
  fingerprint TEXT NOT NULL,
  settings_key TEXT NOT NULL,
  pair_id INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
  chosen REAL NOT NULL,
  rejected REAL NOT NULL,
  chosen_tokens INTEGER NOT NULL,
  rejected_tokens INTEGER NOT NULL,
  PRIMARY KEY (fingerprint, settings_key, pair_id)) WITHOUT ROWID;
)sql"},
        // v2: the current verdict kept on the pair, so that filtering a million pairs by label
        // state is an index lookup instead of a "latest label per pair" scan.
        {2, R"sql(
ALTER TABLE pairs ADD COLUMN current_verdict TEXT;
ALTER TABLE pairs ADD COLUMN current_label_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pairs ADD COLUMN current_strength INTEGER NOT NULL DEFAULT 0;
UPDATE pairs SET current_label_id = coalesce((
  SELECT CASE WHEN l.reverts IS NULL THEN l.id
              ELSE (SELECT r.prev_label_id FROM labels r WHERE r.id = l.reverts) END
  FROM labels l WHERE l.pair_id = pairs.id ORDER BY l.id DESC LIMIT 1), 0);
UPDATE pairs SET
  current_verdict = (SELECT verdict FROM labels WHERE id = pairs.current_label_id),
  current_strength = coalesce((SELECT strength FROM labels WHERE id = pairs.current_label_id), 0)
  WHERE current_label_id <> 0;
CREATE INDEX pairs_verdict ON pairs(current_verdict);
CREATE INDEX pairs_split_verdict ON pairs(split, current_verdict);
DROP INDEX pairs_split;
)sql"},
        // v3: full-text search. External content (no second copy of the text); filled after
        // each import commits, never by trigger (a trigger makes bulk imports ~10x slower).
        // Words (unicode61, accents folded) rather than trigrams: the index builds ~7x faster
        // (100k pairs of 1 KB: seconds, not half a minute) and word-prefix search is what a
        // search box needs.
        {3, R"sql(
CREATE VIRTUAL TABLE pairs_fts USING fts5(prompt, response_a, response_b,
  content='pairs', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
INSERT INTO meta(key, value) VALUES ('fts_indexed_upto', '0')
  ON CONFLICT(key) DO UPDATE SET value = '0';
)sql"},
        // v4: the reference log-prob cache keyed by what a value depends on. v1-v3 kept one row
        // per (fingerprint, settings, pair id) with the chosen/rejected values: relabelling a
        // pair swapped its roles and the row went stale. Now one row per response sequence,
        // keyed by (fingerprint + settings -> ref_cache_keys.id, SHA-256 of the exact prompt +
        // response token ids). The old rows cannot be re-keyed (their token ids were never
        // stored), so they are dropped: it is a cache, the next run computes them again.
        {4, R"sql(
DROP TABLE ref_logps;
CREATE TABLE ref_cache_keys(
  id INTEGER PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  settings_key TEXT NOT NULL,
  UNIQUE (fingerprint, settings_key));
CREATE TABLE ref_seq_logps(
  key_id INTEGER NOT NULL REFERENCES ref_cache_keys(id) ON DELETE CASCADE,
  sequence_hash TEXT NOT NULL,
  logp REAL NOT NULL,
  tokens INTEGER NOT NULL,
  PRIMARY KEY (key_id, sequence_hash)) WITHOUT ROWID;
)sql"},
        // v5: training-health warnings (train/health.h), one row per warning kind that fired in
        // a run, so that a finished run shows them as the live run did; and each run's data
        // fingerprint (store/provenance.h): one hash of exactly the pairs and labels it used.
        {5, R"sql(
CREATE TABLE health_warnings(
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  split TEXT NOT NULL DEFAULT '',
  code TEXT NOT NULL,
  value REAL,
  message TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL);
CREATE INDEX health_warnings_run ON health_warnings(run_id, step);
ALTER TABLE runs ADD COLUMN data_fingerprint TEXT NOT NULL DEFAULT '';
)sql"},
        // v6: several annotators (docs/ANALYTICS.md). Adjudications are marked label rows; in
        // consensus mode a pair keeps how many annotators judged it and how many gave its
        // verdict (training's agreement); the indexes serve "not yet labelled by me" and the
        // standing-label test (no undo row names the label).
        {6, R"sql(
ALTER TABLE labels ADD COLUMN adjudication INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pairs ADD COLUMN judges INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pairs ADD COLUMN agreeing INTEGER NOT NULL DEFAULT 0;
CREATE INDEX labels_annotator ON labels(annotator, pair_id);
CREATE INDEX labels_reverts ON labels(reverts) WHERE reverts IS NOT NULL;
)sql"},
        // v7: per-pair outcomes of runs (store/pair_outcomes.h: the trainer's evaluations and
        // score-pairs, read by the per-pair drill-down) and saved pair sets ("send to relabel",
        // listed as filters on the Label page).
        {7, R"sql(
CREATE TABLE pair_outcomes(
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  split TEXT NOT NULL,
  step INTEGER NOT NULL,
  source TEXT NOT NULL,
  pair_id INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
  chosen TEXT NOT NULL DEFAULT '',
  policy_chosen REAL NOT NULL,
  reference_chosen REAL NOT NULL,
  policy_rejected REAL NOT NULL,
  reference_rejected REAL NOT NULL,
  chosen_tokens INTEGER NOT NULL,
  rejected_tokens INTEGER NOT NULL,
  chosen_reward REAL NOT NULL,
  rejected_reward REAL NOT NULL,
  PRIMARY KEY (run_id, split, step, source, pair_id)) WITHOUT ROWID;
CREATE TABLE pair_sets(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE pair_set_members(
  set_id INTEGER NOT NULL REFERENCES pair_sets(id) ON DELETE CASCADE,
  pair_id INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
  PRIMARY KEY (set_id, pair_id)) WITHOUT ROWID;
)sql"},
        // v8: change counters per kind of data (Project::changeCounters): every write
        // transaction that touches the pairs' side (pairs, labels, pair sets, search index) or
        // the runs' side (runs, metrics, samples, health warnings, per-pair outcomes) adds one
        // to its counter, so a window that sees PRAGMA data_version move reloads only the side
        // that changed. A build older than v8 would write without counting: it refuses the file.
        {8, R"sql(
INSERT INTO meta(key, value) VALUES ('changes.pairs', '0'), ('changes.runs', '0')
  ON CONFLICT(key) DO NOTHING;
)sql"},
    };
    return steps;
}

void applyMigrations(SQLite::Database& db, int from, int to) {
    for (const auto& m : migrations())
        if (m.to > from && m.to <= to) db.exec(m.sql);
    db.exec("PRAGMA user_version = " + std::to_string(to));
}

int Project::schemaVersion() { return migrations().back().to; }

// ---------------------------------------------------------------- Impl

namespace {

// Process-wide SQLite settings, made before the first connection (sqlite3_config() is refused
// once the library is initialized, which is harmless). Memory statistics off: with them on,
// every allocation takes a global mutex to count itself, ~5% of a bulk import's writing thread.
const std::string& beforeFirstConnection(const std::string& path) {
    static const bool configured = [] {
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        return true;
    }();
    (void)configured;
    return path;
}

}  // namespace

namespace {

// Which side of the data a table belongs to (Project::ChangeCounters). Called by SQLite for
// every row a statement of this connection inserts, updates or deletes in a rowid table.
// WITHOUT ROWID tables are not reported: meta and pair_set_members change with rows that are,
// pair_outcomes' writer sets its side itself. The search index's tables are left out too:
// FTS5 writes its pending terms while the transaction commits, after the counters were
// written; the index's writers (indexNewPairs, rebuildSearchIndex) set the pairs' side.
void noteRowChange(void* impl, int, const char*, const char* table, sqlite3_int64) {
    auto* d = static_cast<Project::Impl*>(impl);
    const std::string_view t(table);
    if (t == "pairs" || t == "labels" || t == "pair_sets")
        d->dirtyKinds |= Project::Impl::kPairsSide;
    else if (t == "metrics" || t == "runs" || t == "samples" || t == "health_warnings")
        d->dirtyKinds |= Project::Impl::kRunsSide;
}

// A commit that leaves a touched side uncounted would hide the change from every window:
// counted here so that tests can prove every write path counts (Project::uncountedCommits).
int noteCommit(void* impl) {
    auto* d = static_cast<Project::Impl*>(impl);
    if (d->dirtyKinds) ++d->uncountedCommits;
    d->dirtyKinds = 0;
    return 0;  // never veto the commit
}

void noteRollback(void* impl) { static_cast<Project::Impl*>(impl)->dirtyKinds = 0; }

}  // namespace

// ---------------------------------------------------------------- background checkpoints
//
// In WAL mode a commit appends its pages to the -wal file; a checkpoint later copies them into
// the project file. SQLite does that on the committing thread, in the commit that takes the
// WAL past 1,000 pages. After a bulk import that is the whole import written a second time,
// once it is already committed: for 100,000 pairs of 1 KB, ~170 MB read back from the WAL and
// written into the file with two fsyncs, ~0.2 s of CPU and 0.3-0.6 s of wall time on the
// 2-core development VM (bench/bench_import). A commit that leaves a WAL of
// kBackgroundCheckpointPages pages or more therefore hands the checkpoint to one process-wide
// thread with a connection of its own, and returns. Crash safety is SQLite's: a checkpoint
// copies committed pages only and may stop anywhere; whatever it has not copied stays in the
// WAL, where every connection reads it and the next checkpoint finds it. A PASSIVE checkpoint
// takes no lock that readers or writers wait for, so the project is used normally meanwhile.
// Smaller commits checkpoint as SQLite's own hook would (same threshold, same mode).

namespace {

constexpr int kAutoCheckpointPages = 1000;         // SQLite's wal_autocheckpoint default
constexpr int kBackgroundCheckpointPages = 4096;   // 64 MiB of 16 KiB pages

class BackgroundCheckpoints {
public:
    static BackgroundCheckpoints& instance() {
        static BackgroundCheckpoints c;
        return c;
    }
    // Queues a checkpoint of the file (once: a file already queued is not queued again).
    void request(const std::string& path) {
        std::lock_guard<std::mutex> lock(m_);
        ++requests_;
        for (const auto& p : queue_)
            if (p == path) return;
        queue_.push_back(path);
        if (!thread_.joinable()) {
            owner_ = ::getpid();
            thread_ = std::thread([this] { run(); });
        }
        wake_.notify_one();
    }
    int64_t requests() {
        std::lock_guard<std::mutex> lock(m_);
        return requests_;
    }
    void waitIdle() {
        std::unique_lock<std::mutex> lock(m_);
        idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
    }
    // Waits until no checkpoint of this file is queued or running.
    void waitFor(const std::string& path) {
        std::unique_lock<std::mutex> lock(m_);
        idle_.wait(lock, [&] {
            if (busy_ && current_ == path) return false;
            for (const auto& p : queue_)
                if (p == path) return false;
            return true;
        });
    }
    // The connections this process has open on each file (Project::Impl), so that the last
    // one to close waits for the file's checkpoint (see ~Impl).
    void opened(const std::string& path) {
        std::lock_guard<std::mutex> lock(m_);
        ++open_[path];
    }
    bool closedLast(const std::string& path) {
        std::lock_guard<std::mutex> lock(m_);
        auto it = open_.find(path);
        if (it == open_.end()) return true;
        if (--it->second > 0) return false;
        open_.erase(it);
        return true;
    }
    // At exit: the queued checkpoints are finished, so that a process that imported and
    // exits leaves a project file that holds everything (as SQLite's close would have).
    ~BackgroundCheckpoints() {
        if (!thread_.joinable()) return;
        if (owner_ != ::getpid()) {  // a forked child: the thread belongs to the parent
            thread_.detach();
            return;
        }
        {
            std::lock_guard<std::mutex> lock(m_);
            stop_ = true;
        }
        wake_.notify_one();
        thread_.join();
    }

private:
    void run() {
        std::unique_lock<std::mutex> lock(m_);
        for (;;) {
            wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, nothing left
            current_ = queue_.front();
            busy_ = true;
            queue_.pop_front();
            lock.unlock();
            checkpoint(current_);
            lock.lock();
            busy_ = false;
            current_.clear();
            idle_.notify_all();
        }
    }
    static void checkpoint(const std::string& path) {
        sqlite3* db = nullptr;
        if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
            // As configureConnection: never delete the -wal and -shm on close; truncate the
            // WAL when this happens to be the last connection to close.
            int persist = 1;
            sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
            sqlite3_exec(db, "PRAGMA journal_size_limit = 0", nullptr, nullptr, nullptr);
            // A read first: a connection learns that the file is in WAL mode when it reads it.
            sqlite3_exec(db, "PRAGMA schema_version", nullptr, nullptr, nullptr);
            // PASSIVE: copies what no reader still needs and never waits; what it leaves is
            // copied by a later commit's checkpoint. A failure leaves the same state (the
            // pages stay in the WAL, where every connection reads them).
            sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
        }
        sqlite3_close_v2(db);
    }

    std::mutex m_;
    std::condition_variable wake_, idle_;
    std::deque<std::string> queue_;
    std::string current_;                  // the file being checkpointed (while busy_)
    std::map<std::string, int> open_;
    bool busy_ = false, stop_ = false;
    int64_t requests_ = 0;
    pid_t owner_ = 0;
    std::thread thread_;
};

// Replaces SQLite's automatic checkpoint (sqlite3_wal_autocheckpoint's hook, same threshold):
// called after every commit on the connection with the WAL's size in pages.
int afterWalCommit(void*, sqlite3* db, const char* schema, int pages) {
    if (pages < kAutoCheckpointPages) return SQLITE_OK;
    const char* file = sqlite3_db_filename(db, schema);  // absolute
    if (pages >= kBackgroundCheckpointPages && file && *file)
        BackgroundCheckpoints::instance().request(file);
    else
        sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    return SQLITE_OK;
}

}  // namespace

void Project::waitForBackgroundCheckpoints() { BackgroundCheckpoints::instance().waitIdle(); }

int64_t backgroundCheckpointRequests() { return BackgroundCheckpoints::instance().requests(); }

Project::Impl::Impl(const std::string& p, int flags) : path(p), db(beforeFirstConnection(p), flags, kBusyTimeoutMs) {
    sqlite3_update_hook(db.getHandle(), &noteRowChange, this);
    sqlite3_commit_hook(db.getHandle(), &noteCommit, this);
    sqlite3_rollback_hook(db.getHandle(), &noteRollback, this);
    sqlite3_wal_hook(db.getHandle(), &afterWalCommit, nullptr);
    const char* file = sqlite3_db_filename(db.getHandle(), "main");
    if (file && *file) {
        filePath = file;
        BackgroundCheckpoints::instance().opened(filePath);
    }
}

// The last connection of this process to a file waits for the file's background checkpoint
// before it closes: a program that imports, closes the project and then copies or moves the
// file alone (bench/gui/bench_million_pairs does) finds everything in it, as when SQLite's own
// checkpoint ran at the commit or at the close. A connection that is not the last (an import
// dialog's, beside the main window's) closes at once.
Project::Impl::~Impl() {
    if (!filePath.empty() && BackgroundCheckpoints::instance().closedLast(filePath))
        BackgroundCheckpoints::instance().waitFor(filePath);
}

void Project::Impl::countChanges() {
    if (!dirtyKinds) return;
    SQLite::Statement st(db,
                         "INSERT INTO meta(key, value) VALUES (?, '1') "
                         "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1");
    for (auto [kind, key] : {std::pair{kPairsSide, "changes.pairs"}, std::pair{kRunsSide, "changes.runs"}}) {
        if (!(dirtyKinds & kind)) continue;
        st.reset();
        st.bind(1, key);
        st.exec();
    }
    dirtyKinds = 0;
}

void Project::Impl::beginWrite() {
    if (writeDepth == 0) {
        db.exec("BEGIN IMMEDIATE");
        nextLabelId = 0;
    }
    ++writeDepth;
}

void Project::Impl::commitWrite() {
    if (--writeDepth > 0) return;
    countChanges();
    db.exec("COMMIT");
    if (pairsAdded && !deferSearchIndex) indexNewPairs();
}

void Project::Impl::rollbackWrite() noexcept {
    if (writeDepth <= 0) return;
    if (--writeDepth > 0) {
        // An inner scope failed: the error unwinds through the outer scope, which rolls back.
        return;
    }
    db.tryExec("ROLLBACK");
    pairsAdded = false;
}

int64_t Project::Impl::insertPair(const Pair& pair, std::optional<Verdict> verdict,
                                  const std::string& annotator, bool* inserted, const std::string* precomputedHash) {
    if (!insertPairStmt_) {
        insertPairStmt_ = std::make_unique<SQLite::Statement>(db, R"sql(
INSERT INTO pairs(prompt, prompt_messages, response_a, response_b, source, split, metadata,
  content_hash, created_at, prompt_length, response_a_length, response_b_length,
  current_verdict, current_label_id, current_strength)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
ON CONFLICT(content_hash) DO NOTHING)sql");
        insertLabelStmt_ = std::make_unique<SQLite::Statement>(db, R"sql(
INSERT INTO labels(id, pair_id, verdict, strength, rationale, annotator, shown_left, created_at)
VALUES (?1, ?2, ?3, 1, '', ?4, 'a', ?5))sql");
        findHashStmt_ = std::make_unique<SQLite::Statement>(db, "SELECT id FROM pairs WHERE content_hash = ?");
    }
    if (writeDepth == 0) throw Error("internal: insertPair outside a write transaction");
    if (verdict && nextLabelId == 0)
        nextLabelId = db.execAndGet("SELECT coalesce(max(id), 0) + 1 FROM labels").getInt64();

    const std::string hash = precomputedHash ? *precomputedHash : contentHash(pair);
    std::string promptText = pair.isChat() ? promptSearchText(pair.promptMessages) : pair.prompt;
    int64_t now = nowMillis();
    auto& st = *insertPairStmt_;
    st.reset();
    st.bindNoCopy(1, promptText);
    std::string messagesJson;
    if (pair.isChat()) {
        messagesJson = messagesToJson(pair.promptMessages);
        st.bindNoCopy(2, messagesJson);
    } else {
        st.bind(2);
    }
    st.bindNoCopy(3, pair.responseA);
    st.bindNoCopy(4, pair.responseB);
    st.bindNoCopy(5, pair.source);
    st.bindNoCopy(6, pair.split);
    static const std::string kEmptyObject = "{}";
    st.bindNoCopy(7, pair.metadataJson.empty() ? kEmptyObject : pair.metadataJson);
    st.bindNoCopy(8, hash);
    st.bind(9, now);
    st.bind(10, int64_t(promptText.size()));
    st.bind(11, int64_t(pair.responseA.size()));
    st.bind(12, int64_t(pair.responseB.size()));
    bindOptionalVerdict(st, 13, verdict);
    st.bind(14, verdict ? nextLabelId : int64_t(0));
    st.bind(15, verdict ? 1 : 0);
    st.exec();
    if (db.getChanges() == 0) {
        if (inserted) *inserted = false;
        auto& f = *findHashStmt_;
        f.reset();
        f.bind(1, hash);
        if (!f.executeStep()) throw Error("internal: duplicate pair vanished");
        const int64_t existing = f.getColumn(0).getInt64();
        f.reset();  // not left open: an open read blocks schema changes on this connection
        return existing;
    }
    int64_t id = db.getLastInsertRowid();
    pairsAdded = true;
    if (inserted) *inserted = true;
    if (verdict) {
        auto& l = *insertLabelStmt_;
        l.reset();
        l.bind(1, nextLabelId);
        l.bind(2, id);
        l.bind(3, toString(*verdict));
        l.bind(4, annotator);
        l.bind(5, now);
        l.exec();
        ++nextLabelId;
    }
    return id;
}

void Project::Impl::indexNewPairs() {
    db.exec("BEGIN IMMEDIATE");
    try {
        int64_t upto = std::stoll(
            db.execAndGet("SELECT coalesce((SELECT value FROM meta WHERE key = 'fts_indexed_upto'), '0')")
                .getString());
        SQLite::Statement ins(db,
                              "INSERT INTO pairs_fts(rowid, prompt, response_a, response_b) "
                              "SELECT id, prompt, response_a, response_b FROM pairs WHERE id > ?");
        ins.bind(1, upto);
        ins.exec();
        db.exec(
            "INSERT INTO meta(key, value) VALUES ('fts_indexed_upto', "
            "(SELECT coalesce(max(id), 0) FROM pairs)) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
        dirtyKinds |= kPairsSide;  // searches find the new pairs from now on
        countChanges();
        db.exec("COMMIT");
        pairsAdded = false;
    } catch (...) {
        db.tryExec("ROLLBACK");
        throw;
    }
}

// ---------------------------------------------------------------- open / create

Project::Project(std::unique_ptr<Impl> d) : d_(std::move(d)) {}
Project::Project(Project&&) noexcept = default;
Project& Project::operator=(Project&&) noexcept = default;
Project::~Project() = default;

namespace {

void configureConnection(SQLite::Database& db) {
    // Never delete the -wal and -shm files on close, even when this connection believes it
    // is the last one. If another process lost its locks (see connectionProblem()), deleting
    // files it still has mapped would send its next commits into an unlinked WAL; persisted
    // files keep every process on the same WAL and wal-index. The last close still
    // checkpoints, and journal_size_limit truncates the WAL then.
    int persist = 1;
    sqlite3_file_control(db.getHandle(), "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    db.exec("PRAGMA journal_size_limit = 0");
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("PRAGMA synchronous = NORMAL");  // safe with WAL: a crash loses at most the last commit
    // Bulk imports touch four indexes at random places; a 64 MB page cache keeps them in memory
    // instead of spilling pages to the WAL mid-transaction.
    db.exec("PRAGMA cache_size = -65536");
}

void bringForward(Project::Impl& d, bool fresh) {
    auto& db = d.db;
    int version = db.execAndGet("PRAGMA user_version").getInt();
    int appId = db.execAndGet("PRAGMA application_id").getInt();
    int tables = db.execAndGet("SELECT count(*) FROM sqlite_master").getInt();
    if (!fresh && appId != kApplicationId && (tables > 0 || version > 0))
        throw Error(d.path + ": not a DPO Workbench project (a SQLite file of some other program)");
    if (!fresh && tables == 0 && version == 0)
        throw Error(d.path + ": not a DPO Workbench project (an empty database); create one with dpowb init");
    if (version > Project::schemaVersion())
        throw Error(d.path + ": written by a newer DPO Workbench (schema " + std::to_string(version) +
                    ", this build reads up to " + std::to_string(Project::schemaVersion()) + "); update the program");
    if (version < Project::schemaVersion()) {
        db.exec("BEGIN IMMEDIATE");
        try {
            // Re-read under the write lock: another process may have migrated meanwhile.
            version = db.execAndGet("PRAGMA user_version").getInt();
            if (version < Project::schemaVersion()) {
                applyMigrations(db, version, Project::schemaVersion());
                db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
                d.countChanges();  // a migration may rewrite what pages show
            }
            db.exec("COMMIT");
        } catch (...) {
            db.tryExec("ROLLBACK");
            throw;
        }
    }
    // Catch the search index up with pairs added by a process that stopped before doing it.
    auto upto = db.execAndGet("SELECT coalesce((SELECT value FROM meta WHERE key = 'fts_indexed_upto'), '0')")
                    .getString();
    auto maxId = db.execAndGet("SELECT coalesce(max(id), 0) FROM pairs").getInt64();
    if (std::stoll(upto) < maxId) d.indexNewPairs();
}

bool statIdentity(const std::string& path, uint64_t& dev, uint64_t& ino) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return false;
    dev = uint64_t(st.st_dev);
    ino = uint64_t(st.st_ino);
    return true;
}

// After the first read the WAL index (-shm) exists and this connection holds a shared lock
// on the database file and on the -shm's "DMS" byte for as long as it stays open.

// Whether /proc/locks lists a lock of this process on the file (dev, ino). nullopt when the
// kernel does not say (not Linux, /proc not mounted).
std::optional<bool> holdsLockOn(uint64_t dev, uint64_t ino) {
    std::FILE* f = std::fopen("/proc/locks", "re");
    if (!f) return std::nullopt;
    const long self = long(::getpid());
    char line[512];
    char want[96];
    std::snprintf(want, sizeof want, "%02x:%02x:%llu", unsigned(major(dev)), unsigned(minor(dev)),
                  static_cast<unsigned long long>(ino));
    bool found = false;
    while (std::fgets(line, sizeof line, f)) {
        // "1: POSIX  ADVISORY  READ 1234 08:01:5678 128 128" (OFD locks show pid -1).
        char kind[16] = {0}, mode[16] = {0}, access[16] = {0}, file[96] = {0};
        long pid = 0;
        if (std::sscanf(line, "%*[^:]: %15s %15s %15s %ld %95s", kind, mode, access, &pid, file) != 5) continue;
        if (pid == self && std::strcmp(file, want) == 0) {
            found = true;
            break;
        }
    }
    std::fclose(f);
    return found;
}

void recordFileIdentity(Project::Impl& d) {
    d.db.execAndGet("SELECT count(*) FROM sqlite_master");  // make sure the -shm is open
    statIdentity(d.path, d.dbDevice, d.dbInode);
    statIdentity(d.path + "-shm", d.shmDevice, d.shmInode);
    d.locksVisible = d.shmInode != 0 && holdsLockOn(d.dbDevice, d.dbInode).value_or(false) &&
                     holdsLockOn(d.shmDevice, d.shmInode).value_or(false);
}

std::unique_ptr<Project::Impl> openImpl(const std::string& path, bool fresh) {
    int flags = SQLite::OPEN_READWRITE | (fresh ? SQLite::OPEN_CREATE : 0);
    std::unique_ptr<Project::Impl> d;
    try {
        d = std::make_unique<Project::Impl>(path, flags);
        // A new file gets 16 KiB pages (SQLite's default is 4 KiB): pairs are ~1 KB rows, and
        // bulk imports then split a quarter as many pages (100,000 pairs: ~30% less CPU in
        // bench/bench_import). It can only be chosen before the first write; older projects
        // keep theirs.
        if (fresh) d->db.exec("PRAGMA page_size = 16384");
        configureConnection(d->db);
        // WAL lets the GUI read while a training thread writes; it needs no transaction open.
        auto mode = d->db.execAndGet("PRAGMA journal_mode = WAL").getString();
        if (mode != "wal") throw Error(path + ": cannot switch the project file to WAL mode (got " + mode + ")");
        bringForward(*d, fresh);
        recordFileIdentity(*d);
    } catch (const Error&) {
        throw;
    } catch (const SQLite::Exception& e) {
        std::string what = e.what();
        if (e.getErrorCode() == SQLITE_NOTADB)
            throw Error(path + ": not a DPO Workbench project (" + what + ")");
        throw Error(path + ": " + what);
    }
    return d;
}

}  // namespace

Project Project::create(const std::string& path) {
    if (fileExists(path)) throw Error(path + ": already exists; not overwriting it");
    try {
        return Project(openImpl(path, true));
    } catch (...) {
        removeDatabaseFiles(path);
        throw;
    }
}

Project Project::open(const std::string& path) {
    if (!fileExists(path)) throw Error(path + ": no such project file");
    Project p(openImpl(path, false));
    p.markInterruptedRuns();
    return p;
}

Project Project::openReadOnly(const std::string& path) {
    if (!fileExists(path)) throw Error(path + ": no such project file");
    try {
        auto d = std::make_unique<Project::Impl>(path, SQLite::OPEN_READONLY);
        int persist = 1;  // as configureConnection: never delete the -wal/-shm of the others
        sqlite3_file_control(d->db.getHandle(), "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
        d->db.exec("PRAGMA foreign_keys = ON");
        const int version = d->db.execAndGet("PRAGMA user_version").getInt();
        const int appId = d->db.execAndGet("PRAGMA application_id").getInt();
        if (appId != kApplicationId) throw Error(path + ": not a DPO Workbench project");
        if (version != Project::schemaVersion())
            throw Error(path + ": schema " + std::to_string(version) + ", this build reads " +
                        std::to_string(Project::schemaVersion()) + " read-only; open it once with `dpowb stats " +
                        path + "` to bring it forward");
        return Project(std::move(d));
    } catch (const Error&) {
        throw;
    } catch (const SQLite::Exception& e) {
        throw Error(path + ": " + e.what());
    }
}

Project Project::openOrCreate(const std::string& path) {
    return fileExists(path) ? open(path) : create(path);
}

const std::string& Project::path() const { return d_->path; }

int64_t Project::dataVersion() { return d_->db.execAndGet("PRAGMA data_version").getInt64(); }

Project::ChangeCounters Project::changeCounters() {
    ChangeCounters c;
    SQLite::Statement st(d_->db, "SELECT key, value FROM meta WHERE key IN ('changes.pairs', 'changes.runs')");
    while (st.executeStep()) {
        const std::string key = st.getColumn(0).getString();
        (key == "changes.pairs" ? c.pairs : c.runs) = st.getColumn(1).getInt64();
    }
    return c;
}

int64_t Project::uncountedCommits() const { return d_->uncountedCommits; }

std::string Project::projectId() {
    auto read = [&] {
        SQLite::Statement st(d_->db, "SELECT value FROM meta WHERE key = 'project_id'");
        return st.executeStep() ? st.getColumn(0).getString() : std::string();
    };
    std::string id = read();
    if (!id.empty()) return id;
    std::random_device rd;
    char buf[33];
    std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", unsigned(rd()), unsigned(rd()), unsigned(rd()), unsigned(rd()));
    WriteScope w(*d_);
    SQLite::Statement ins(d_->db, "INSERT OR IGNORE INTO meta(key, value) VALUES ('project_id', ?)");
    ins.bind(1, std::string(buf));
    ins.exec();
    w.commit();
    return read();  // another process may have made it first
}

std::string Project::connectionProblem() {
    auto& d = *d_;
    uint64_t dev = 0, ino = 0;
    if (!statIdentity(d.path, dev, ino)) return d.path + " was deleted or moved while open";
    if (dev != d.dbDevice || ino != d.dbInode) return d.path + " was replaced by another file while open";
    if (d.shmInode == 0) return {};
    if (!statIdentity(d.path + "-shm", dev, ino))
        return d.path + "-shm was deleted while this program had it open (another process took it for unused)";
    if (dev != d.shmDevice || ino != d.shmInode)
        return d.path + "-shm was replaced while this program had it open (another process took it for unused)";
    // An idle connection keeps a shared lock on both files; only a transaction in progress
    // could be between locks, and a Project is used by one thread, which is here.
    if (!d.locksVisible) return {};
    for (auto [fdev, fino, name] : {std::tuple{d.dbDevice, d.dbInode, d.path},
                                    std::tuple{d.shmDevice, d.shmInode, d.path + "-shm"}}) {
        auto held = holdsLockOn(fdev, fino);
        if (held && !*held)
            return "this program lost its lock on " + name +
                   " (something in it opened and closed the file outside SQLite)";
    }
    return {};
}

// ---------------------------------------------------------------- transactions

Project::Transaction::Transaction(Project& p) : p_(&p) { p_->d_->beginWrite(); }
Project::Transaction::~Transaction() {
    if (!done_) p_->d_->rollbackWrite();
}
void Project::Transaction::commit() {
    done_ = true;
    p_->d_->commitWrite();
}

// ---------------------------------------------------------------- pairs

int64_t Project::addPair(const Pair& pair, bool* inserted) {
    WriteScope tx(*d_);
    int64_t id = d_->insertPair(pair, pair.verdict, "import", inserted);
    tx.commit();
    return id;
}

namespace {

constexpr const char* kPairColumns =
    "id, prompt, prompt_messages, response_a, response_b, source, split, metadata, content_hash, "
    "created_at, current_verdict, current_strength";

Pair readPair(SQLite::Statement& st) {
    Pair p;
    p.id = st.getColumn(0).getInt64();
    if (st.getColumn(2).isNull())
        p.prompt = st.getColumn(1).getString();
    else
        p.promptMessages = messagesFromJson(st.getColumn(2).getString());
    p.responseA = st.getColumn(3).getString();
    p.responseB = st.getColumn(4).getString();
    p.source = st.getColumn(5).getString();
    p.split = st.getColumn(6).getString();
    p.metadataJson = st.getColumn(7).getString();
    p.contentHash = st.getColumn(8).getString();
    p.createdAt = st.getColumn(9).getInt64();
    p.verdict = verdictColumn(st.getColumn(10));
    p.labelStrength = st.getColumn(11).getInt();
    return p;
}

// An annotator's latest standing label of the pair (not an adjudication); binds the name.
const char* const ownVerdictSql =
    "(SELECT l.verdict FROM labels l WHERE l.pair_id = pairs.id AND l.annotator = ? AND l.reverts IS NULL "
    "AND l.adjudication = 0 AND NOT EXISTS (SELECT 1 FROM labels u WHERE u.reverts = l.id) "
    "ORDER BY l.id DESC LIMIT 1)";

// Builds "WHERE ..." for a query; values are bound in order by bindQuery().
std::string whereClause(const PairQuery& q, std::vector<std::string>& binds) {
    std::vector<std::string> conds;
    if (!q.split.empty()) {
        conds.push_back("split = ?");
        binds.push_back(q.split);
    }
    if (!q.source.empty()) {
        conds.push_back("source = ?");
        binds.push_back(q.source);
    }
    // The pair's verdict, or with q.annotator that annotator's latest standing label.
    std::string v = "current_verdict";
    const bool mine = !q.annotator.empty() && q.verdict != VerdictFilter::Any && q.verdict != VerdictFilter::Unresolved;
    if (mine) {
        v = ownVerdictSql;
        binds.push_back(q.annotator);
    }
    switch (q.verdict) {
        case VerdictFilter::Any: break;
        case VerdictFilter::Unlabelled:
            conds.push_back(mine ? v + " IS NULL" : "current_verdict IS NULL AND judges = 0");
            break;
        case VerdictFilter::A: conds.push_back(v + " = 'a'"); break;
        case VerdictFilter::B: conds.push_back(v + " = 'b'"); break;
        case VerdictFilter::Tie: conds.push_back(v + " = 'tie'"); break;
        case VerdictFilter::BothBad: conds.push_back(v + " = 'both_bad'"); break;
        case VerdictFilter::Skip: conds.push_back(v + " = 'skip'"); break;
        case VerdictFilter::Labelled: conds.push_back(v + " IN ('a', 'b', 'tie', 'both_bad')"); break;
        case VerdictFilter::Unresolved: conds.push_back("current_verdict IS NULL AND judges > 0"); break;
    }
    if (q.pairSet > 0)
        conds.push_back("id IN (SELECT pair_id FROM pair_set_members WHERE set_id = " + std::to_string(q.pairSet) + ")");
    if (!q.search.empty()) {
        // Every word of the query must start a word of the pair (search as you type); the
        // user's text is always quoted, never FTS syntax.
        std::string match;
        std::string word;
        auto flush = [&]() {
            bool hasWordChar = false;
            for (unsigned char c : word) hasWordChar |= std::isalnum(c) || c >= 0x80;
            if (hasWordChar) {
                std::string quoted = "\"";
                for (char c : word) quoted += (c == '"') ? std::string("\"\"") : std::string(1, c);
                match += (match.empty() ? "" : " AND ") + quoted + "\"*";
            }
            word.clear();
        };
        for (char c : q.search) {
            if (std::isspace(static_cast<unsigned char>(c))) flush();
            else word += c;
        }
        flush();
        if (!match.empty()) {
            conds.push_back("id IN (SELECT rowid FROM pairs_fts WHERE pairs_fts MATCH ?)");
            binds.push_back(match);
        } else {  // only punctuation: the index has no words for it, so scan
            conds.push_back("(instr(prompt, ?) > 0 OR instr(response_a, ?) > 0 OR instr(response_b, ?) > 0)");
            for (int i = 0; i < 3; ++i) binds.push_back(q.search);
        }
    }
    std::string where;
    for (size_t i = 0; i < conds.size(); ++i) where += (i ? " AND " : " WHERE ") + conds[i];
    return where;
}

// Its binds (the annotator of a verdict order) follow those of whereClause().
std::string orderClause(const PairQuery& q, std::vector<std::string>& binds) {
    if (q.order == PairQuery::Order::Verdict && !q.annotator.empty()) {  // the annotator's own verdicts
        binds.push_back(q.annotator);
        return std::string(" ORDER BY ") + ownVerdictSql + ", id";
    }
    switch (q.order) {
        case PairQuery::Order::Id: return " ORDER BY id";
        case PairQuery::Order::IdDesc: return " ORDER BY id DESC";
        case PairQuery::Order::Length:
            return " ORDER BY prompt_length + response_a_length + response_b_length, id";
        case PairQuery::Order::LengthDesc:
            return " ORDER BY prompt_length + response_a_length + response_b_length DESC, id";
        case PairQuery::Order::Created: return " ORDER BY created_at, id";
        case PairQuery::Order::CreatedDesc: return " ORDER BY created_at DESC, id DESC";
        case PairQuery::Order::Verdict: return " ORDER BY current_verdict, id";
    }
    return " ORDER BY id";
}

std::string limitClause(const PairQuery& q) {
    if (q.limit < 0 && q.offset <= 0) return "";
    return " LIMIT " + std::to_string(q.limit < 0 ? -1 : q.limit) + " OFFSET " + std::to_string(std::max<int64_t>(0, q.offset));
}

}  // namespace

std::optional<Pair> Project::pair(int64_t id) {
    SQLite::Statement st(d_->db, std::string("SELECT ") + kPairColumns + " FROM pairs WHERE id = ?");
    st.bind(1, id);
    if (!st.executeStep()) return std::nullopt;
    return readPair(st);
}

std::vector<Pair> Project::pairs(const PairQuery& query) {
    std::vector<std::string> binds;
    std::string sql = std::string("SELECT ") + kPairColumns + " FROM pairs" + whereClause(query, binds);
    sql += orderClause(query, binds) + limitClause(query);  // after the WHERE binds
    SQLite::Statement st(d_->db, sql);
    for (size_t i = 0; i < binds.size(); ++i) st.bind(int(i + 1), binds[i]);
    std::vector<Pair> out;
    while (st.executeStep()) out.push_back(readPair(st));
    return out;
}

std::vector<int64_t> Project::pairIds(const PairQuery& query) {
    std::vector<std::string> binds;
    std::string sql = "SELECT id FROM pairs" + whereClause(query, binds);
    sql += orderClause(query, binds) + limitClause(query);  // after the WHERE binds
    SQLite::Statement st(d_->db, sql);
    for (size_t i = 0; i < binds.size(); ++i) st.bind(int(i + 1), binds[i]);
    std::vector<int64_t> out;
    while (st.executeStep()) out.push_back(st.getColumn(0).getInt64());
    return out;
}

int64_t Project::countPairs(const PairQuery& query) {
    std::vector<std::string> binds;
    std::string sql = "SELECT count(*) FROM (SELECT id FROM pairs" + whereClause(query, binds) + limitClause(query) + ")";
    SQLite::Statement st(d_->db, sql);
    for (size_t i = 0; i < binds.size(); ++i) st.bind(int(i + 1), binds[i]);
    st.executeStep();
    return st.getColumn(0).getInt64();
}

std::vector<std::string> Project::sources() {
    SQLite::Statement st(d_->db, "SELECT DISTINCT source FROM pairs ORDER BY source");
    std::vector<std::string> out;
    while (st.executeStep()) out.push_back(st.getColumn(0).getString());
    return out;
}

void Project::updatePairMetadata(int64_t id, const std::string& metadataJson) {
    auto parsed = nlohmann::json::parse(metadataJson, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object())
        throw Error("pair metadata must be a JSON object");
    WriteScope tx(*d_);
    SQLite::Statement st(d_->db, "UPDATE pairs SET metadata = ? WHERE id = ?");
    st.bind(1, parsed.dump());
    st.bind(2, id);
    if (st.exec() == 0) throw Error("no pair with id " + std::to_string(id));
    tx.commit();
}

void Project::rebuildSearchIndex() {
    WriteScope tx(*d_);
    d_->db.exec("INSERT INTO pairs_fts(pairs_fts) VALUES ('rebuild')");
    d_->dirtyKinds |= Impl::kPairsSide;
    d_->db.exec(
        "INSERT INTO meta(key, value) VALUES ('fts_indexed_upto', (SELECT coalesce(max(id), 0) FROM pairs)) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    d_->pairsAdded = false;
    tx.commit();
}

void Project::updateSearchIndex() { d_->indexNewPairs(); }

// ---------------------------------------------------------------- labels

namespace {

Label readLabel(SQLite::Statement& st) {
    Label l;
    l.id = st.getColumn(0).getInt64();
    l.pairId = st.getColumn(1).getInt64();
    l.verdict = verdictColumn(st.getColumn(2));
    l.strength = st.getColumn(3).getInt();
    l.rationale = st.getColumn(4).getString();
    l.annotator = st.getColumn(5).getString();
    std::string left = st.getColumn(6).getString();
    l.shownLeft = left.empty() ? 'a' : left[0];
    l.createdAt = st.getColumn(7).getInt64();
    l.reverts = st.getColumn(8).isNull() ? 0 : st.getColumn(8).getInt64();
    l.adjudication = st.getColumn(9).getInt() != 0;
    return l;
}

constexpr const char* kLabelColumns =
    "id, pair_id, verdict, strength, rationale, annotator, shown_left, created_at, reverts, adjudication";

std::string defaultAnnotator(const std::string& given) {
    if (!given.empty()) return given;
    const char* user = std::getenv("USER");
    return user && *user ? user : "unknown";
}

int64_t currentLabelId(SQLite::Database& db, int64_t pairId) {
    SQLite::Statement st(db, "SELECT current_label_id FROM pairs WHERE id = ?");
    st.bind(1, pairId);
    if (!st.executeStep()) throw Error("no pair with id " + std::to_string(pairId));
    return st.getColumn(0).getInt64();
}

// ---- consensus: a pair's verdict from its annotators' standing labels

struct LabelRow {
    int64_t id = 0;
    std::optional<Verdict> verdict;
    int strength = 0;
    std::string annotator;
    int64_t reverts = 0;
    bool adjudication = false;
};

// The kLabelRowColumns of `st`, starting at column `first`.
LabelRow readLabelRow(SQLite::Statement& st, int first = 0) {
    LabelRow r;
    r.id = st.getColumn(first).getInt64();
    r.verdict = verdictColumn(st.getColumn(first + 1));
    r.strength = st.getColumn(first + 2).getInt();
    r.annotator = st.getColumn(first + 3).getString();
    r.reverts = st.getColumn(first + 4).isNull() ? 0 : st.getColumn(first + 4).getInt64();
    r.adjudication = st.getColumn(first + 5).getInt() != 0;
    return r;
}

constexpr const char* kLabelRowColumns = "id, verdict, strength, annotator, reverts, adjudication";

// The standing labels of one pair (label rows no undo row names): each annotator's latest
// and the latest adjudication. `rows` in id order.
struct Standing {
    std::map<std::string, const LabelRow*> byAnnotator;
    const LabelRow* adjudication = nullptr;
    const LabelRow* latest = nullptr;  // the latest standing row of any kind (single mode)
};

Standing standingOf(const std::vector<LabelRow>& rows) {
    std::set<int64_t> reverted;
    for (const auto& r : rows)
        if (r.reverts) reverted.insert(r.reverts);
    Standing s;
    for (const auto& r : rows) {
        if (r.reverts || reverted.count(r.id) || !r.verdict) continue;
        s.latest = &r;
        if (r.adjudication) s.adjudication = &r;
        else s.byAnnotator[r.annotator] = &r;
    }
    return s;
}

struct Resolution {
    std::optional<Verdict> verdict;
    int64_t labelId = 0;
    int strength = 0;
    int judges = 0, agreeing = 0;
};

// docs/ANALYTICS.md, "Several annotators": an adjudication decides (the adjudicator counts as
// one more judge); else the verdict given by more than half of the annotators who judged the
// pair (a skip is no judgement); else unresolved. A pair that only has skips is skipped.
Resolution resolveConsensus(const Standing& s) {
    Resolution out;
    std::map<Verdict, int> votes;
    std::map<Verdict, const LabelRow*> latestOf;
    const LabelRow* latestSkip = nullptr;
    for (const auto& [name, row] : s.byAnnotator) {
        if (*row->verdict == Verdict::Skip) {
            if (!latestSkip || row->id > latestSkip->id) latestSkip = row;
            continue;
        }
        ++out.judges;
        ++votes[*row->verdict];
        auto& l = latestOf[*row->verdict];
        if (!l || row->id > l->id) l = row;
    }
    if (s.adjudication) {
        out.verdict = s.adjudication->verdict;
        out.labelId = s.adjudication->id;
        out.strength = s.adjudication->strength;
        out.judges += 1;
        out.agreeing = votes[*out.verdict] + 1;
        return out;
    }
    if (out.judges == 0) {
        if (latestSkip) out.verdict = Verdict::Skip, out.labelId = latestSkip->id, out.strength = latestSkip->strength;
        return out;
    }
    for (const auto& [verdict, n] : votes) {
        if (2 * n <= out.judges) continue;
        out.verdict = verdict;
        out.labelId = latestOf[verdict]->id;
        out.strength = latestOf[verdict]->strength;
        out.agreeing = n;
    }
    return out;
}

std::vector<LabelRow> labelRowsOf(SQLite::Database& db, int64_t pairId) {
    SQLite::Statement st(db, std::string("SELECT ") + kLabelRowColumns + " FROM labels WHERE pair_id = ? ORDER BY id");
    st.bind(1, pairId);
    std::vector<LabelRow> rows;
    while (st.executeStep()) rows.push_back(readLabelRow(st));
    return rows;
}

void writeResolution(SQLite::Database& db, int64_t pairId, const Resolution& r) {
    SQLite::Statement up(db,
                         "UPDATE pairs SET current_verdict = ?, current_label_id = ?, current_strength = ?, judges = ?, "
                         "agreeing = ? WHERE id = ?");
    bindOptionalVerdict(up, 1, r.verdict);
    up.bind(2, r.labelId);
    up.bind(3, r.strength);
    up.bind(4, r.judges);
    up.bind(5, r.agreeing);
    up.bind(6, pairId);
    up.exec();
}

}  // namespace

AnnotationMode Project::Impl::annotationMode() {
    SQLite::Statement st(db, "SELECT value FROM meta WHERE key = 'annotation_mode'");
    if (!st.executeStep()) return AnnotationMode::Single;
    const std::string text = st.getColumn(0).getString();
    auto m = parseAnnotationMode(text);
    if (!m) throw Error(path + ": unknown annotation mode \"" + text + "\" (written by a newer DPO Workbench?); update the program");
    return *m;
}

void Project::Impl::resolvePair(int64_t pairId) { writeResolution(db, pairId, resolveConsensus(standingOf(labelRowsOf(db, pairId)))); }

AnnotationMode Project::annotationMode() { return d_->annotationMode(); }

void Project::setAnnotationMode(AnnotationMode mode) {
    WriteScope tx(*d_);
    SQLite::Statement set(d_->db,
                          "INSERT INTO meta(key, value) VALUES ('annotation_mode', ?) "
                          "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    set.bind(1, std::string(toString(mode)));
    set.exec();
    d_->dirtyKinds |= Impl::kPairsSide;  // what every page shows of a pair depends on the mode
    // One pass over the label history, pair by pair.
    SQLite::Statement st(d_->db, std::string("SELECT pair_id, ") + kLabelRowColumns + " FROM labels ORDER BY pair_id, id");
    SQLite::Statement single(d_->db,
                             "UPDATE pairs SET current_verdict = ?, current_label_id = ?, current_strength = ?, judges = 0, "
                             "agreeing = 0 WHERE id = ?");
    std::vector<LabelRow> rows;
    int64_t pair = 0;
    auto flush = [&]() {
        if (rows.empty()) return;
        const Standing standing = standingOf(rows);
        if (isConsensus(mode)) {
            writeResolution(d_->db, pair, resolveConsensus(standing));
        } else {  // the latest standing label, whoever gave it
            single.reset();
            bindOptionalVerdict(single, 1, standing.latest ? standing.latest->verdict : std::nullopt);
            single.bind(2, standing.latest ? standing.latest->id : int64_t(0));
            single.bind(3, standing.latest ? standing.latest->strength : 0);
            single.bind(4, pair);
            single.exec();
        }
        rows.clear();
    };
    while (st.executeStep()) {
        const int64_t id = st.getColumn(0).getInt64();
        if (id != pair) flush();
        pair = id;
        rows.push_back(readLabelRow(st, 1));
    }
    flush();
    tx.commit();
}

PairVerdicts Project::verdictsFor(int64_t pairId, const std::string& annotator) {
    const std::string who = defaultAnnotator(annotator);
    const AnnotationMode mode = d_->annotationMode();
    SQLite::Statement p(d_->db, "SELECT current_verdict, judges, agreeing FROM pairs WHERE id = ?");
    p.bind(1, pairId);
    if (!p.executeStep()) throw Error("no pair with id " + std::to_string(pairId));
    PairVerdicts out;
    const auto rows = labelRowsOf(d_->db, pairId);
    const Standing s = standingOf(rows);
    auto it = s.byAnnotator.find(who);
    if (it != s.byAnnotator.end()) out.mine = it->second->verdict, out.mineStrength = it->second->strength;
    if (mode == AnnotationMode::Blind && !out.mine) {
        out.hidden = true;
        return out;
    }
    for (const auto& [name, row] : s.byAnnotator)
        if (name != who) out.others.push_back({name, *row->verdict});
    if (s.adjudication) out.adjudicated = s.adjudication->verdict;
    out.verdict = verdictColumn(p.getColumn(0));
    out.judges = p.getColumn(1).getInt();
    out.agreeing = p.getColumn(2).getInt();
    out.unresolved = !out.verdict && out.judges > 0;
    return out;
}

Label Project::label(int64_t pairId, Verdict verdict, const LabelOptions& options) {
    if (options.shownLeft != 'a' && options.shownLeft != 'b') throw Error("shownLeft must be 'a' or 'b'");
    if (options.adjudication && verdict == Verdict::Skip)
        throw Error("an adjudication decides the pair: give a, b, tie or both_bad, not skip");
    WriteScope tx(*d_);
    int64_t previous = currentLabelId(d_->db, pairId);
    const bool consensus = isConsensus(d_->annotationMode());
    if (consensus) {  // the row this one supersedes: the annotator's own (or the adjudication)
        const auto rows = labelRowsOf(d_->db, pairId);
        const Standing s = standingOf(rows);
        const LabelRow* own = nullptr;
        if (options.adjudication) own = s.adjudication;
        else if (auto it = s.byAnnotator.find(defaultAnnotator(options.annotator)); it != s.byAnnotator.end()) own = it->second;
        previous = own ? own->id : 0;
    }
    Label l;
    l.pairId = pairId;
    l.verdict = verdict;
    l.strength = options.strength;
    l.rationale = options.rationale;
    l.annotator = defaultAnnotator(options.annotator);
    l.shownLeft = options.shownLeft;
    l.createdAt = nowMillis();
    l.adjudication = options.adjudication;
    SQLite::Statement ins(d_->db,
                          "INSERT INTO labels(pair_id, verdict, strength, rationale, annotator, shown_left, "
                          "created_at, reverts, prev_label_id, adjudication) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)");
    ins.bind(1, pairId);
    ins.bind(2, toString(verdict));
    ins.bind(3, l.strength);
    ins.bind(4, l.rationale);
    ins.bind(5, l.annotator);
    ins.bind(6, std::string(1, l.shownLeft));
    ins.bind(7, l.createdAt);
    if (previous) ins.bind(8, previous); else ins.bind(8);
    ins.bind(9, l.adjudication ? 1 : 0);
    ins.exec();
    l.id = d_->db.getLastInsertRowid();
    d_->nextLabelId = 0;  // a bulk insert in the same transaction must re-read max(id)
    if (consensus) {
        d_->resolvePair(pairId);
        tx.commit();
        return l;
    }
    SQLite::Statement up(d_->db,
                         "UPDATE pairs SET current_verdict = ?, current_label_id = ?, current_strength = ? WHERE id = ?");
    up.bind(1, toString(verdict));
    up.bind(2, l.id);
    up.bind(3, l.strength);
    up.bind(4, pairId);
    up.exec();
    tx.commit();
    return l;
}

std::optional<Label> Project::undo(int64_t pairId, const std::string& annotator, bool adjudication) {
    WriteScope tx(*d_);
    int64_t current = currentLabelId(d_->db, pairId);
    if (isConsensus(d_->annotationMode())) {
        // The annotator's own latest standing label (or the adjudication) is reverted; the
        // pair's verdict follows from what stands then.
        const auto rows = labelRowsOf(d_->db, pairId);
        const Standing s = standingOf(rows);
        const LabelRow* target = nullptr;
        if (adjudication) target = s.adjudication;
        else if (auto it = s.byAnnotator.find(defaultAnnotator(annotator)); it != s.byAnnotator.end()) target = it->second;
        if (!target) return std::nullopt;
        Label l;
        l.pairId = pairId;
        l.strength = 0;
        l.annotator = defaultAnnotator(annotator);
        l.createdAt = nowMillis();
        l.reverts = target->id;
        l.adjudication = adjudication;
        SQLite::Statement ins(d_->db,
                              "INSERT INTO labels(pair_id, verdict, strength, rationale, annotator, shown_left, "
                              "created_at, reverts, prev_label_id, adjudication) VALUES (?, NULL, 0, '', ?, 'a', ?, ?, ?, ?)");
        ins.bind(1, pairId);
        ins.bind(2, l.annotator);
        ins.bind(3, l.createdAt);
        ins.bind(4, target->id);
        ins.bind(5, target->id);
        ins.bind(6, adjudication ? 1 : 0);
        ins.exec();
        l.id = d_->db.getLastInsertRowid();
        d_->nextLabelId = 0;
        d_->resolvePair(pairId);
        SQLite::Statement after(d_->db, "SELECT current_verdict FROM pairs WHERE id = ?");
        after.bind(1, pairId);
        after.executeStep();
        l.verdict = verdictColumn(after.getColumn(0));
        SQLite::Statement fix(d_->db, "UPDATE labels SET verdict = ? WHERE id = ?");
        bindOptionalVerdict(fix, 1, l.verdict);
        fix.bind(2, l.id);
        fix.exec();
        tx.commit();
        return l;
    }
    if (current == 0) return std::nullopt;
    // The label before the one undone becomes current again (or none).
    SQLite::Statement prev(d_->db,
                           "SELECT l.prev_label_id, p.verdict, coalesce(p.strength, 0), l.adjudication FROM labels l "
                           "LEFT JOIN labels p ON p.id = l.prev_label_id WHERE l.id = ?");
    prev.bind(1, current);
    if (!prev.executeStep()) throw Error("project is inconsistent: label " + std::to_string(current) + " is missing");
    int64_t restored = prev.getColumn(0).isNull() ? 0 : prev.getColumn(0).getInt64();
    std::optional<Verdict> restoredVerdict = verdictColumn(prev.getColumn(1));
    int restoredStrength = prev.getColumn(2).getInt();
    const bool revertsAdjudication = prev.getColumn(3).getInt() != 0;
    if (adjudication && !revertsAdjudication) return std::nullopt;  // the latest label is no adjudication

    Label l;
    l.pairId = pairId;
    l.verdict = restoredVerdict;
    l.strength = 0;
    l.annotator = defaultAnnotator(annotator);
    l.shownLeft = 'a';
    l.createdAt = nowMillis();
    l.reverts = current;
    l.adjudication = revertsAdjudication;
    SQLite::Statement ins(d_->db,
                          "INSERT INTO labels(pair_id, verdict, strength, rationale, annotator, shown_left, "
                          "created_at, reverts, prev_label_id, adjudication) VALUES (?, ?, 0, '', ?, 'a', ?, ?, ?, ?)");
    ins.bind(1, pairId);
    bindOptionalVerdict(ins, 2, restoredVerdict);
    ins.bind(3, l.annotator);
    ins.bind(4, l.createdAt);
    ins.bind(5, current);
    ins.bind(6, current);
    ins.bind(7, revertsAdjudication ? 1 : 0);
    ins.exec();
    l.id = d_->db.getLastInsertRowid();
    d_->nextLabelId = 0;
    SQLite::Statement up(d_->db,
                         "UPDATE pairs SET current_verdict = ?, current_label_id = ?, current_strength = ? WHERE id = ?");
    bindOptionalVerdict(up, 1, restoredVerdict);
    up.bind(2, restored);
    up.bind(3, restoredStrength);
    up.bind(4, pairId);
    up.exec();
    tx.commit();
    return l;
}

LabelHistoryIo::LabelHistoryIo(Project::Impl& d) : d_(d) {}
LabelHistoryIo::~LabelHistoryIo() = default;

namespace {

struct StoredRow {
    int64_t id;
    HistoryRow row;
    int64_t reverts, prev;  // label ids; 0 for none
};

std::vector<StoredRow> storedRows(SQLite::Database& db, std::unique_ptr<SQLite::Statement>& st, int64_t pairId) {
    if (!st)
        st = std::make_unique<SQLite::Statement>(db,
                                                 "SELECT id, verdict, strength, rationale, annotator, shown_left, "
                                                 "created_at, coalesce(reverts, 0), coalesce(prev_label_id, 0), "
                                                 "adjudication FROM labels WHERE pair_id = ? ORDER BY id");
    st->reset();
    st->bind(1, pairId);
    std::vector<StoredRow> out;
    while (st->executeStep()) {
        StoredRow r;
        r.id = st->getColumn(0).getInt64();
        r.row.verdict = verdictColumn(st->getColumn(1));
        r.row.strength = st->getColumn(2).getInt();
        r.row.rationale = st->getColumn(3).getString();
        r.row.annotator = st->getColumn(4).getString();
        std::string left = st->getColumn(5).getString();
        r.row.shownLeft = left.empty() ? 'a' : left[0];
        r.row.createdAt = st->getColumn(6).getInt64();
        r.reverts = st->getColumn(7).getInt64();
        r.prev = st->getColumn(8).getInt64();
        r.row.adjudication = st->getColumn(9).getInt() != 0;
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace

std::vector<HistoryRow> LabelHistoryIo::read(int64_t pairId, int64_t currentLabelId, int* current) {
    auto rows = storedRows(d_.db, select_, pairId);
    // Ids grow with the index, so a link is found by binary search.
    auto indexOf = [&](int64_t id) {
        auto it = std::lower_bound(rows.begin(), rows.end(), id, [](const StoredRow& r, int64_t v) { return r.id < v; });
        return it != rows.end() && it->id == id ? int(it - rows.begin()) : -1;
    };
    std::vector<HistoryRow> out;
    out.reserve(rows.size());
    for (auto& r : rows) {
        r.row.reverts = r.reverts ? indexOf(r.reverts) : -1;
        r.row.prev = r.prev ? indexOf(r.prev) : -1;
        out.push_back(r.row);
    }
    if (current) *current = currentLabelId ? indexOf(currentLabelId) : -1;
    return out;
}

int64_t LabelHistoryIo::merge(int64_t pairId, bool newPair, const std::vector<HistoryRow>& rows, int current) {
    if (d_.writeDepth == 0) throw Error("internal: LabelHistoryIo::merge outside a write transaction");
    if (rows.empty()) return 0;
    std::vector<StoredRow> existing;
    if (!newPair) existing = storedRows(d_.db, select_, pairId);
    std::vector<bool> matched(existing.size(), false);
    int64_t latestExisting = std::numeric_limits<int64_t>::min();
    for (const auto& e : existing) latestExisting = std::max(latestExisting, e.row.createdAt);
    if (!insert_)
        insert_ = std::make_unique<SQLite::Statement>(d_.db,
                                                      "INSERT INTO labels(pair_id, verdict, strength, rationale, "
                                                      "annotator, shown_left, created_at, reverts, prev_label_id, "
                                                      "adjudication) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    auto& ins = *insert_;
    std::vector<int64_t> ids(rows.size(), 0);
    int64_t added = 0, latestFile = std::numeric_limits<int64_t>::min();
    for (size_t k = 0; k < rows.size(); ++k) {
        const HistoryRow& r = rows[k];
        latestFile = std::max(latestFile, r.createdAt);
        const int64_t reverts = r.isUndo() ? ids[size_t(r.reverts)] : 0;
        for (size_t e = 0; e < existing.size(); ++e) {
            const HistoryRow& x = existing[e].row;
            if (matched[e] || existing[e].reverts != reverts || x.verdict != r.verdict || x.strength != r.strength ||
                x.createdAt != r.createdAt || x.shownLeft != r.shownLeft || x.annotator != r.annotator ||
                x.rationale != r.rationale || x.adjudication != r.adjudication)
                continue;
            matched[e] = true;
            ids[k] = existing[e].id;
            break;
        }
        if (ids[k]) continue;
        ins.reset();
        ins.bind(1, pairId);
        bindOptionalVerdict(ins, 2, r.verdict);
        ins.bind(3, r.strength);
        ins.bind(4, r.rationale);
        ins.bind(5, r.annotator);
        ins.bind(6, std::string(1, r.shownLeft));
        ins.bind(7, r.createdAt);
        if (reverts) ins.bind(8, reverts); else ins.bind(8);
        if (r.prev >= 0) ins.bind(9, ids[size_t(r.prev)]); else ins.bind(9);
        ins.bind(10, r.adjudication ? 1 : 0);
        ins.exec();
        ids[k] = d_.db.getLastInsertRowid();
        ++added;
    }
    d_.nextLabelId = 0;  // a bulk insert in the same transaction must re-read max(id)
    if (added > 0 && isConsensus(mode())) {  // every annotator's standing label counts
        d_.resolvePair(pairId);
        return added;
    }
    if (added == 0 || (!existing.empty() && latestFile <= latestExisting)) return added;
    const int64_t cur = current >= 0 ? ids[size_t(current)] : 0;
    if (!update_)
        update_ = std::make_unique<SQLite::Statement>(
            d_.db, "UPDATE pairs SET current_verdict = ?, current_label_id = ?, current_strength = ? WHERE id = ?");
    auto& up = *update_;
    up.reset();
    if (cur) up.bind(1, toString(*rows[size_t(current)].verdict)); else up.bind(1);
    up.bind(2, cur);
    up.bind(3, cur ? rows[size_t(current)].strength : 0);
    up.bind(4, pairId);
    up.exec();
    return added;
}

std::vector<Label> Project::history(int64_t pairId) {
    SQLite::Statement st(d_->db, std::string("SELECT ") + kLabelColumns + " FROM labels WHERE pair_id = ? ORDER BY id");
    st.bind(1, pairId);
    std::vector<Label> out;
    while (st.executeStep()) out.push_back(readLabel(st));
    return out;
}

std::vector<Label> Project::recentLabels(int limit) {
    SQLite::Statement st(d_->db, std::string("SELECT ") + kLabelColumns + " FROM labels ORDER BY id DESC LIMIT ?");
    st.bind(1, limit);
    std::vector<Label> out;
    while (st.executeStep()) out.push_back(readLabel(st));
    return out;
}

Stats Project::stats() {
    Stats s;
    // One snapshot for all the counts, so that they add up even while another thread writes.
    d_->db.exec(d_->writeDepth ? "SAVEPOINT stats" : "BEGIN");
    try {
        int64_t byVerdict[5] = {0, 0, 0, 0, 0};
        SQLite::Statement v(d_->db,
                            "SELECT current_verdict, count(*), current_verdict IS NULL AND judges > 0 FROM pairs "
                            "GROUP BY current_verdict, current_verdict IS NULL AND judges > 0");
        while (v.executeStep()) {
            int64_t n = v.getColumn(1).getInt64();
            s.pairs += n;
            auto verdict = verdictColumn(v.getColumn(0));
            if (!verdict) {
                (v.getColumn(2).getInt() ? s.unresolved : s.unlabelled) += n;
                continue;
            }
            byVerdict[int(*verdict)] += n;
            if (isLabelled(*verdict)) s.labelled += n; else s.skipped += n;
        }
        for (Verdict x : {Verdict::A, Verdict::B, Verdict::Tie, Verdict::BothBad, Verdict::Skip})
            s.byVerdict.emplace_back(toString(x), byVerdict[int(x)]);
        s.bySplit = {{"train", 0}, {"test", 0}};
        SQLite::Statement sp(d_->db, "SELECT split, count(*) FROM pairs GROUP BY split ORDER BY split");
        while (sp.executeStep()) {
            std::string name = sp.getColumn(0).getString();
            int64_t n = sp.getColumn(1).getInt64();
            bool known = false;
            for (auto& [k, c] : s.bySplit)
                if (k == name) c = n, known = true;
            if (!known) s.bySplit.emplace_back(name, n);
        }
        SQLite::Statement so(d_->db, "SELECT source, count(*) FROM pairs GROUP BY source ORDER BY source");
        while (so.executeStep()) s.bySource.emplace_back(so.getColumn(0).getString(), so.getColumn(1).getInt64());
        s.promptsInBothSplits = d_->db
                                    .execAndGet("SELECT count(*) FROM (SELECT prompt, prompt_messages FROM pairs WHERE split = 'train' "
                                                "INTERSECT SELECT prompt, prompt_messages FROM pairs WHERE split = 'test')")
                                    .getInt64();
    } catch (...) {
        d_->db.tryExec(d_->writeDepth ? "RELEASE stats" : "COMMIT");
        throw;
    }
    d_->db.exec(d_->writeDepth ? "RELEASE stats" : "COMMIT");
    return s;
}

std::vector<TrainingPair> Project::trainingPairs(const std::string& split) {
    SQLite::Statement st(d_->db,
                         "SELECT id, prompt, prompt_messages, response_a, response_b, current_verdict, "
                         "current_label_id, judges, agreeing FROM pairs WHERE current_verdict IN ('a', 'b') AND split = ? "
                         "ORDER BY id");
    st.bind(1, split);
    std::vector<TrainingPair> out;
    while (st.executeStep()) {
        TrainingPair t;
        t.pairId = st.getColumn(0).getInt64();
        if (st.getColumn(2).isNull())
            t.prompt = st.getColumn(1).getString();
        else
            t.promptMessages = messagesFromJson(st.getColumn(2).getString());
        bool aChosen = st.getColumn(5).getString() == "a";
        t.chosen = st.getColumn(aChosen ? 3 : 4).getString();
        t.rejected = st.getColumn(aChosen ? 4 : 3).getString();
        t.labelId = st.getColumn(6).getInt64();
        t.judges = st.getColumn(7).getInt();
        t.agreeing = st.getColumn(8).getInt();
        out.push_back(std::move(t));
    }
    return out;
}

// ---------------------------------------------------------------- runs, metrics, samples

namespace {

constexpr const char* kRunColumns =
    "id, name, status, config, snapshot, model_path, reference_path, output_dir, error, summary, "
    "started_at, finished_at, heartbeat_at, pid, host, step, total_steps, data_fingerprint";

RunRecord readRun(SQLite::Statement& st) {
    RunRecord r;
    r.id = st.getColumn(0).getInt64();
    r.name = st.getColumn(1).getString();
    r.status = parseRunStatus(st.getColumn(2).getString()).value_or(RunStatus::Failed);
    r.configJson = st.getColumn(3).getString();
    r.snapshotJson = st.getColumn(4).getString();
    r.modelPath = st.getColumn(5).getString();
    r.referencePath = st.getColumn(6).getString();
    r.outputDir = st.getColumn(7).getString();
    r.error = st.getColumn(8).getString();
    r.summaryJson = st.getColumn(9).getString();
    r.startedAt = st.getColumn(10).getInt64();
    r.finishedAt = st.getColumn(11).getInt64();
    r.heartbeatAt = st.getColumn(12).getInt64();
    r.pid = st.getColumn(13).getInt64();
    r.host = st.getColumn(14).getString();
    r.step = st.getColumn(15).getInt64();
    r.totalSteps = st.getColumn(16).getInt64();
    r.dataFingerprint = st.getColumn(17).getString();
    return r;
}

bool isFinal(RunStatus s) { return s != RunStatus::Running; }

}  // namespace

int64_t Project::createRun(const RunRecord& run) {
    WriteScope tx(*d_);
    int64_t now = nowMillis();
    SQLite::Statement st(d_->db,
                         "INSERT INTO runs(name, status, config, snapshot, model_path, reference_path, output_dir, "
                         "error, summary, started_at, finished_at, heartbeat_at, pid, host, step, total_steps, "
                         "data_fingerprint) VALUES (?, 'running', ?, ?, ?, ?, ?, '', ?, ?, 0, ?, ?, ?, ?, ?, ?)");
    st.bind(1, run.name);
    st.bind(2, run.configJson);
    st.bind(3, run.snapshotJson);
    st.bind(4, run.modelPath);
    st.bind(5, run.referencePath);
    st.bind(6, run.outputDir);
    st.bind(7, run.summaryJson);
    st.bind(8, run.startedAt ? run.startedAt : now);
    st.bind(9, now);
    st.bind(10, int64_t(::getpid()));
    st.bind(11, hostName());
    st.bind(12, run.step);
    st.bind(13, run.totalSteps);
    st.bind(14, run.dataFingerprint);
    st.exec();
    int64_t id = d_->db.getLastInsertRowid();
    tx.commit();
    return id;
}

std::optional<RunRecord> Project::run(int64_t id) {
    SQLite::Statement st(d_->db, std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?");
    st.bind(1, id);
    if (!st.executeStep()) return std::nullopt;
    return readRun(st);
}

std::vector<RunRecord> Project::runs() {
    SQLite::Statement st(d_->db, std::string("SELECT ") + kRunColumns + " FROM runs ORDER BY id DESC");
    std::vector<RunRecord> out;
    while (st.executeStep()) out.push_back(readRun(st));
    return out;
}

void Project::updateRun(const RunRecord& run) {
    WriteScope tx(*d_);
    SQLite::Statement st(d_->db,
                         "UPDATE runs SET name = ?, status = ?, config = ?, snapshot = ?, model_path = ?, "
                         "reference_path = ?, output_dir = ?, error = ?, summary = ?, started_at = ?, "
                         "finished_at = ?, heartbeat_at = ?, pid = ?, host = ?, step = ?, total_steps = ?, data_fingerprint = ? "
                         "WHERE id = ?");
    st.bind(1, run.name);
    st.bind(2, toString(run.status));
    st.bind(3, run.configJson);
    st.bind(4, run.snapshotJson);
    st.bind(5, run.modelPath);
    st.bind(6, run.referencePath);
    st.bind(7, run.outputDir);
    st.bind(8, run.error);
    st.bind(9, run.summaryJson);
    st.bind(10, run.startedAt);
    st.bind(11, run.finishedAt ? run.finishedAt : (isFinal(run.status) ? nowMillis() : 0));
    st.bind(12, run.heartbeatAt);
    st.bind(13, run.pid);
    st.bind(14, run.host);
    st.bind(15, run.step);
    st.bind(16, run.totalSteps);
    st.bind(17, run.dataFingerprint);
    st.bind(18, run.id);
    if (st.exec() == 0) throw Error("no run with id " + std::to_string(run.id));
    tx.commit();
}

void Project::setRunStatus(int64_t id, RunStatus status, const std::string& error) {
    WriteScope tx(*d_);
    SQLite::Statement st(d_->db,
                         "UPDATE runs SET status = ?, error = ?, finished_at = ?, heartbeat_at = ? WHERE id = ?");
    int64_t now = nowMillis();
    st.bind(1, toString(status));
    st.bind(2, error);
    st.bind(3, isFinal(status) ? now : int64_t(0));
    st.bind(4, now);
    st.bind(5, id);
    if (st.exec() == 0) throw Error("no run with id " + std::to_string(id));
    tx.commit();
}

void Project::heartbeat(int64_t runId, int64_t step, int64_t totalSteps) {
    WriteScope tx(*d_);
    SQLite::Statement st(d_->db, "UPDATE runs SET heartbeat_at = ?, step = ?, total_steps = ? WHERE id = ?");
    st.bind(1, nowMillis());
    st.bind(2, step);
    st.bind(3, totalSteps);
    st.bind(4, runId);
    st.exec();
    tx.commit();
}

void Project::addMetrics(const std::vector<MetricRow>& rows) {
    if (rows.empty()) return;
    WriteScope tx(*d_);
    SQLite::Statement st(d_->db,
                         "INSERT INTO metrics(run_id, step, epoch, split, values_json, created_at) VALUES (?, ?, ?, ?, ?, ?)");
    int64_t now = nowMillis();
    for (const auto& r : rows) {
        st.reset();
        st.bind(1, r.runId);
        st.bind(2, r.step);
        st.bind(3, r.epoch);
        st.bind(4, r.split);
        st.bind(5, r.valuesJson);
        st.bind(6, r.createdAt ? r.createdAt : now);
        st.exec();
    }
    tx.commit();
}

static std::vector<MetricRow> readMetricRows(SQLite::Statement& st) {
    std::vector<MetricRow> out;
    while (st.executeStep()) {
        MetricRow r;
        r.runId = st.getColumn(0).getInt64();
        r.step = st.getColumn(1).getInt64();
        r.epoch = st.getColumn(2).getDouble();
        r.split = st.getColumn(3).getString();
        r.valuesJson = st.getColumn(4).getString();
        r.createdAt = st.getColumn(5).getInt64();
        r.id = st.getColumn(6).getInt64();
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<MetricRow> Project::metrics(int64_t runId) {
    SQLite::Statement st(d_->db,
                         "SELECT run_id, step, epoch, split, values_json, created_at, id FROM metrics WHERE run_id = ? "
                         "ORDER BY step, id");
    st.bind(1, runId);
    return readMetricRows(st);
}

std::vector<MetricRow> Project::metricsAfter(int64_t runId, int64_t afterId) {
    SQLite::Statement st(d_->db,
                         "SELECT run_id, step, epoch, split, values_json, created_at, id FROM metrics "
                         "WHERE run_id = ? AND id > ? ORDER BY id");
    st.bind(1, runId);
    st.bind(2, afterId);
    return readMetricRows(st);
}

void Project::addHealthWarning(const HealthRow& w) {
    WriteScope tx(*d_);
    SQLite::Statement st(d_->db,
                         "INSERT INTO health_warnings(run_id, step, split, code, value, message, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)");
    st.bind(1, w.runId);
    st.bind(2, w.step);
    st.bind(3, w.split);
    st.bind(4, w.code);
    if (std::isfinite(w.value)) st.bind(5, w.value);
    else st.bind(5);  // NULL: SQLite has no NaN
    st.bind(6, w.message);
    st.bind(7, w.createdAt ? w.createdAt : nowMillis());
    st.exec();
    tx.commit();
}

std::vector<HealthRow> Project::healthWarnings(int64_t runId) {
    SQLite::Statement st(d_->db,
                         "SELECT run_id, step, split, code, value, message, created_at FROM health_warnings "
                         "WHERE run_id = ? ORDER BY step, id");
    st.bind(1, runId);
    std::vector<HealthRow> out;
    while (st.executeStep()) {
        HealthRow r;
        r.runId = st.getColumn(0).getInt64();
        r.step = st.getColumn(1).getInt64();
        r.split = st.getColumn(2).getString();
        r.code = st.getColumn(3).getString();
        r.value = st.getColumn(4).isNull() ? std::nan("") : st.getColumn(4).getDouble();
        r.message = st.getColumn(5).getString();
        r.createdAt = st.getColumn(6).getInt64();
        out.push_back(std::move(r));
    }
    return out;
}

int64_t Project::addSample(const SampleRow& s) {
    WriteScope tx(*d_);
    SQLite::Statement st(d_->db,
                         "INSERT INTO samples(run_id, pair_id, step, model, prompt, completion, logp_policy, "
                         "logp_reference, settings, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (s.runId) st.bind(1, s.runId); else st.bind(1);
    if (s.pairId) st.bind(2, s.pairId); else st.bind(2);
    st.bind(3, s.step);
    st.bind(4, s.model);
    st.bind(5, s.prompt);
    st.bind(6, s.completion);
    st.bind(7, s.logpPolicy);
    st.bind(8, s.logpReference);
    st.bind(9, s.settingsJson);
    st.bind(10, s.createdAt ? s.createdAt : nowMillis());
    st.exec();
    int64_t id = d_->db.getLastInsertRowid();
    tx.commit();
    return id;
}

std::vector<SampleRow> Project::samples(int64_t runId) {
    SQLite::Statement st(d_->db,
                         "SELECT id, coalesce(run_id, 0), coalesce(pair_id, 0), step, model, prompt, completion, "
                         "logp_policy, logp_reference, settings, created_at FROM samples "
                         "WHERE coalesce(run_id, 0) = ? ORDER BY id");
    st.bind(1, runId);
    std::vector<SampleRow> out;
    while (st.executeStep()) {
        SampleRow s;
        s.id = st.getColumn(0).getInt64();
        s.runId = st.getColumn(1).getInt64();
        s.pairId = st.getColumn(2).getInt64();
        s.step = st.getColumn(3).getInt64();
        s.model = st.getColumn(4).getString();
        s.prompt = st.getColumn(5).getString();
        s.completion = st.getColumn(6).getString();
        s.logpPolicy = st.getColumn(7).getDouble();
        s.logpReference = st.getColumn(8).getDouble();
        s.settingsJson = st.getColumn(9).getString();
        s.createdAt = st.getColumn(10).getInt64();
        out.push_back(std::move(s));
    }
    return out;
}

int Project::markInterruptedRuns() {
    int64_t now = nowMillis();
    std::string host = hostName();
    struct Stale {
        int64_t id, pid, heartbeat;
    };
    std::vector<Stale> stale;
    {
        SQLite::Statement st(d_->db, "SELECT id, pid, host, heartbeat_at FROM runs WHERE status = 'running'");
        while (st.executeStep()) {
            const int64_t pid = st.getColumn(1).getInt64();
            const int64_t heartbeat = st.getColumn(3).getInt64();
            // On this host the process can be asked: one that still exists may be a run that is
            // merely slow (a long evaluation between heartbeats), never touch it; one that is
            // gone (killed, crashed) is interrupted now, so it can be resumed at once. Another
            // host cannot be checked; its stale heartbeat is all there is to go on.
            if (st.getColumn(2).getString() == host) {
                if (processAlive(pid)) continue;
            } else if (heartbeat >= now - kStaleHeartbeatMs) {
                continue;
            }
            stale.push_back({st.getColumn(0).getInt64(), pid, heartbeat});
        }
    }
    if (stale.empty()) return 0;
    WriteScope tx(*d_);
    // Only if the run is still as read: a resume in between gives it a new pid and heartbeat.
    SQLite::Statement up(d_->db,
                         "UPDATE runs SET status = 'interrupted', finished_at = ?, "
                         "error = 'the process stopped without finishing the run' "
                         "WHERE id = ? AND status = 'running' AND pid = ? AND heartbeat_at = ?");
    int changed = 0;
    for (const auto& r : stale) {
        up.reset();
        up.bind(1, now);
        up.bind(2, r.id);
        up.bind(3, r.pid);
        up.bind(4, r.heartbeat);
        changed += up.exec();
    }
    tx.commit();
    return changed;
}

// ---------------------------------------------------------------- reference log-probs

std::string refSequenceHash(const std::vector<int32_t>& promptIds, const std::vector<int32_t>& responseIds) {
    Sha256 h;
    auto ids = [&](char tag, const std::vector<int32_t>& v) {
        uint8_t head[9];
        head[0] = uint8_t(tag);
        uint64_t n = v.size();
        for (int i = 0; i < 8; ++i) head[1 + i] = uint8_t(n >> (8 * i));
        h.update(head, sizeof head);
        std::vector<uint8_t> bytes(v.size() * 4);
        for (size_t k = 0; k < v.size(); ++k)
            for (int i = 0; i < 4; ++i) bytes[4 * k + size_t(i)] = uint8_t(uint32_t(v[k]) >> (8 * i));
        h.update(bytes.data(), bytes.size());
    };
    ids('P', promptIds);
    ids('R', responseIds);
    return h.hexDigest();
}

namespace {

// The id of (fingerprint, settings) in ref_cache_keys; 0 when absent and not created.
int64_t refCacheKeyId(SQLite::Database& db, const std::string& fingerprint, const std::string& settingsKey,
                      bool create) {
    SQLite::Statement st(db, "SELECT id FROM ref_cache_keys WHERE fingerprint = ? AND settings_key = ?");
    st.bind(1, fingerprint);
    st.bind(2, settingsKey);
    if (st.executeStep()) return st.getColumn(0).getInt64();
    if (!create) return 0;
    SQLite::Statement ins(db, "INSERT INTO ref_cache_keys(fingerprint, settings_key) VALUES (?, ?)");
    ins.bind(1, fingerprint);
    ins.bind(2, settingsKey);
    ins.exec();
    return db.getLastInsertRowid();
}

}  // namespace

std::vector<std::optional<RefSeqLogp>> Project::refSeqLogps(const std::string& fingerprint,
                                                            const std::string& settingsKey,
                                                            const std::vector<std::string>& sequenceHashes) {
    std::vector<std::optional<RefSeqLogp>> out(sequenceHashes.size());
    int64_t key = refCacheKeyId(d_->db, fingerprint, settingsKey, false);
    if (key == 0) return out;
    SQLite::Statement st(d_->db, "SELECT logp, tokens FROM ref_seq_logps WHERE key_id = ? AND sequence_hash = ?");
    for (size_t i = 0; i < sequenceHashes.size(); ++i) {
        st.reset();
        st.bind(1, key);
        st.bind(2, sequenceHashes[i]);
        if (st.executeStep()) out[i] = RefSeqLogp{st.getColumn(0).getDouble(), st.getColumn(1).getInt64()};
    }
    return out;
}

void Project::putRefSeqLogps(const std::string& fingerprint, const std::string& settingsKey,
                             const std::vector<std::pair<std::string, RefSeqLogp>>& values) {
    if (values.empty()) return;
    WriteScope tx(*d_);
    int64_t key = refCacheKeyId(d_->db, fingerprint, settingsKey, true);
    SQLite::Statement st(d_->db,
                         "INSERT INTO ref_seq_logps(key_id, sequence_hash, logp, tokens) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT(key_id, sequence_hash) DO UPDATE SET logp = excluded.logp, tokens = excluded.tokens");
    for (const auto& [hash, v] : values) {
        st.reset();
        st.bind(1, key);
        st.bind(2, hash);
        st.bind(3, v.logp);
        st.bind(4, v.tokens);
        st.exec();
    }
    tx.commit();
}

int64_t Project::countRefSeqLogps() { return d_->db.execAndGet("SELECT count(*) FROM ref_seq_logps").getInt64(); }

}  // namespace dpowb::store
