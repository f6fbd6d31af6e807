#include "store/holdout.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/number.h"
#include "store/project_impl.h"
#include "store/sha256.h"

namespace dpowb::store {

HoldOutResult holdOutTestSplit(Project& project, double percent, uint64_t seed) {
    if (!(percent > 0 && percent <= 50))
        throw Error("the share to hold out must be more than 0 and at most 50 %, got " + numberText(percent));
    auto& db = project.impl().db;
    Project::Transaction tx(project);
    const int64_t test = db.execAndGet("SELECT count(*) FROM pairs WHERE split = 'test'").getInt64();
    if (test > 0)
        throw Error("the project has " + std::to_string(test) +
                    " test pairs already; move them back to train first (dpowb export/import, or the Label page) "
                    "to draw a new test split");
    std::vector<std::pair<std::string, int64_t>> order;  // (draw key, pair id)
    {
        SQLite::Statement st(db, "SELECT id, content_hash FROM pairs WHERE split = 'train' AND current_verdict IN ('a', 'b')");
        const std::string salt = std::to_string(seed) + ":";
        while (st.executeStep()) {
            Sha256 h;
            h.update(salt);
            h.update(st.getColumn(1).getString());
            order.emplace_back(h.hexDigest(), st.getColumn(0).getInt64());
        }
    }
    const int64_t n = int64_t(order.size());
    if (n < 2)
        throw Error("the project has " + std::to_string(n) +
                    " labelled train pairs (verdict a or b); label at least two before holding some out");
    int64_t k = std::llround(double(n) * percent / 100.0);
    k = std::clamp<int64_t>(k, 1, n - 1);
    std::partial_sort(order.begin(), order.begin() + k, order.end());
    SQLite::Statement move(db, "UPDATE pairs SET split = 'test' WHERE id = ?");
    for (int64_t i = 0; i < k; ++i) {
        move.bind(1, order[size_t(i)].second);
        move.exec();
        move.reset();
    }
    const nlohmann::json record = {{"percent", percent}, {"seed", seed}, {"pairs", k}, {"at", nowMillis()}};
    SQLite::Statement meta(db, "INSERT INTO meta(key, value) VALUES ('test_holdout', ?) "
                               "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    meta.bind(1, record.dump());
    meta.exec();
    tx.commit();
    return {k, n - k};
}

}  // namespace dpowb::store
