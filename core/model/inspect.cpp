#include "model/inspect.h"

#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "model/architectures.h"
#include "text/tokenizer.h"

namespace dpowb::model {

namespace fs = std::filesystem;

namespace {

constexpr const char* kBuiltin = "builtin:tiny";
constexpr uintmax_t kMaxConfigBytes = 16u << 20;  // as loadModel reads config.json

}  // namespace

std::string ChatTemplateFound::describe() const {
    if (chatTemplate) return chatTemplate->name();
    if (!problem.empty()) return "not recognised: " + problem;
    return "none";
}

ChatTemplateFound detectChatTemplate(const text::Tokenizer& tokenizer) {
    ChatTemplateFound found;
    if (tokenizer.chatTemplateSource().empty()) return found;
    const std::string bos = tokenizer.bosId() ? tokenizer.idToToken(*tokenizer.bosId()) : "";
    try {
        found.chatTemplate = text::ChatTemplate::detect(tokenizer.chatTemplateSource(), bos);
    } catch (const Error& e) {
        found.problem = e.what();
    }
    return found;
}

ModelInspection inspectModel(const std::string& folderOrBuiltin, bool readTokenizer) {
    ModelInspection info;
    info.source = folderOrBuiltin;
    std::unique_ptr<text::Tokenizer> tokenizer;
    if (folderOrBuiltin == kBuiltin) {
        tokenizer = text::Tokenizer::byteLevel();
        info.tokenizerFile = true;
        info.config = builtinTinyConfig(tokenizer->vocabSize());
    } else {
        const fs::path dir(folderOrBuiltin);
        std::error_code ec;
        if (!fs::is_directory(dir, ec))
            throw Error(folderOrBuiltin + ": not a model folder (expected a directory with config.json, or builtin:tiny)");
        const fs::path configPath = dir / "config.json";
        if (!fs::is_regular_file(configPath, ec))
            throw Error(folderOrBuiltin + ": no config.json; choose a Hugging Face model folder");
        info.config = ModelConfig::fromJson(readFile(configPath, kMaxConfigBytes), configPath.string());
        for (const auto& entry : fs::directory_iterator(dir, ec)) {
            if (entry.path().extension() == ".safetensors" && entry.is_regular_file(ec))
                info.weightBytes += int64_t(entry.file_size(ec));
        }
        if (info.weightBytes == 0)
            throw Error(folderOrBuiltin + ": no model.safetensors (pickle .bin checkpoints are not read; save the model "
                                          "with safe_serialization=True)");
        info.tokenizerFile = fs::exists(dir / "tokenizer.json", ec);
        if (!info.tokenizerFile) {
            info.tokenizerProblem = "no tokenizer.json";
        } else if (!readTokenizer) {
            info.tokenizerProblem = "not read";
        } else {
            try {
                tokenizer = text::Tokenizer::fromDir(dir.string());
            } catch (const Error& e) {
                info.tokenizerProblem = e.what();
            }
        }
    }
    info.parameters = tableParameterCount(info.config);
    if (tokenizer) {
        info.tokenizer = true;
        info.tokenizerKind = tokenizer->kind();
        info.vocabSize = tokenizer->vocabSize();
        info.chatTemplate = detectChatTemplate(*tokenizer);
    }
    return info;
}

}  // namespace dpowb::model
