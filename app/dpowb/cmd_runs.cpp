// dpowb runs: the training runs recorded in a project, with their status.
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "common/error.h"
#include "project_file.h"
#include "store/project.h"
#include "store/pair_outcomes.h"
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


// ---------------------------------------------------------------- runs-pairs

std::string fixed(double v, int decimals = 4) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

int runRunsPairs(Args& args) {
    const std::string& db = args.positional(0, "DB");
    const int64_t runId = runIdArg(args.positional(1, "RUN"), "RUN");
    store::DrillDownQuery q;
    q.runId = runId;
    q.split = args.get("split", "eval");
    if (q.split != "eval" && q.split != "train")
        throw UsageError{"--split: expected eval or train, got \"" + q.split + "\""};
    const std::string filter = args.get("filter", "all");
    auto f = store::parseOutcomeFilter(filter);
    if (!f) throw UsageError{"--filter: expected all, flipped, worst or changed, got \"" + filter + "\""};
    q.filter = *f;
    q.step = args.getInt("step", -1);
    q.limit = args.getInt("limit", 20);
    const bool json = args.has("json");
    const std::optional<std::string> relabel = args.get("relabel");
    if (relabel && relabel->empty()) throw UsageError{"--relabel: give the saved filter a name"};
    if (auto unused = args.unused(); !unused.empty()) throw UsageError{"unknown option " + unused.front()};
    auto project = openProject(db);
    if (!project.run(runId)) throw Error(db + ": no run " + std::to_string(runId) + "; list the runs with: dpowb runs " + db);
    const store::DrillDownTable t = store::loadDrillDown(project, q);
    if (t.step < 0) {
        std::cerr << "dpowb runs-pairs: run " << runId << " has no per-pair outcomes of split " << q.split
                  << (q.split == "eval" ? " (it evaluates on the project's test pairs at each --eval-steps; runs "
                                          "from before schema 7 kept none)"
                                        : "; score them with: dpowb score-pairs " + db + " --run " +
                                              std::to_string(runId) + " --split train")
                  << "\n";
        return kOk;
    }
    if (q.filter == store::OutcomeFilter::Changed && t.baseStep == t.step)
        std::cerr << "dpowb runs-pairs: split " << q.split << " of run " << runId << " was recorded at step " << t.step
                  << " only: no change to show\n";
    if (json) {
        for (const auto& r : t.rows) {
            const auto& o = r.outcome;
            ordered_json j;
            j["pair_id"] = o.pairId;
            j["split"] = t.split;
            j["step"] = t.step;
            j["source"] = t.source;
            j["chosen"] = o.chosen.empty() ? ordered_json(nullptr) : ordered_json(o.chosen);
            j["basis"] = o.chosen.empty() ? "a_minus_b" : "label";
            j["verdict_now"] = r.verdictNow ? ordered_json(store::toString(*r.verdictNow)) : ordered_json(nullptr);
            j["chosen_reward"] = o.chosenReward;
            j["rejected_reward"] = o.rejectedReward;
            j["margin"] = o.margin();
            j["base_step"] = t.baseStep;
            j["base_margin"] = r.baseMargin ? ordered_json(*r.baseMargin) : ordered_json(nullptr);
            j["change"] = r.change() ? ordered_json(*r.change()) : ordered_json(nullptr);
            j["policy_logp_chosen"] = o.policyChosen;
            j["reference_logp_chosen"] = o.referenceChosen;
            j["policy_logp_rejected"] = o.policyRejected;
            j["reference_logp_rejected"] = o.referenceRejected;
            j["chosen_tokens"] = o.chosenTokens;
            j["rejected_tokens"] = o.rejectedTokens;
            std::cout << j.dump() << "\n";
        }
    } else {
        std::cout << "run " << runId << ", split " << t.split << ", step " << t.step << " (" << t.source
                  << "), change since step " << t.baseStep << ": " << t.rows.size() << " of " << t.pairsAtStep
                  << " pairs (" << store::toString(q.filter) << ")\n";
        std::cout << "pair\tchosen\tnow\tr_chosen\tr_rejected\tmargin\tchange\tprompt\n";
        for (const auto& r : t.rows) {
            const auto& o = r.outcome;
            std::cout << o.pairId << "\t" << (o.chosen.empty() ? "-" : o.chosen) << "\t"
                      << (r.verdictNow ? store::toString(*r.verdictNow) : "-") << "\t" << fixed(o.chosenReward) << "\t"
                      << fixed(o.rejectedReward) << "\t" << fixed(o.margin()) << "\t"
                      << (r.change() ? fixed(*r.change()) : std::string("-")) << "\t" << r.prompt << "\n";
        }
    }
    if (relabel) {
        std::vector<int64_t> ids;
        for (const auto& r : t.rows) ids.push_back(r.outcome.pairId);
        store::savePairSet(project, *relabel, runId, ids);
        std::cerr << "dpowb runs-pairs: saved " << ids.size() << " pair(s) as \"" << *relabel
                  << "\" (the Label page lists it under its filters)\n";
    }
    return kOk;
}

DPOWB_COMMAND({"runs-pairs", "per-pair rewards and margins of a run (flipped, worst, most changed pairs)",
               "usage: dpowb runs-pairs DB RUN [--split eval|train] [--filter all|flipped|worst|changed]\n"
               "                        [--step N] [--limit N] [--json] [--relabel NAME]\n\n"
               "The implicit rewards β·(log π_θ − log π_ref) of each pair's chosen and rejected response\n"
               "under the run's policy, and the margin (chosen − rejected), as recorded at the run's\n"
               "evaluations (split eval: the project's test pairs, at step 0 and every --eval-steps) or\n"
               "by `dpowb score-pairs DB --run RUN` (either split, at the run's step then).\n\n"
               "  --split S        eval (default) or train\n"
               "  --filter F       all (by pair id), flipped (margin < 0, most negative first), worst (the\n"
               "                   --limit lowest margins), changed (the --limit largest |margin change|\n"
               "                   since the first recorded step)\n"
               "  --step N         the evaluation at step N (default: the latest)\n"
               "  --limit N        rows for worst and changed (default 20; 0 = all)\n"
               "  --json           one JSON object per pair: pair_id, chosen (a/b, null = A − B), verdict_now,\n"
               "                   chosen_reward, rejected_reward, margin, base_step, base_margin, change,\n"
               "                   the four log-probs and the token counts\n"
               "  --relabel NAME   also save the listed pairs as a filter NAME for the Label page\n",
               {"json"},
               {"DB", "RUN"},
               runRunsPairs});

}  // namespace
}  // namespace dpowb::cli
