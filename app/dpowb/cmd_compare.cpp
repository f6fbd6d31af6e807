// dpowb sample-pairs and score-pairs: the closed loop between a trained policy and the data.
#include <algorithm>
#include <map>
#include <fstream>
#include <iostream>
#include <random>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "project_file.h"
#include "torch_commands.h"
#include "common/error.h"
#include "common/jsonl.h"
#include "store/formats.h"
#include "store/pair_outcomes.h"
#include "store/project.h"
#include "eval/compare.h"
#include "eval/sample_pairs.h"

namespace dpowb::cli {
namespace {

using nlohmann::json;

eval::ModelPair modelsFromArgs(Args& args, store::Project& project) {
    eval::ModelPair mp;
    if (auto run = args.get("run")) {
        if (args.has("model") || args.has("ref")) throw UsageError{"give either --run or --model/--ref, not both"};
        mp = eval::modelsForRun(project, args.getInt("run", 0));
    } else if (auto policy = args.get("model")) {
        mp = eval::modelsForFolders(*policy, args.get("ref", ""), 0.1);
    } else {
        throw UsageError{"missing --run ID or --model DIR"};
    }
    mp.beta = args.getDouble("beta", mp.beta);
    mp.device = args.get("device", "auto");
    mp.dtype = args.get("dtype", "float32");
    mp.chatTemplate = args.get("chat-template", "");
    return mp;
}

std::vector<Message> readMessages(const json& v, const std::string& file, long line) {
    std::vector<Message> out;
    for (const auto& m : v) {
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
            !m["content"].is_string())
            throw InputError(file, line, "expected messages {\"role\": string, \"content\": string}");
        out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    }
    if (out.empty()) throw InputError(file, line, "the message list is empty");
    return out;
}

using PromptItem = eval::SamplePrompt;

std::vector<PromptItem> readPromptsFile(const std::string& path, bool chat) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open");
    std::vector<PromptItem> out;
    forEachJsonLine(in, path, [&](const json& j, long lineNo) {
        if (!j.is_object()) throw InputError(path, lineNo, "expected a JSON object with \"prompt\" or \"messages\"");
        PromptItem item;
        item.source = path + ":" + std::to_string(lineNo);
        if (j.contains("messages")) {
            if (!j["messages"].is_array()) throw InputError(path, lineNo, "field \"messages\": expected a list of messages");
            item.input.messages = readMessages(j["messages"], path, lineNo);
        } else if (j.contains("prompt") && j["prompt"].is_string()) {
            if (j["prompt"].get<std::string>().empty()) throw InputError(path, lineNo, "field \"prompt\": empty");
            if (chat) item.input.messages = {{"user", j["prompt"].get<std::string>()}};
            else item.input.text = j["prompt"].get<std::string>();
        } else if (j.contains("prompt") && j["prompt"].is_array()) {
            item.input.messages = readMessages(j["prompt"], path, lineNo);
        } else {
            throw InputError(path, lineNo, j.contains("prompt") ? "field \"prompt\": expected a string or a list of messages"
                                                                : "field \"prompt\": missing");
        }
        out.push_back(std::move(item));
    });
    if (out.empty()) throw Error(path + ": no prompts in the file");
    return out;
}

