// dpowb runs: the training runs recorded in a project, with their status.
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "common/error.h"
#include "project_file.h"
#include "store/project.h"
#include "store/provenance.h"

namespace dpowb::cli {
namespace {

using nlohmann::ordered_json;

std::string timeText(int64_t unixMs, bool utc) {
    if (unixMs <= 0) return "";
    const std::time_t t = std::time_t(unixMs / 1000);
    std::tm tm{};
    if (utc) gmtime_r(&t, &tm);
    else localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, utc ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M", &tm);
    return buf;
}

bool resumable(store::RunStatus s) {
    return s == store::RunStatus::Cancelled || s == store::RunStatus::Interrupted;
}

int runRuns(Args& args) {
    const std::string& db = args.positional(0, "DB");
    const bool json = args.has("json");
    if (auto unused = args.unused(); !unused.empty()) throw UsageError{"unknown option " + unused.front()};
    // Opening marks runs whose process is gone as interrupted, so the status shown is current.
    auto project = openProject(db);
    auto runs = project.runs();
    for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
        const store::RunRecord& r = *it;
        const std::string status = store::toString(r.status);
        if (json) {
            ordered_json j;
            j["id"] = r.id;
            j["name"] = r.name;
            j["status"] = status;
            j["step"] = r.step;
            j["total_steps"] = r.totalSteps;
            j["started_at"] = timeText(r.startedAt, true);
            j["finished_at"] = r.finishedAt > 0 ? ordered_json(timeText(r.finishedAt, true)) : ordered_json(nullptr);
            j["model"] = r.modelPath;
            j["reference"] = r.referencePath;
            j["output_dir"] = r.outputDir;
            j["error"] = r.error.empty() ? ordered_json(nullptr) : ordered_json(r.error);
            j["pid"] = r.pid;
            j["host"] = r.host;
            j["resumable"] = resumable(r.status);
            j["data_fingerprint"] = r.dataFingerprint.empty() ? ordered_json(nullptr) : ordered_json(r.dataFingerprint);
            ordered_json health = ordered_json::array();
            for (const auto& w : project.healthWarnings(r.id)) health.push_back(w.code);
            j["health_warnings"] = health;
            auto summary = ordered_json::parse(r.summaryJson, nullptr, false);
            j["summary"] = summary.is_discarded() ? ordered_json::object() : summary;
            std::cout << j.dump(-1, ' ', false, ordered_json::error_handler_t::replace) << "\n";
            continue;
        }
        std::string note;
        if (r.status == store::RunStatus::Running) note = "pid " + std::to_string(r.pid) + " on " + r.host;
        else if (!r.error.empty()) note = r.error;
        if (resumable(r.status)) note += (note.empty() ? "" : "; ") + std::string("resume: dpowb train --db ") + db +
                                         " --resume " + std::to_string(r.id);
        std::cout << r.id << "\t" << status << "\t" << r.step << "/" << r.totalSteps << "\t" << timeText(r.startedAt, false)
                  << "\t" << r.name << "\t" << r.outputDir << "\t" << note << "\n";
    }
    return kOk;
}

DPOWB_COMMAND({"runs", "list the project's training runs with their status",
               "usage: dpowb runs DB [--json]\n\n"
               "One run per line, oldest first: ID, status (running, finished, failed, cancelled,\n"
               "interrupted), step/total steps, start time, name, output folder, and a note (the\n"
               "process of a running run, the error of a failed one, how to resume).\n"
               "A run whose process is gone from this host shows as interrupted at once.\n\n"
               "  --json   one JSON object per run: id, name, status, step, total_steps, started_at,\n"
               "           finished_at (UTC), model, reference, output_dir, error, pid, host,\n"
               "           resumable, data_fingerprint (store/provenance.h), health_warnings (kinds\n"
               "           that fired, docs/HEALTH.md), summary (final metrics)\n",
               {"json"},
               {"DB"},
               runRuns});

// ---------------------------------------------------------------- runs-diff

int64_t runIdArg(const std::string& text, const char* what) {
    try {
        size_t used = 0;
        const long long id = std::stoll(text, &used);
        if (used == text.size() && id > 0) return id;
    } catch (const std::exception&) {
    }
    throw UsageError{std::string(what) + ": expected a run id (a positive number), got \"" + text + "\""};
}

int runRunsDiff(Args& args) {
    const std::string& db = args.positional(0, "DB");
    const int64_t idA = runIdArg(args.positional(1, "RUN_A"), "RUN_A");
    const int64_t idB = runIdArg(args.positional(2, "RUN_B"), "RUN_B");
    const bool json = args.has("json");
    if (auto unused = args.unused(); !unused.empty()) throw UsageError{"unknown option " + unused.front()};
    auto project = openProject(db);
    auto a = project.run(idA), b = project.run(idB);
    for (auto [id, r] : {std::pair{idA, &a}, std::pair{idB, &b}})
        if (!*r) throw Error(db + ": no run " + std::to_string(id) + "; list the runs with: dpowb runs " + db);
    const auto d = store::diffSnapshots(store::parseSnapshot(a->snapshotJson), store::parseSnapshot(b->snapshotJson));
    if (json) {
        auto list = [](const std::vector<store::SnapshotChange>& v) {
            ordered_json out = ordered_json::array();
            for (const auto& c : v) {
                ordered_json e;
                e["pair_id"] = c.pairId;
                if (!c.before.empty()) e["before"] = c.before;
                if (!c.after.empty()) e["after"] = c.after;
                out.push_back(e);
            }
            return out;
        };
        ordered_json j;
        j["from"] = {{"run", idA}, {"data_fingerprint", a->dataFingerprint}};
        j["to"] = {{"run", idB}, {"data_fingerprint", b->dataFingerprint}};
        j["added"] = list(d.added);
        j["removed"] = list(d.removed);
        j["relabelled"] = list(d.relabelled);
        j["relabelled_same_verdict"] = list(d.relabelledSame);
        j["unchanged"] = d.unchanged;
        std::cout << j.dump() << "\n";
        return kOk;
    }
    std::cout << "run " << idA << " -> run " << idB << ": " << d.added.size() << " added, " << d.removed.size()
              << " removed, " << d.relabelled.size() << " relabelled, " << d.relabelledSame.size()
              << " labelled again with the same verdict, " << d.unchanged << " unchanged\n";
    for (const auto& c : d.added) std::cout << "+ pair " << c.pairId << " (" << c.after << ")\n";
    for (const auto& c : d.removed) std::cout << "- pair " << c.pairId << " (" << c.before << ")\n";
    for (const auto& c : d.relabelled) std::cout << "~ pair " << c.pairId << " " << c.before << " -> " << c.after << "\n";
    return kOk;
}

DPOWB_COMMAND({"runs-diff", "what changed in the training data between two runs",
               "usage: dpowb runs-diff DB RUN_A RUN_B [--json]\n\n"
               "Compares the label snapshots of two runs (the pairs and verdicts each trained and\n"
               "evaluated on): pairs added since RUN_A (+), removed (-), relabelled (~ a -> b).\n"
               "Each run's data fingerprint is in `dpowb runs DB --json`.\n\n"
               "  --json   {from, to, added, removed, relabelled, relabelled_same_verdict, unchanged}\n",
               {"json"},
               {"DB", "RUN_A", "RUN_B"},
               runRunsDiff});

}  // namespace
}  // namespace dpowb::cli
