// The commands that need tensors. They are built into `dpowb-torch` (cmd_model, cmd_generate,
// cmd_train, cmd_compare, cmd_info); `dpowb` lists them in its overview, prints their help itself and
// hands everything else over with exec.
// One table, so that the two programs cannot disagree about which commands exist.
#pragma once

#include <cstring>
#include <string>

namespace dpowb::cli {

struct TorchCommandInfo {
    const char* name;
    const char* summary;
};

inline constexpr TorchCommandInfo kTorchCommands[] = {
    {"generate", "generate a completion of a prompt (streamed to stdout)"},
    {"info", "LibTorch version, CUDA backend and devices (JSON)"},
    {"sample-pairs", "generate policy-vs-reference pairs for labelling"},
    {"score", "sequence log-probs of chosen and rejected responses (JSONL in, JSONL out)"},
    {"score-pairs", "implicit reward margin of every pair under a run's policy"},
    {"train", "run DPO on a project's labelled pairs or a JSONL file"},
};

// The full help text of a tensor command (torch_usage.cpp, in both programs); "" if unknown.
std::string torchCommandUsage(const std::string& name);
// The names --chat-template accepts, comma-separated.
std::string chatTemplateNames();

inline const char* torchCommandSummary(const char* name) {
    for (const auto& c : kTorchCommands)
        if (std::strcmp(c.name, name) == 0) return c.summary;
    return "";
}

}  // namespace dpowb::cli
