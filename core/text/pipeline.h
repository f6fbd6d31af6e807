// The stages of a Hugging Face tokenizer.json around the model: normalizers, pre-tokenizers,
// decoders and post-processors, each parsed from its JSON object. Every `type` or option that
// is not implemented is refused at parse time with the JSON path that names it.
// Internal to core/text.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace dpowb::text {

// A piece of text on its way to the model. `atStart` tells whether it begins at offset 0 of
// the caller's text (Metaspace's prepend_scheme "first" depends on it).
struct Piece {
    std::string text;
    bool atStart = false;
};

class Normalizer {
public:
    virtual ~Normalizer() = default;
    virtual void apply(std::string& text) const = 0;
};

class PreTokenizer {
public:
    virtual ~PreTokenizer() = default;
    // Replaces `pieces` by their split; empty pieces are dropped.
    virtual void apply(std::vector<Piece>& pieces) const = 0;
};

class Decoder {
public:
    virtual ~Decoder() = default;
    virtual void apply(std::vector<std::string>& tokens) const = 0;
};

class PostProcessor {
public:
    virtual ~PostProcessor() = default;
    // Adds the special tokens of a single sequence (called only when they are asked for).
    virtual void apply(std::vector<TokenId>& ids) const = 0;
};

// `path` names the JSON value in error messages (e.g. "pre_tokenizer.pretokenizers[1]").
// A null value gives nullptr. Errors are dpowb::Error without the file name.
std::unique_ptr<Normalizer> parseNormalizer(const nlohmann::json& j, const std::string& path);
std::unique_ptr<PreTokenizer> parsePreTokenizer(const nlohmann::json& j, const std::string& path);
std::unique_ptr<Decoder> parseDecoder(const nlohmann::json& j, const std::string& path);
std::unique_ptr<PostProcessor> parsePostProcessor(const nlohmann::json& j, const std::string& path);

}  // namespace dpowb::text