int runSamplePairs(Args& args) {
    const std::string db = args.positional(0, "DB");
    auto project = openProject(db);
    eval::ModelPair mp = modelsFromArgs(args, project);
    const bool chat = args.has("chat");
    const bool demoRule = args.has("demo-rule");

    std::vector<PromptItem> prompts;
    const auto promptsFile = args.get("prompts");
    const auto fromSplit = args.get("from-split");
    if (promptsFile && fromSplit) throw UsageError{"give either --prompts or --from-split, not both"};
    if (promptsFile) prompts = readPromptsFile(*promptsFile, chat);
    else if (fromSplit) prompts = eval::promptsFromSplit(project, *fromSplit, chat);
    else throw UsageError{"missing --prompts FILE or --from-split S"};

    const long long n = args.getInt("n", static_cast<long long>(prompts.size()));
    if (n < 1) throw UsageError{"--n must be at least 1"};
    const std::string split = args.get("split", fromSplit ? *fromSplit : std::string("train"));
    if (split.empty()) throw UsageError{"--split must not be empty"};

    eval::SamplingSettings s;
    s.maxNewTokens = args.getInt("max-new-tokens", s.maxNewTokens);
    s.temperature = args.getDouble("temperature", s.temperature);
    s.topK = args.getInt("top-k", s.topK);
    s.topP = args.getDouble("top-p", s.topP);
    s.repetitionPenalty = args.getDouble("repetition-penalty", s.repetitionPenalty);
    const long long seed = args.getInt("seed", 0);
    if (seed < 0) throw UsageError{"--seed must be a non-negative integer"};
    s.seed = uint64_t(seed);
    if (auto stop = args.get("stop")) s.stopStrings.push_back(*stop);
    try {
        s.validate();
    } catch (const Error& e) {
        throw UsageError{e.what()};
    }
    if (auto unused = args.unused(); !unused.empty()) throw UsageError{"unknown option " + unused.front()};

    eval::Comparer comparer(mp);
    // Warnings wait until every prompt to be used encodes: a command that fails prints its one
    // error line and nothing else.
    HeldWarnings warnings;
    warnings.add("dpowb sample-pairs: warning: ", comparer.warnings());
    for (size_t k = 0; k < std::min(prompts.size(), size_t(n)); ++k) {
        try {
            comparer.checkPrompt(prompts[k].input);
        } catch (const Error& e) {
            throw Error(prompts[k].source + ": " + e.what());
        }
    }
    warnings.release();

    Progress progress;
    progress.cancel = &interrupted();
    // Everything is generated before the project is touched: the write is one short transaction.
    const bool terminal = stderrIsTerminal();
    const std::vector<eval::SampledPair> sampled =
        eval::samplePairs(comparer, prompts, n, s, split, progress, [&](int64_t done, int64_t total) {
            // A rewritten line on a terminal; in a log, a plain line now and then.
            if (terminal) std::cerr << "\rdpowb sample-pairs: " << done << "/" << total << " pairs generated" << std::flush;
            else if (done % std::max<int64_t>(1, total / 10) == 0 || done == total)
                std::cerr << "dpowb sample-pairs: " << done << "/" << total << " pairs generated\n";
        });
    if (terminal) std::cerr << "\n";
    progress.throwIfCancelled();
    // --demo-rule: counts of positive / negative / undecided completions per model.
    struct Verdicts {
        int positive = 0, negative = 0, undecided = 0;
        void add(int v) { (v > 0 ? positive : v < 0 ? negative : undecided) += 1; }
    } policyVerdicts, referenceVerdicts;
    std::vector<std::pair<int, int>> sentiments;
    if (demoRule) {
        for (const auto& p : sampled) {
            sentiments.emplace_back(store::demoSentiment(p.policy.text), store::demoSentiment(p.reference.text));
            policyVerdicts.add(sentiments.back().first);
            referenceVerdicts.add(sentiments.back().second);
        }
    }

    std::vector<std::pair<int64_t, bool>> ids;
    {
        store::Project::Transaction tx(project);
        for (const auto& p : sampled) {
            bool inserted = false;
            int64_t id = project.addPair(p.pair, &inserted);
            ids.emplace_back(id, inserted);
        }
        tx.commit();
    }
    int added = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
        json line = {{"pair_id", ids[i].first}, {"inserted", ids[i].second},
                     {"a", sampled[i].policyIsA ? "policy" : "reference"}, {"prompt_source", sampled[i].promptSource}};
        if (demoRule) line["demo_rule"] = {{"policy", sentiments[i].first}, {"reference", sentiments[i].second}};
        std::cout << line.dump() << "\n";
        added += ids[i].second ? 1 : 0;
    }
    std::cerr << "dpowb sample-pairs: added " << added << " pair(s)";
    if (added < int(ids.size())) std::cerr << "; " << (ids.size() - size_t(added)) << " already in the project";
    std::cerr << "\n";
    if (demoRule) {
        auto show = [&](const char* who, const Verdicts& v) {
            std::cerr << "dpowb sample-pairs: demo rule, " << who << ": " << v.positive << " positive, " << v.negative
                      << " negative, " << v.undecided << " undecided of " << n << " completions ("
                      << (100.0 * v.positive / double(n)) << " % follow the rule)\n";
        };
        show("policy   ", policyVerdicts);
        show("reference", referenceVerdicts);
    }
    return kOk;
}

