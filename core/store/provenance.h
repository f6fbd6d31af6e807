// Provenance of a training run: which pairs, with which labels, it trained and evaluated on.
//
// A run's label snapshot (RunRecord::snapshotJson, [[pair_id, "a"|"b", label_id], ...]) names
// its pairs and the verdict each had; dataFingerprint() turns it into one SHA-256 over the
// pairs' content hashes, splits and verdicts, so two runs on the same data and labels share a
// fingerprint (in any project file), and any added, removed, moved or relabelled pair changes
// it. diffSnapshots() says what changed between two runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dpowb::store {

class Project;

struct SnapshotEntry {
    int64_t pairId = 0;
    std::string verdict;  // "a" | "b": which stored response was chosen
    int64_t labelId = 0;  // the label row it came from (0: labelled on import / a data file)
    int judges = 0, agreeing = 0;  // consensus mode (store::TrainingPair); 0/0 = not recorded
};

// Parses a run's snapshot; throws dpowb::Error naming what is wrong with it.
std::vector<SnapshotEntry> parseSnapshot(const std::string& snapshotJson);

// "sha256:<64 hex>" over the entries sorted by pair id: per pair its content hash, split and
// verdict. Throws dpowb::Error when a pair of the snapshot is no longer in the project.
std::string dataFingerprint(Project& project, const std::vector<SnapshotEntry>& snapshot);

struct SnapshotChange {
    int64_t pairId = 0;
    std::string before, after;  // verdicts ("" = not in that snapshot)
};

struct SnapshotDiff {
    std::vector<SnapshotChange> added;       // in the second snapshot only
    std::vector<SnapshotChange> removed;     // in the first only
    std::vector<SnapshotChange> relabelled;  // in both, other verdict
    std::vector<SnapshotChange> relabelledSame;  // in both, same verdict from a newer label row
    int64_t unchanged = 0;
    bool empty() const { return added.empty() && removed.empty() && relabelled.empty(); }
};
SnapshotDiff diffSnapshots(const std::vector<SnapshotEntry>& from, const std::vector<SnapshotEntry>& to);

}  // namespace dpowb::store
