// dpowb hold-out: a seeded test split for a project that has none.
#include <iostream>
#include <stdexcept>
#include <string>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "project_file.h"
#include "store/holdout.h"

namespace dpowb::cli {
namespace {

int runHoldOut(Args& args) {
    const std::string& db = args.positional(0, "DB");
    const std::string& percentText = args.positional(1, "PERCENT");
    std::string p = percentText;
    if (!p.empty() && p.back() == '%') p.pop_back();
    double percent = 0;
    try {
        size_t used = 0;
        percent = std::stod(p, &used);
        if (used != p.size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
        throw UsageError{"PERCENT: expected a number such as 10 or 10%, got \"" + percentText + "\""};
    }
    const long long seed = args.getInt("seed", 0);
    if (seed < 0) throw UsageError{"option --seed: expected a non-negative integer"};
    const bool json = args.has("json");
    if (auto unused = args.unused(); !unused.empty()) throw UsageError{"unknown option " + unused.front()};
    auto project = openProject(db);
    const auto r = store::holdOutTestSplit(project, percent, uint64_t(seed));
    if (json) {
        std::cout << nlohmann::json{{"moved", r.moved}, {"train", r.remaining}, {"percent", percent}, {"seed", seed}}.dump()
                  << "\n";
    } else {
        std::cout << "moved " << r.moved << " pairs to test; " << r.remaining << " labelled pairs stay in train\n";
    }
    return kOk;
}

DPOWB_COMMAND({"hold-out", "move a seeded share of the labelled train pairs to a new test split",
               "usage: dpowb hold-out DB PERCENT [--seed S] [--json]\n\n"
               "For a project without test pairs (an imported data set, say): moves PERCENT % (0 < PERCENT\n"
               "<= 50, rounded, at least one) of the train pairs whose current verdict is a or b to the\n"
               "test split, which runs evaluate on. The pairs are chosen by SHA-256 of the seed and each\n"
               "pair's content, so the same project and seed give the same split; the choice is recorded\n"
               "in the project (meta test_holdout). Refused when the project has test pairs already.\n",
               {"json"},
               {"DB", "PERCENT"},
               runHoldOut});

}  // namespace
}  // namespace dpowb::cli
