#include "store/provenance.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "store/project_impl.h"
#include "store/sha256.h"

namespace dpowb::store {

std::vector<SnapshotEntry> parseSnapshot(const std::string& snapshotJson) {
    const auto j = nlohmann::json::parse(snapshotJson, nullptr, false);
    if (j.is_discarded() || !j.is_array()) throw Error("run snapshot: not a JSON array of [pair_id, verdict, label_id]");
    std::vector<SnapshotEntry> out;
    out.reserve(j.size());
    for (const auto& row : j) {
        if (!row.is_array() || row.size() < 2 || !row[0].is_number_integer() || !row[1].is_string())
            throw Error("run snapshot: an entry is not [pair_id, verdict, label_id]: " + row.dump());
        SnapshotEntry e;
        e.pairId = row[0].get<int64_t>();
        e.verdict = row[1].get<std::string>();
        e.labelId = row.size() > 2 && row[2].is_number_integer() ? row[2].get<int64_t>() : 0;
        if (row.size() > 4 && row[3].is_number_integer() && row[4].is_number_integer()) {  // schema v6
            e.judges = row[3].get<int>();
            e.agreeing = row[4].get<int>();
        }
        out.push_back(std::move(e));
    }
    return out;
}

std::string dataFingerprint(Project& project, const std::vector<SnapshotEntry>& snapshot) {
    std::vector<const SnapshotEntry*> sorted;
    for (const auto& e : snapshot) sorted.push_back(&e);
    std::sort(sorted.begin(), sorted.end(), [](auto* x, auto* y) { return x->pairId < y->pairId; });
    SQLite::Statement st(project.impl().db, "SELECT content_hash, split FROM pairs WHERE id = ?");
    Sha256 h;
    h.update(std::string_view("dpowb-data-fingerprint-v1\n"));
    for (const SnapshotEntry* e : sorted) {
        st.reset();
        st.bind(1, e->pairId);
        if (!st.executeStep())
            throw Error("pair " + std::to_string(e->pairId) + " of the run's snapshot is no longer in the project");
        std::string line = st.getColumn(0).getString() + "\t" + st.getColumn(1).getString() + "\t" + e->verdict;
        // The annotators' agreement is part of the labels when it was recorded (consensus
        // mode); without it the line is as before v6, so older fingerprints stay valid.
        if (e->judges > 0) line += "\t" + std::to_string(e->agreeing) + "/" + std::to_string(e->judges);
        line += "\n";
        h.update(line);
    }
    return "sha256:" + h.hexDigest();
}

SnapshotDiff diffSnapshots(const std::vector<SnapshotEntry>& from, const std::vector<SnapshotEntry>& to) {
    std::map<int64_t, const SnapshotEntry*> a, b;
    for (const auto& e : from) a[e.pairId] = &e;
    for (const auto& e : to) b[e.pairId] = &e;
    SnapshotDiff d;
    for (const auto& [id, e] : b) {
        auto it = a.find(id);
        if (it == a.end()) {
            d.added.push_back({id, "", e->verdict});
        } else if (it->second->verdict != e->verdict) {
            d.relabelled.push_back({id, it->second->verdict, e->verdict});
        } else if (it->second->labelId != e->labelId) {
            d.relabelledSame.push_back({id, it->second->verdict, e->verdict});
        } else {
            ++d.unchanged;
        }
    }
    for (const auto& [id, e] : a)
        if (!b.count(id)) d.removed.push_back({id, e->verdict, ""});
    return d;
}

}  // namespace dpowb::store
