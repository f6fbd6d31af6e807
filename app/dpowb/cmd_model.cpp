// dpowb score: sequence log-probs of chosen and rejected responses under a model.
#include <algorithm>
#include <array>
#include <fstream>
#include <iostream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "torch_commands.h"
#include "common/error.h"
#include "common/error_text.h"
#include "common/jsonl.h"
#include "model/logprobs.h"
#include "model/model.h"

namespace {

using nlohmann::json;
using namespace dpowb;
using Ids = std::vector<text::TokenId>;

struct Record {
    long line = 0;
    model::EncodedPair pair;
};

Ids readIds(const json& j, const char* key, const std::string& file, long line, int64_t vocab) {
    if (!j.contains(key)) throw InputError(file, line, std::string("field \"") + key + "\": missing");
    const json& v = j.at(key);
    if (!v.is_array()) throw InputError(file, line, std::string("field \"") + key + "\": expected an array of token ids");
    Ids out;
    out.reserve(v.size());
    for (const auto& x : v) {
        if (!x.is_number_integer())
            throw InputError(file, line, std::string("field \"") + key + "\": expected integer ids, got " + x.dump());
        auto id = x.get<int64_t>();
        if (id < 0 || id >= vocab)
            throw InputError(file, line, std::string("field \"") + key + "\": id " + std::to_string(id) +
                                             " is outside the model's vocabulary (0.." + std::to_string(vocab - 1) + ")");
        out.push_back(text::TokenId(id));
    }
    return out;
}

std::vector<Message> readMessages(const json& v, const char* key, const std::string& file, long line) {
    std::vector<Message> out;
    for (const auto& m : v) {
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
            !m["content"].is_string())
            throw InputError(file, line, std::string("field \"") + key +
                                             "\": expected messages {\"role\": string, \"content\": string}");
        out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    }
    return out;
}

// The response of a chat completion: the contents of its messages, in order.
std::string responseText(const std::vector<Message>& messages) {
    std::string s;
    for (const auto& m : messages) s += m.content;
    return s;
}

// Longest common prefix that ends on a UTF-8 character boundary.
size_t commonPrefix(const std::string& a, const std::string& b) {
    size_t n = 0;
    while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
    while (n > 0 && n < a.size() && (static_cast<unsigned char>(a[n]) & 0xC0) == 0x80) --n;
    return n;
}

model::EncodedPair encodeLine(const json& j, const model::Model& m, const model::EncodeOptions& opts,
                              const std::string& file, long line) {
    if (!j.is_object()) throw InputError(file, line, "expected a JSON object");
    if (j.contains("chosen_ids") || j.contains("rejected_ids") || j.contains("prompt_ids")) {
        const int64_t vocab = m.config.vocabSize;
        return model::encodePairIds(readIds(j, "prompt_ids", file, line, vocab), readIds(j, "chosen_ids", file, line, vocab),
                                    readIds(j, "rejected_ids", file, line, vocab), opts);
    }
    for (const char* key : {"chosen", "rejected"})
        if (!j.contains(key)) throw InputError(file, line, std::string("field \"") + key + "\": missing");
    const json& c = j["chosen"];
    const json& r = j["rejected"];
    if (c.is_string() != r.is_string() || (!c.is_string() && !c.is_array()) || (!r.is_string() && !r.is_array()))
        throw InputError(file, line, "fields \"chosen\" and \"rejected\": expected two strings or two message lists");

    std::string prompt;
    std::vector<Message> messages;
    std::string chosen, rejected;
    if (j.contains("prompt")) {
        const json& p = j["prompt"];
        if (p.is_string()) prompt = p.get<std::string>();
        else if (p.is_array()) messages = readMessages(p, "prompt", file, line);
        else throw InputError(file, line, "field \"prompt\": expected a string or a list of messages");
        if (c.is_string()) {
            chosen = c.get<std::string>();
            rejected = r.get<std::string>();
        } else {
            chosen = responseText(readMessages(c, "chosen", file, line));
            rejected = responseText(readMessages(r, "rejected", file, line));
        }
    } else if (c.is_string()) {
        const std::string a = c.get<std::string>(), b = r.get<std::string>();
        const size_t n = commonPrefix(a, b);
        prompt = a.substr(0, n);
        chosen = a.substr(n);
        rejected = b.substr(n);
    } else {
        auto ca = readMessages(c, "chosen", file, line);
        auto ra = readMessages(r, "rejected", file, line);
        size_t n = 0;
        while (n < ca.size() && n < ra.size() && ca[n] == ra[n]) ++n;
        if (n == 0) throw InputError(file, line, "implicit prompt: \"chosen\" and \"rejected\" share no message");
        messages.assign(ca.begin(), ca.begin() + std::ptrdiff_t(n));
        chosen = responseText({ca.begin() + std::ptrdiff_t(n), ca.end()});
        rejected = responseText({ra.begin() + std::ptrdiff_t(n), ra.end()});
    }
    try {
        return model::encodePair(m, prompt, messages, chosen, rejected, opts);
    } catch (const InputError&) {
        throw;
    } catch (const Error& e) {
        throw InputError(file, line, e.what());
    }
}

