// Tokenizers that match the Hugging Face `tokenizers` library id for id: byte-level BPE
// (GPT-2, Llama 3, Qwen, SmolLM), SentencePiece-style BPE with byte fallback (Llama 2,
// Mistral, TinyLlama), added/special tokens, post-processor BOS/EOS; and the built-in byte
// tokenizer. Anything in a tokenizer.json that is not supported is refused at load time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dpowb::text {

using TokenId = int32_t;

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // Loads a tokenizer.json file. Throws dpowb::Error naming the file and the unsupported or
    // malformed part.
    static std::unique_ptr<Tokenizer> fromFile(const std::string& tokenizerJsonPath);
    // The same from the text of a tokenizer.json; `where` names it in errors.
    static std::unique_ptr<Tokenizer> fromJsonText(std::string tokenizerJson, const std::string& where);
    // Loads DIR/tokenizer.json plus DIR/tokenizer_config.json (bos/eos/pad, chat template,
    // add_bos_token) when present.
    static std::unique_ptr<Tokenizer> fromDir(const std::string& dir);
    // The built-in byte tokenizer: byte v -> id v (0..255), then <|bos|>=256, <|eos|>=257,
    // <|pad|>=258, <|im_start|>=259, <|im_end|>=260.
    static std::unique_ptr<Tokenizer> byteLevel();

    virtual std::vector<TokenId> encode(std::string_view text, bool addSpecialTokens = false) const = 0;
    // Like HF decode(ids, skip_special_tokens=skipSpecial). Invalid UTF-8 from split pieces
    // becomes U+FFFD, as in HF.
    virtual std::string decode(const std::vector<TokenId>& ids, bool skipSpecial = false) const = 0;

    virtual int64_t vocabSize() const = 0;  // including added tokens (max id + 1)
    virtual std::optional<TokenId> tokenToId(std::string_view token) const = 0;
    virtual std::string idToToken(TokenId id) const = 0;
    virtual bool isSpecial(TokenId id) const = 0;

    // From tokenizer_config.json (or the built-in defaults); nullopt when unknown.
    virtual std::optional<TokenId> bosId() const = 0;
    virtual std::optional<TokenId> eosId() const = 0;
    virtual std::optional<TokenId> padId() const = 0;
    // The raw `chat_template` string of tokenizer_config.json ("" when none).
    virtual const std::string& chatTemplateSource() const = 0;
    // What kind of tokenizer this is, for display: "byte-level BPE" (GPT-2, Llama 3, Qwen),
    // "BPE with byte fallback" (SentencePiece-style: Llama 2, Mistral), "BPE", or "byte" (the
    // built-in byte tokenizer).
    virtual const std::string& kind() const = 0;

    // Writes tokenizer.json and tokenizer_config.json into `dir` so that the folder loads
    // back here and in Hugging Face transformers.
    virtual void save(const std::string& dir) const = 0;
};

}  // namespace dpowb::text