int runScorePairs(Args& args) {
    const std::string db = args.positional(0, "DB");
    auto project = openProject(db);
    eval::ModelPair mp = modelsFromArgs(args, project);
    mp.maxLength = args.getInt("max-length", mp.maxLength);
    mp.maxPromptLength = args.getInt("max-prompt-length", mp.maxPromptLength);
    if (mp.maxLength < 1) throw UsageError{"--max-length must be at least 1"};
    if (auto mode = args.get("truncation-mode")) {
        if (*mode != "keep_start" && *mode != "keep_end")
            throw UsageError{"--truncation-mode: expected keep_start or keep_end, got \"" + *mode + "\""};
        mp.keepEnd = *mode == "keep_end";
    }
    const long long batchSize = args.getInt("batch-size", 8);
    if (batchSize < 1) throw UsageError{"--batch-size must be at least 1"};
    store::PairQuery q;
    q.split = args.get("split", "");
    const bool record = mp.runId > 0 && !args.has("no-record");
    if (auto unused = args.unused(); !unused.empty()) throw UsageError{"unknown option " + unused.front()};

    auto pairs = project.pairs(q);
    eval::Comparer comparer(mp);
    // Warnings wait until every pair is encoded and the first batch scored (the first progress
    // report): a command that fails prints its one error line and nothing else.
    HeldWarnings warnings;
    warnings.add("dpowb score-pairs: warning: ", comparer.warnings());
    Progress progress;
    progress.cancel = &interrupted();
    const bool terminal = stderrIsTerminal();
    progress.report = [&warnings, terminal](int64_t done, int64_t total, const std::string&) {
        warnings.release();
        if (terminal) std::cerr << "\rdpowb score-pairs: " << done << "/" << total << std::flush;
    };
    auto margins = comparer.scorePairs(pairs, int(batchSize), progress);
    warnings.release();  // no pairs: no progress report
    if (stderrIsTerminal()) std::cerr << "\n";
    for (const auto& m : margins) {
        json line = {
            {"pair_id", m.pairId},
            {"verdict", m.verdict ? json(store::toString(*m.verdict)) : json(nullptr)},
            {"basis", m.byLabel ? "label" : "a_minus_b"},
            {"margin", m.margin},
            {"reward_a", m.rewardA},
            {"reward_b", m.rewardB},
            {"policy_logp_a", m.policyLogpA},
            {"reference_logp_a", m.referenceLogpA},
            {"policy_logp_b", m.policyLogpB},
            {"reference_logp_b", m.referenceLogpB},
            {"tokens_a", m.tokensA},
            {"tokens_b", m.tokensB},
        };
        std::cout << line.dump() << "\n";
    }
    if (record) {
        // The run's per-pair outcomes at its current step, for `dpowb runs-pairs` and the Train
        // page's Pairs tab: the same records the trainer keeps at its evaluations.
        const auto run = project.run(mp.runId);
        const int64_t step = run ? run->step : 0;
        std::map<std::string, std::vector<store::PairOutcomeRecord>> bySplit;
        for (size_t i = 0; i < margins.size(); ++i) {
            const std::string split = store::outcomeSplitOf(pairs[i].split);
            if (split.empty()) continue;
            const auto& m = margins[i];
            bySplit[split].push_back(store::outcomeFromLogps(m.pairId, m.verdict, mp.beta, m.policyLogpA, m.referenceLogpA,
                                                             m.policyLogpB, m.referenceLogpB, m.tokensA, m.tokensB));
        }
        for (const auto& [split, records] : bySplit) {
            store::recordPairOutcomes(project, mp.runId, step, split, "score", records);
            std::cerr << "dpowb score-pairs: recorded " << records.size() << " " << split << " outcome(s) of run "
                      << mp.runId << " at step " << step << " (dpowb runs-pairs " << db << " " << mp.runId
                      << " --split " << split << ")\n";
        }
    }
    return kOk;
}

DPOWB_COMMAND({"sample-pairs", torchCommandSummary("sample-pairs"), torchCommandUsage("sample-pairs"),
               {"chat", "demo-rule"}, {"DB"}, runSamplePairs});
DPOWB_COMMAND({"score-pairs", torchCommandSummary("score-pairs"), torchCommandUsage("score-pairs"), {"no-record"}, {"DB"},
               runScorePairs});

}  // namespace
}  // namespace dpowb::cli
