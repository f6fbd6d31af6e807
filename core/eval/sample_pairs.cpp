#include "eval/sample_pairs.h"

#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "store/project.h"

namespace dpowb::eval {

using nlohmann::json;

std::vector<SamplePrompt> promptsFromSplit(store::Project& project, const std::string& split, bool chat, size_t limit) {
    store::PairQuery q;
    q.split = split;
    std::vector<SamplePrompt> out;
    std::set<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> seen;
    for (const auto& p : project.pairs(q)) {
        std::vector<std::pair<std::string, std::string>> messages;
        for (const auto& m : p.promptMessages) messages.emplace_back(m.role, m.content);
        if (!seen.emplace(p.prompt, std::move(messages)).second) continue;
        SamplePrompt item;
        item.source = "pair:" + std::to_string(p.id);
        if (p.isChat()) item.input.messages = p.promptMessages;
        else if (chat) item.input.messages = {{"user", p.prompt}};
        else item.input.text = p.prompt;
        out.push_back(std::move(item));
        if (limit > 0 && out.size() >= limit) break;
    }
    if (out.empty()) throw Error(project.path() + ": split \"" + split + "\" has no pairs to take prompts from");
    return out;
}

bool policyIsA(uint64_t seed) {
    std::mt19937_64 rng(seed ^ 0x9E3779B97F4A7C15ULL);
    return (rng() >> 63) != 0;
}

std::vector<SampledPair> samplePairs(Comparer& comparer, const std::vector<SamplePrompt>& prompts, int64_t n,
                                     const SamplingSettings& settings, const std::string& split,
                                     const Progress& progress,
                                     const std::function<void(int64_t, int64_t)>& onPair) {
    if (prompts.empty()) throw Error("sample pairs: no prompts");
    const ModelPair& mp = comparer.models();
    std::vector<SampledPair> out;
    out.reserve(size_t(n));
    for (int64_t k = 0; k < n; ++k) {
        progress.throwIfCancelled();
        const SamplePrompt& item = prompts[size_t(k) % prompts.size()];
        SamplingSettings sk = settings;
        sk.seed = settings.seed + uint64_t(k);
        SampledPair s;
        s.promptSource = item.source;
        s.policy = comparer.generateOne(item.input, sk, "policy", 0, {}, progress);
        if (s.policy.finishReason == "cancelled") throw Cancelled();
        s.reference = comparer.generateOne(item.input, sk, "reference", 0, {}, progress);
        if (s.reference.finishReason == "cancelled") throw Cancelled();
        s.policyIsA = policyIsA(sk.seed);
        const Completion& a = s.policyIsA ? s.policy : s.reference;
        const Completion& b = s.policyIsA ? s.reference : s.policy;
        store::Pair& p = s.pair;
        p.prompt = item.input.text;
        p.promptMessages = item.input.messages;
        p.responseA = a.text;
        p.responseB = b.text;
        p.source = "policy-vs-reference";
        p.split = split;
        const json meta = {
            {"a", s.policyIsA ? "policy" : "reference"},
            {"b", s.policyIsA ? "reference" : "policy"},
            {"policy", mp.policyAdapter.empty() ? mp.policy : mp.policyAdapter},
            {"reference", mp.reference},
            {"run", mp.runId > 0 ? json(mp.runId) : json(nullptr)},
            {"sampling", json::parse(sk.toJson())},
            {"seed", sk.seed},
            {"prompt_source", item.source},
            {"finish_reason", {{"a", a.finishReason}, {"b", b.finishReason}}},
        };
        p.metadataJson = meta.dump();
        out.push_back(std::move(s));
        if (onPair) onPair(k + 1, n);
    }
    return out;
}

}  // namespace dpowb::eval
