#include "store/search_index.h"

#include <sqlite3.h>

#include "common/error.h"

namespace dpowb::store {

namespace {

constexpr size_t kBatch = 256;

// Copies every row of `table` from `from` into the same table of `to`, values as stored.
void copyRows(SQLite::Database& from, SQLite::Database& to, const std::string& table, int columns) {
    struct Stmt {
        sqlite3_stmt* s = nullptr;
        ~Stmt() { sqlite3_finalize(s); }
    } read, write;
    std::string marks;
    for (int i = 0; i < columns; ++i) marks += i ? ",?" : "?";
    const std::string select = "SELECT * FROM " + table, insert = "INSERT INTO " + table + " VALUES (" + marks + ")";
    auto fail = [&](sqlite3* db) { throw Error("cannot copy the search index (" + table + "): " + sqlite3_errmsg(db)); };
    if (sqlite3_prepare_v2(from.getHandle(), select.c_str(), -1, &read.s, nullptr) != SQLITE_OK) fail(from.getHandle());
    if (sqlite3_prepare_v2(to.getHandle(), insert.c_str(), -1, &write.s, nullptr) != SQLITE_OK) fail(to.getHandle());
    if (sqlite3_column_count(read.s) != columns) throw Error("internal: unexpected layout of " + table);
    int rc;
    while ((rc = sqlite3_step(read.s)) == SQLITE_ROW) {
        for (int i = 0; i < columns; ++i) sqlite3_bind_value(write.s, i + 1, sqlite3_column_value(read.s, i));
        if (sqlite3_step(write.s) != SQLITE_DONE) fail(to.getHandle());
        sqlite3_reset(write.s);
    }
    if (rc != SQLITE_DONE) fail(from.getHandle());
}

}  // namespace

std::unique_ptr<ParallelSearchIndex> ParallelSearchIndex::startFor(SQLite::Database& project) {
    if (project.execAndGet("SELECT EXISTS (SELECT 1 FROM pairs) OR EXISTS (SELECT 1 FROM pairs_fts_docsize)").getInt())
        return nullptr;
    // The project's own declaration, with its external content replaced by none: the same
    // columns, tokenizer and options, hence the same index format.
    std::string decl = project.execAndGet("SELECT sql FROM sqlite_master WHERE name = 'pairs_fts'").getString();
    const std::string external = "content='pairs', content_rowid='id'";
    auto at = decl.find(external);
    if (at == std::string::npos) return nullptr;
    decl.replace(at, external.size(), "content=''");
    return std::unique_ptr<ParallelSearchIndex>(new ParallelSearchIndex(decl));
}

ParallelSearchIndex::ParallelSearchIndex(const std::string& declaration) {
    // "": a private temporary database, in memory until it outgrows its cache, deleted on close.
    // No mutex: one thread at a time uses it (made here, filled by the indexing thread, read
    // by the writer after join()); SQLite's per-call locking was 2-5 % of the indexing thread.
    scratch_ = std::make_unique<SQLite::Database>("", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE |
                                                          SQLite::OPEN_NOMUTEX);
    scratch_->exec("PRAGMA journal_mode = OFF");
    scratch_->exec("PRAGMA synchronous = OFF");
    scratch_->exec("PRAGMA cache_size = -262144");
    scratch_->exec(declaration);
    batch_.reserve(kBatch);
    thread_ = std::thread([this] { run(); });
}

ParallelSearchIndex::~ParallelSearchIndex() { stop(); }

void ParallelSearchIndex::stop() {
    if (!thread_.joinable()) return;
    queue_.abort();
    thread_.join();
}

void ParallelSearchIndex::run() {
    try {
        scratch_->exec("BEGIN");
        SQLite::Statement ins(*scratch_,
                              "INSERT INTO pairs_fts(rowid, prompt, response_a, response_b) VALUES (?, ?, ?, ?)");
        std::vector<Doc> batch;
        while (queue_.pop(batch)) {
            for (const Doc& d : batch) {
                ins.bind(1, d.id);
                ins.bindNoCopy(2, d.prompt);
                ins.bindNoCopy(3, d.responseA);
                ins.bindNoCopy(4, d.responseB);
                ins.exec();
                ins.reset();
            }
            batch.clear();
        }
        scratch_->exec("COMMIT");
    } catch (...) {
        error_ = std::current_exception();
        queue_.abort();  // the writer's next add() returns false
    }
}

bool ParallelSearchIndex::add(Doc&& doc) {
    batch_.push_back(std::move(doc));
    if (batch_.size() < kBatch) return true;
    bool ok = queue_.push(std::move(batch_));
    batch_ = {};
    batch_.reserve(kBatch);
    return ok;
}

void ParallelSearchIndex::finishInto(SQLite::Database& project) {
    if (!batch_.empty()) queue_.push(std::move(batch_));
    batch_ = {};
    queue_.close();
    thread_.join();
    if (error_) std::rethrow_exception(error_);
    // The empty index's own records (its structure and averages) go; the built one replaces it.
    project.exec("DELETE FROM pairs_fts_data; DELETE FROM pairs_fts_idx; DELETE FROM pairs_fts_docsize;");
    copyRows(*scratch_, project, "pairs_fts_data", 2);
    copyRows(*scratch_, project, "pairs_fts_idx", 3);
    copyRows(*scratch_, project, "pairs_fts_docsize", 2);
}

}  // namespace dpowb::store
