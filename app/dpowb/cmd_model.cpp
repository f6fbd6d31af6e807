// dpowb score: sequence log-probs of chosen and rejected responses under a model.
#include <algorithm>
#include <array>
#include <fstream>
#include <iostream>
#include <numeric>
#include <optional>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "torch_commands.h"
#include "common/error.h"
#include "model/logprobs.h"
#include "model/model.h"
#include "store/formats.h"

namespace {

using nlohmann::json;
using namespace dpowb;
using Ids = std::vector<text::TokenId>;

struct Record {
    long line = 0;
    model::EncodedPair pair;
};

Ids checkIds(const std::vector<int64_t>& ids, const char* key, const std::string& file, long line, int64_t vocab) {
    Ids out;
    out.reserve(ids.size());
    for (int64_t id : ids) {
        if (id >= vocab)
            throw InputError(file, line, std::string("field \"") + key + "\": id " + std::to_string(id) +
                                             " is outside the model's vocabulary (0.." + std::to_string(vocab - 1) + ")");
        out.push_back(text::TokenId(id));
    }
    return out;
}

// One record of the data file (read by the importers' reader, store::readPairs): the preferred
// response in the chosen slot (response_b when the record prefers b; response_a otherwise,
// unlabelled records included).
model::EncodedPair encodeRecord(store::ReadRecord& r, const model::Model& m, const model::EncodeOptions& opts,
                                const std::string& file) {
    if (r.tokenized) {
        const int64_t vocab = m.config.vocabSize;
        return model::encodePairIds(checkIds(r.promptIds, "prompt_ids", file, r.line, vocab),
                                    checkIds(r.chosenIds, "chosen_ids", file, r.line, vocab),
                                    checkIds(r.rejectedIds, "rejected_ids", file, r.line, vocab), opts);
    }
    const bool bChosen = r.verdict && *r.verdict == store::Verdict::B;
    const std::string& chosen = bChosen ? r.pair.responseB : r.pair.responseA;
    const std::string& rejected = bChosen ? r.pair.responseA : r.pair.responseB;
    try {
        return model::encodePair(m, r.pair.prompt, r.pair.promptMessages, chosen, rejected, opts);
    } catch (const InputError&) {
        throw;
    } catch (const Error& e) {
        throw InputError(file, r.line, e.what());
    }
}

// Standard input is copied to a temporary file first: the reader looks at a file twice (its
// container, then its records).
class StdinCopy {
public:
    StdinCopy() {
        char tmpl[] = "/tmp/dpowb-score-XXXXXX";
        int fd = ::mkstemp(tmpl);
        if (fd < 0) throw Error("cannot create a temporary file for standard input");
        path_ = tmpl;
        std::ofstream out(path_, std::ios::binary);
        ::close(fd);
        out << std::cin.rdbuf();
        if (!out) throw Error("cannot copy standard input to " + path_ + " (disk full?)");
    }
    ~StdinCopy() { std::remove(path_.c_str()); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

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
    const std::string dataFormat = args.get("data-format", "auto");
    store::ColumnMap dataMap;
    try {
        dataMap = store::parseColumnMap(args.get("map", ""));
    } catch (const Error& e) {
        throw cli::UsageError{e.what()};
    }
    if (auto unused = args.unused(); !unused.empty()) throw cli::UsageError{"unknown option " + unused.front()};

    store::ReadOptions ro;
    ro.format = dataFormat;
    ro.map = dataMap;
    ro.allowTokenIds = true;
    ro.formatOption = "--data-format";
    std::optional<StdinCopy> stdinCopy;
    if (dataPath == "-") stdinCopy.emplace();
    const std::string fileName = dataPath == "-" ? "<stdin>" : dataPath;

    auto m = model::loadModel(modelPath, load);
    // Warnings are held until every line is read and encoded: a command that fails prints
    // its one error line and nothing else (scripts read stderr's one line).
    cli::HeldWarnings warnings;
    warnings.add("dpowb score: warning: ", m->warnings);

    // Everything is read and encoded before the first forward: a bad record fails the command
    // before any output.
    std::vector<Record> records;
    try {
        store::readPairs(stdinCopy ? stdinCopy->path() : dataPath, ro, [&](store::ReadRecord& r) {
            Record rec;
            rec.line = r.line;
            rec.pair = encodeRecord(r, *m, opts, fileName);
            const std::string where = fileName + ":" + std::to_string(r.line);
            if (rec.pair.promptNotPrefix)
                warnings.add(where + ": warning: the tokenized prompt is not a prefix of prompt + response; the "
                                           "prompt's last tokens went to the responses, as TRL does");
            if (rec.pair.emptyResponse)
                warnings.add(where + ": warning: a response has no tokens left after truncation");
            records.push_back(std::move(rec));
            if (cli::interrupted().load()) throw Cancelled();
            return true;
        });
    } catch (const InputError& e) {
        if (!stdinCopy) throw;
        throw InputError(fileName, e.line(), e.message());  // name standard input, not the copy
    }

    warnings.release();

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
