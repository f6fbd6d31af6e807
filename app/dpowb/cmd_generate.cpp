// dpowb generate: one completion of a prompt, streamed to stdout as it is produced.
#include <iostream>

#include "cli.h"
#include "torch_commands.h"
#include "common/error.h"
#include "model/generate.h"
#include "model/model.h"

namespace dpowb::cli {
namespace {

int runGenerate(Args& args) {
    const std::string modelPath = args.require("model");
    const std::string prompt = args.require("prompt");

    model::LoadOptions lo;
    lo.device = args.get("device", "auto");
    lo.dtype = args.get("dtype", "float32");
    lo.chatTemplate = args.get("chat-template", "");
    auto model = model::loadModel(modelPath, lo);

    model::GenerateOptions o = model::generationDefaults(*model);
    const bool samplingHint = args.has("top-k") || args.has("top-p") || args.has("seed");
    o.maxNewTokens = args.getInt("max-new-tokens", o.maxNewTokens);
    if (args.has("temperature")) o.temperature = args.getDouble("temperature", o.temperature);
    else if (o.temperature == 0 && samplingHint) o.temperature = 1.0;
    o.topK = args.getInt("top-k", o.topK);
    o.topP = args.getDouble("top-p", o.topP);
    o.repetitionPenalty = args.getDouble("repetition-penalty", o.repetitionPenalty);
    const long long seed = args.getInt("seed", 0);
    if (seed < 0) throw UsageError{"option --seed: expected a non-negative integer"};
    o.seed = static_cast<uint64_t>(seed);
    if (auto stop = args.get("stop")) {
        if (stop->empty()) throw UsageError{"option --stop: the stop text must not be empty"};
        o.stopStrings.push_back(*stop);
    }
    if (args.has("ignore-eos")) {
        o.stopAtEos = false;
        o.stopTokenIds.clear();
    }
    try {
        o.validate();
    } catch (const Error& e) {
        throw UsageError{e.what()};
    }

    std::vector<Message> messages;
    if (args.has("chat")) messages.push_back({"user", prompt});
    if (!args.unused().empty()) throw UsageError{"unknown option " + args.unused().front()};

    auto ids = model::encodePrompt(*model, prompt, messages);
    // Warnings only once the input is known to be usable: an error is then the only line
    // (scripts read stderr's one line).
    HeldWarnings warnings;
    warnings.add("dpowb generate: warning: ", model->warnings);
    warnings.release();
    Progress progress;
    progress.cancel = &interrupted();
    auto result = model::generate(*model, ids, o, [](const std::string& piece, text::TokenId) {
        std::cout << piece << std::flush;
    }, progress);
    std::cout.flush();
    if (result.finishReason == "cancelled") throw Cancelled();
    return kOk;
}

DPOWB_COMMAND({"generate", torchCommandSummary("generate"), torchCommandUsage("generate"), {"chat", "ignore-eos"}, {}, runGenerate});

}  // namespace
}  // namespace dpowb::cli
