// Importers and exporters of the public preference formats (docs/CLI.md, "Preference files").
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/progress.h"
#include "store/types.h"

namespace dpowb::store {

class Project;

// Names accepted by --format: auto, trl, trl-conversational, hh-rlhf, ultrafeedback, openai,
// arena, llamafactory, llamafactory-v1, stack-exchange-paired, pairs, csv, token-ids (the last
// only where token ids can be used: `train --data`, `score`).
const std::vector<std::string>& importFormats();
const std::vector<std::string>& exportFormats();  // trl, trl-conversational, pairs

// A column mapping, `--map prompt=question,chosen=response_j`: before the format is detected,
// each record's column `source` is read as the field `target` (LLaMA-Factory's
// dataset_info.json "columns", for files whose names no built-in layout knows).
struct ColumnMap {
    std::vector<std::pair<std::string, std::string>> entries;  // (target, source)
    bool empty() const { return entries.empty(); }
    std::string toString() const;  // "prompt=question,chosen=response_j"
};
// The fields a mapping may fill (a target outside this list is refused with the list).
const std::vector<std::string>& mappableFields();
// Parses "target=source,..."; throws Error naming the bad entry and what to write instead.
ColumnMap parseColumnMap(const std::string& spec);

struct ImportOptions {
    std::string format = "auto";
    ColumnMap map;
    std::string split = "train";  // default split for records that carry none
    std::string source;           // default: "import:<format>"
    Progress progress;
    // When false, the full-text index is not brought up to date after the commit (benchmarks
    // time it separately; Project::updateSearchIndex() or the next open catches up).
    bool updateSearchIndex = true;
    // A first import (no pairs in the project yet) builds the index on a second thread while it
    // writes the pairs, and commits it with them (store/search_index.h). False: index after the
    // commit, on this thread (benchmarks compare the two).
    bool indexWhileImporting = true;
};

struct ImportResult {
    std::string format;     // the detected or given format
    int64_t records = 0;    // records read
    int64_t inserted = 0;   // new pairs
    int64_t duplicates = 0; // skipped as already present (same content hash)
    int64_t labelled = 0;   // new pairs that arrived with a label
    int64_t labelRows = 0;  // label history rows added (to new pairs and to existing ones)
    int64_t merged = 0;     // existing pairs whose label history gained rows (`pairs` files)
};

// Reads JSONL, .jsonl.gz, a JSON array file, CSV or Parquet. All-or-nothing: one transaction;
// a malformed record throws InputError naming file, line and field, and the project is
// unchanged. The search index is brought up to date in the same transaction (a first import)
// or right after the commit.
ImportResult importFile(Project& project, const std::string& path, const ImportOptions& options);

// Detects the format from the first records; throws InputError when it cannot tell.
std::string detectFormat(const std::string& path, const ColumnMap& map = {});

// Parses without writing (import preview): at most `limit` records as pairs (+ their labels).
struct PreviewRecord {
    Pair pair;
    std::optional<Verdict> verdict;
};
std::vector<PreviewRecord> previewFile(const std::string& path, const std::string& format,
                                       int limit, std::string* detectedFormat = nullptr,
                                       const ColumnMap& map = {});
// The column names of the file's first record (for the import dialog's mapping).
std::vector<std::string> fileColumns(const std::string& path);

// The one reader behind `import`, `train --data` and `score`: every record of the file in
// the given (or detected) format, in file order, through `sink` (return false to stop).
struct ReadOptions {
    std::string format = "auto";
    ColumnMap map;
    std::string split = "train";  // for records that carry none
    bool allowTokenIds = false;   // accept pre-tokenized records (token-ids)
    // The caller's option that names a format, for the message when none can be detected
    // (`dpowb train` and `score` take --data-format).
    std::string formatOption = "--format";
};
struct ReadRecord {
    long line = 0;  // where the record starts: line of a text file, row (1-based) of Parquet
    Pair pair;
    std::optional<Verdict> verdict;
    // token-ids records (prompt_ids, chosen_ids, rejected_ids): no text; chosen is response A.
    bool tokenized = false;
    std::vector<int64_t> promptIds, chosenIds, rejectedIds;
};
// Returns the format used.
std::string readPairs(const std::string& path, const ReadOptions& options,
                      const std::function<bool(ReadRecord&)>& sink);

struct ExportOptions {
    std::string format = "trl";
    std::string split;         // empty = all splits
    bool labeledOnly = false;  // for `pairs`: only pairs with a current verdict
    // Only these pairs (e.g. those a filtered view shows, from Project::pairIds); the other
    // options still apply. Empty optional = every pair.
    std::optional<std::vector<int64_t>> ids;
    Progress progress;
};

// A `pairs` record (JSONL, one pair a line, full fidelity: export -> import -> export is
// byte-identical): "prompt" (text or messages), "response_a", "response_b", "label" (current
// verdict or null), "split", "source", "metadata", "labels" (the whole history, oldest first:
// {"verdict", "strength", "rationale", "annotator", "shown_left", "created_at" (unix ms),
// "reverts" (an undo row: index of the row it reverts; else null), "prev" (index of the row
// current before it, or null)}) and "current_label" (index into "labels", or null). Files
// without "labels" (only "label") still import: a new pair gets that verdict. Importing
// "labels" for a pair the project has adds the rows it lacks (see LabelHistoryIo::merge).
//
// Writes to a temporary file and renames it into place: a failed export leaves nothing.
// "-" streams to standard output. Callers check the path first with checkExportTarget()
// (store/output_guard.h). Returns the number of records written.
int64_t exportFile(Project& project, const std::string& path, const ExportOptions& options);

// The bundled demo data set (README, "The demo"): movie-review sentence beginnings, positive chosen,
// negative rejected; ~2,000 labelled train pairs, ~200 labelled test pairs, a few hundred
// unlabelled pairs. Deterministic (fixed seed).
ImportResult addDemoPairs(Project& project);

// The demo's preference rule, for tests and the compare view: +1 when the text reads
// positive, -1 negative, 0 undecided (by the demo's word lists).
int demoSentiment(const std::string& text);

}  // namespace dpowb::store
