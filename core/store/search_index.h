// The full-text index of a bulk import, built on its own thread while the importing thread
// writes the pairs. Internal to core/store (formats.cpp's importFile).
//
// SQLite has one writer per file, so the index cannot be written next to the pairs. Instead a
// second thread indexes the new pairs into a contentless FTS5 table of the same declaration in a
// private temporary database; before the import commits, its finished index (FTS5's shadow
// tables: segments, term index, document sizes) is copied into the project's empty index in
// the import's transaction. Tokenizing and building the segments then cost no time on the
// writer's path, and the index is part of the all-or-nothing import.
//
// Only for a project whose index holds no documents and whose pairs table is empty (a new
// project, the first import): the copied index must describe every row of `pairs`. Otherwise
// the import indexes its pairs after the commit as before. FTS5's integrity-check compares the
// copied index against the pairs (store/tst_import's search-index rows).
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/batch_queue.h"

namespace dpowb::store {

class ParallelSearchIndex {
public:
    struct Doc {
        int64_t id = 0;
        std::string prompt, responseA, responseB;  // as the pairs row stores them
    };

    // Null when the project's index is not empty or its declaration is not the expected one;
    // the caller then indexes after the commit.
    static std::unique_ptr<ParallelSearchIndex> startFor(SQLite::Database& project);
    ~ParallelSearchIndex();  // a pending build is dropped (the import failed or was cancelled)

    // Queues a new pair. False when the indexing thread failed (finishInto() throws its error).
    bool add(Doc&& doc);
    // Waits for the thread, then replaces the project's (empty) index with the one built, in the
    // caller's open transaction. Throws the indexing thread's error, if any.
    void finishInto(SQLite::Database& project);

private:
    explicit ParallelSearchIndex(const std::string& declaration);
    void run();
    void stop();

    std::unique_ptr<SQLite::Database> scratch_;
    BatchQueue<std::vector<Doc>> queue_{4};
    std::vector<Doc> batch_;
    std::exception_ptr error_;
    std::thread thread_;
};

}  // namespace dpowb::store
