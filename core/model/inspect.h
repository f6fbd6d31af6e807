// What a model folder (or builtin:tiny) holds, read without loading any weights: its
// configuration and parameter count (from the architecture table), the size of its weight
// files, its tokenizer and the chat template the tokenizer carries. The run form shows it, and
// `dpowb inspect` prints it (in the `dpowb` that links no LibTorch).
//
// Torch-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "model/config.h"
#include "text/chat_template.h"

namespace dpowb::text {
class Tokenizer;
}

namespace dpowb::model {

// The chat template a tokenizer's files carry (tokenizer_config.json's chat_template, else
// chat_template.jinja), recognised from its source (text/chat_template.h). loadModel() and
// inspectModel() both ask this.
struct ChatTemplateFound {
    std::optional<text::ChatTemplate> chatTemplate;  // nullopt: none, or not recognised
    std::string problem;  // why a template the files carry is not used ("" when there is none)
    std::string describe() const;  // the name, "none", or "not recognised: PROBLEM"
};
ChatTemplateFound detectChatTemplate(const text::Tokenizer& tokenizer);

struct ModelInspection {
    std::string source;  // the folder, or builtin:tiny
    ModelConfig config;
    int64_t parameters = 0;   // of the network the engine builds (architectures.h's table)
    int64_t weightBytes = 0;  // size of the *.safetensors files (0: builtin:tiny, weights from a seed)
    bool tokenizerFile = false;  // tokenizer.json present (builtin:tiny: its byte tokenizer)
    bool tokenizer = false;      // ... and loaded
    std::string tokenizerKind;  // Tokenizer::kind()
    int64_t vocabSize = 0;      // the tokenizer's
    std::string tokenizerProblem;  // why there is no tokenizer ("" when there is one)
    ChatTemplateFound chatTemplate;
};

// Throws dpowb::Error when the folder cannot be a model: not a folder, no or a broken
// config.json, no .safetensors weights. A missing or unreadable tokenizer is reported in the
// result (tokenizer = false) rather than thrown: the weights can still be inspected.
// readTokenizer = false leaves the tokenizer and its chat template out (a listing of many
// folders: a tokenizer.json of a large vocabulary takes a noticeable fraction of a second).
ModelInspection inspectModel(const std::string& folderOrBuiltin, bool readTokenizer = true);

}  // namespace dpowb::model