int runScore(cli::Args& args) {
    const std::string modelPath = args.require("model");
    const std::string dataPath = args.require("data");
    const long long batchSize = args.getInt("batch-size", 8);
    if (batchSize < 1) throw cli::UsageError{"--batch-size must be at least 1"};
    model::EncodeOptions opts;
    opts.maxLength = args.getInt("max-length", opts.maxLength);
    opts.maxPromptLength = args.getInt("max-prompt-length", opts.maxPromptLength);
    if (opts.maxLength < 1) throw cli::UsageError{"--max-length must be at least 1"};
    const std::string mode = args.get("truncation-mode", "keep_start");
    if (mode != "keep_start" && mode != "keep_end")
        throw cli::UsageError{"--truncation-mode: expected keep_start or keep_end, got \"" + mode + "\""};
    opts.keepEnd = mode == "keep_end";
    model::LoadOptions load;
    load.device = args.get("device", "auto");
    load.dtype = args.get("dtype", "float32");
    load.chatTemplate = args.get("chat-template", "");
    if (auto unused = args.unused(); !unused.empty()) throw cli::UsageError{"unknown option " + unused.front()};

    std::ifstream fileIn;
    std::istream* in = &std::cin;
    const std::string fileName = dataPath == "-" ? "<stdin>" : dataPath;
    if (dataPath != "-") {
        fileIn.open(dataPath, std::ios::binary);
        if (!fileIn) throw Error(dataPath + ": cannot open");
        in = &fileIn;
    }

    auto m = model::loadModel(modelPath, load);
    // Warnings are held until every line is read and encoded: a command that fails prints
    // its one error line and nothing else (scripts read stderr's one line).
    std::vector<std::string> warnings;
    for (const auto& w : m->warnings) warnings.push_back("dpowb score: warning: " + w);

    // Everything is read and encoded before the first forward: a bad line fails the command
    // before any output.
    std::vector<Record> records;
    forEachJsonLine(*in, fileName, [&](const json& j, long lineNo) {
        Record rec;
        rec.line = lineNo;
        rec.pair = encodeLine(j, *m, opts, fileName, lineNo);
        const std::string where = fileName + ":" + std::to_string(lineNo);
        if (rec.pair.promptNotPrefix)
            warnings.push_back(where + ": warning: the tokenized prompt is not a prefix of prompt + response; the "
                                       "responses were tokenized on their own");
        if (rec.pair.emptyResponse)
            warnings.push_back(where + ": warning: a response has no tokens left after truncation");
        records.push_back(std::move(rec));
        if (cli::interrupted().load()) throw Cancelled();
    });

    for (const auto& w : warnings) std::cerr << oneLine(w) << "\n";

    // Pairs of similar length share a batch (less padding); output stays in input order.
    std::vector<size_t> order(records.size());
    std::iota(order.begin(), order.end(), 0);
    auto length = [&](size_t i) {
        const auto& p = records[i].pair;
        return p.prompt.size() + std::max(p.chosen.size(), p.rejected.size());
    };
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return length(a) < length(b); });

    const text::TokenId pad = m->tokenizer && m->tokenizer->padId() ? *m->tokenizer->padId()
                              : m->config.padTokenId                 ? text::TokenId(*m->config.padTokenId)
                                                                     : 0;
    std::vector<std::array<double, 4>> results(records.size());
    torch::NoGradGuard noGrad;
    for (size_t start = 0; start < order.size(); start += size_t(batchSize)) {
        if (cli::interrupted().load()) throw Cancelled();
        const size_t end = std::min(order.size(), start + size_t(batchSize));
        std::vector<const model::EncodedPair*> pairs;
        for (size_t i = start; i < end; ++i) pairs.push_back(&records[order[i]].pair);
        auto batch = model::collatePairs(pairs, pad);
        auto lp = model::sequenceLogps(*m->net, batch);
        auto logps = lp.logps.to(torch::kCPU, torch::kFloat64);
        auto tokens = lp.tokens.to(torch::kCPU, torch::kInt64);
        const auto N = int64_t(pairs.size());
        for (int64_t k = 0; k < N; ++k) {
            results[order[start + size_t(k)]] = {logps[k].item<double>(), logps[N + k].item<double>(),
                                                 double(tokens[k].item<int64_t>()), double(tokens[N + k].item<int64_t>())};
        }
    }
    for (const auto& r : results) {
        nlohmann::ordered_json out;
        out["chosen_logp"] = r[0];
        out["rejected_logp"] = r[1];
        out["chosen_tokens"] = int64_t(r[2]);
        out["rejected_tokens"] = int64_t(r[3]);
        std::cout << out.dump() << "\n";
    }
    std::cout.flush();
    return cli::kOk;
}

DPOWB_COMMAND({"score", dpowb::cli::torchCommandSummary("score"), dpowb::cli::torchCommandUsage("score"), {}, {}, runScore});

}  // namespace
