#include "text/tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "common/error.h"
#include "common/json_input.h"
#include "common/files.h"
#include "text/bpe.h"
#include "text/pipeline.h"
#include "text/unicode.h"

namespace dpowb::text {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr uintmax_t kMaxTokenizerFileBytes = 1024ull * 1024 * 1024;

struct AddedToken {
    std::string content;
    TokenId id = 0;
    bool singleWord = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

// A stretch of text: an added token (id >= 0) or plain text (id < 0).
struct Segment {
    size_t start, end;
    TokenId id;
};

// Finds added tokens the way the Hugging Face AddedVocabulary does: leftmost-longest,
// non-overlapping matches, then the single_word / lstrip / rstrip rules.
class AddedTokenMatcher {
public:
    // `pattern` is the text to find: the content itself, or for a `normalized` token its content
    // after the normalizer, since it is matched against normalized text.
    void add(const AddedToken* t, std::string pattern) {
        if (pattern.empty()) return;
        byFirst_[static_cast<unsigned char>(pattern[0])].push_back(Entry{std::move(pattern), t});
        any_ = true;
    }

    // Call once after the last add(): longest first, so the first hit at a position is the
    // longest one there (sorting per add would be quadratic in a file with many tokens).
    void finish() {
        for (auto& bucket : byFirst_)
            std::stable_sort(bucket.begin(), bucket.end(),
                             [](const Entry& a, const Entry& b) { return a.pattern.size() > b.pattern.size(); });
    }

    void split(std::string_view text, std::vector<Segment>& out) const {
        out.clear();
        if (!any_ || text.empty()) {
            out.push_back({0, text.size(), -1});
            return;
        }
        size_t startOffset = 0, pos = 0;
        while (pos < text.size()) {
            const Entry* hit = nullptr;
            size_t at = pos;
            for (; at < text.size() && !hit; ++at) {
                const auto& bucket = byFirst_[static_cast<unsigned char>(text[at])];
                for (const Entry& e : bucket) {
                    if (text.compare(at, e.pattern.size(), e.pattern) == 0) {
                        hit = &e;
                        break;
                    }
                }
                if (hit) break;
            }
            if (!hit) break;
            const AddedToken* token = hit->token;
            size_t start = at, stop = at + hit->pattern.size();
            pos = stop;
            if (token->singleWord && !(boundaryBefore(text, start) && boundaryAfter(text, stop))) continue;
            if (token->lstrip) start = std::max(spaceStartAtEnd(text.substr(0, start)), startOffset);
            if (token->rstrip) stop += spaceLengthAtStart(text.substr(stop));
            if (start < startOffset) continue;  // inside whitespace a previous rstrip took
            if (startOffset < start) out.push_back({startOffset, start, -1});
            out.push_back({start, stop, token->id});
            startOffset = stop;
        }
        if (startOffset < text.size()) out.push_back({startOffset, text.size(), -1});
    }

private:
    static char32_t lastChar(std::string_view s) {
        size_t i = s.size();
        while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i;
        if (i > 0) --i;
        size_t k = i;
        return unicode::next(s, k);
    }
    static bool boundaryBefore(std::string_view text, size_t at) {
        return at == 0 || !unicode::isWordChar(lastChar(text.substr(0, at)));
    }
    static bool boundaryAfter(std::string_view text, size_t at) {
        if (at >= text.size()) return true;
        size_t i = at;
        return !unicode::isWordChar(unicode::next(text, i));
    }
    // Byte offset where the trailing whitespace of s begins.
    static size_t spaceStartAtEnd(std::string_view s) {
        size_t i = 0, lastNonSpaceEnd = 0;
        while (i < s.size()) {
            if (!unicode::isWhitespace(unicode::next(s, i))) lastNonSpaceEnd = i;
        }
        return lastNonSpaceEnd;
    }
    static size_t spaceLengthAtStart(std::string_view s) {
        size_t i = 0, end = 0;
        while (i < s.size()) {
            if (!unicode::isWhitespace(unicode::next(s, i))) break;
            end = i;
        }
        return end;
    }

    struct Entry {
        std::string pattern;
        const AddedToken* token;
    };
    std::array<std::vector<Entry>, 256> byFirst_;
    bool any_ = false;
};

std::string readFile(const std::string& path, const char* what) {
    std::error_code ec;
    auto size = fs::file_size(path, ec);
    if (ec) throw Error(path + ": cannot read " + what + ": " + ec.message());
    if (size > kMaxTokenizerFileBytes) throw Error(path + ": " + what + " is larger than 1 GiB; refusing to load it");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open " + what);
    std::string text(static_cast<size_t>(size), '\0');
    in.read(text.data(), static_cast<std::streamsize>(size));
    if (static_cast<uintmax_t>(in.gcount()) != size) throw Error(path + ": cannot read " + what);
    return text;
}

json parseJson(const std::string& text, const std::string& where) { return parseUntrustedJson(text, where); }

bool optBool(const json& j, const char* key, bool fallback, const std::string& path) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) throw Error(path + "." + key + ": expected true or false");
    return it->get<bool>();
}


class HfTokenizer final : public Tokenizer {
public:
    // `where` names the file in errors.
    HfTokenizer(std::string jsonText, const std::string& where) : json_(std::move(jsonText)) {
        json root = parseJson(json_, where);
        try {
            load(root);
        } catch (const InputError&) {
            throw;
        } catch (const Error& e) {
            throw Error(where + ": " + e.what());
        } catch (const json::exception& e) {
            throw Error(where + ": unexpected value: " + std::string(e.what()));
        }
    }

    void loadConfig(std::string configText, const std::string& where, const std::string& chatTemplateFile) {
        config_ = std::move(configText);
        json cfg = parseJson(config_, where);
        if (!cfg.is_object()) throw Error(where + ": expected a JSON object");
        bos_ = specialFromConfig(cfg, "bos_token", where);
        eos_ = specialFromConfig(cfg, "eos_token", where);
        // transformers would add a missing pad token to the vocabulary; a model has no embedding
        // for it, so it is left unknown here rather than refusing the folder.
        pad_ = specialFromConfig(cfg, "pad_token", where, /*mustExist=*/false);
        if (auto it = cfg.find("chat_template"); it != cfg.end() && !it->is_null()) {
            if (it->is_string()) {
                chatTemplate_ = it->get<std::string>();
            } else if (it->is_array()) {
                // Several named templates: the one named "default" is what apply_chat_template uses.
                for (const auto& t : *it) {
                    if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string())
                        chatTemplate_ = t["template"].get<std::string>();
                }
                if (chatTemplate_.empty())
                    throw Error(where + ": chat_template: a list of templates without one named \"default\"");
            } else {
                throw Error(where + ": chat_template: expected a string");
            }
        }
        if (chatTemplate_.empty() && !chatTemplateFile.empty()) chatTemplate_ = readFile(chatTemplateFile, "chat template");
    }

    std::vector<TokenId> encode(std::string_view text, bool addSpecialTokens) const override {
        std::string repaired;
        if (!unicode::isValid(text)) {
            repaired = unicode::toValidLossy(text);
            text = repaired;
        }
        std::vector<TokenId> ids;
        ids.reserve(text.size() / 3 + 4);
        std::vector<Segment> segments, inner;
        std::vector<Piece> pieces;
        rawMatcher_.split(text, segments);
        for (const Segment& seg : segments) {
            if (seg.id >= 0) {
                ids.push_back(seg.id);
                continue;
            }
            // Empty pieces vanish before the pre-tokenizer sees them, as in the Hugging Face
            // library (so Metaspace does not turn an empty text into "▁").
            if (seg.end == seg.start) continue;
            std::string normalized(text.substr(seg.start, seg.end - seg.start));
            if (normalizer_) normalizer_->apply(normalized);
            if (normalized.empty()) continue;
            normalizedMatcher_.split(normalized, inner);
            for (const Segment& s : inner) {
                if (s.id >= 0) {
                    ids.push_back(s.id);
                    continue;
                }
                if (s.end == s.start) continue;
                pieces.clear();
                pieces.push_back(Piece{normalized.substr(s.start, s.end - s.start), seg.start == 0 && s.start == 0});
                if (preTokenizer_) preTokenizer_->apply(pieces);
                for (const Piece& p : pieces) model_->tokenize(p.text, ids);
            }
        }
        if (addSpecialTokens && postProcessor_) postProcessor_->apply(ids);
        return ids;
    }

    std::string decode(const std::vector<TokenId>& ids, bool skipSpecial) const override {
        std::vector<std::string> tokens;
        tokens.reserve(ids.size());
        for (TokenId id : ids) {
            if (auto it = addedById_.find(id); it != addedById_.end()) {
                const AddedToken& t = added_[it->second];
                if (skipSpecial && t.special) continue;
                tokens.push_back(t.content);
            } else if (const std::string* tok = model_->idToToken(id)) {
                tokens.push_back(*tok);
            }
            // Ids outside the vocabulary are dropped, as the Hugging Face library does.
        }
        if (!decoder_) {
            std::string out;
            for (size_t k = 0; k < tokens.size(); ++k) {
                if (k) out += ' ';
                out += tokens[k];
            }
            return out;
        }
        decoder_->apply(tokens);
        std::string out;
        for (const auto& t : tokens) out += t;
        return out;
    }

    int64_t vocabSize() const override {
        TokenId maxId = model_->maxId();
        for (const auto& t : added_) maxId = std::max(maxId, t.id);
        return static_cast<int64_t>(maxId) + 1;
    }

    std::optional<TokenId> tokenToId(std::string_view token) const override {
        if (auto it = addedByContent_.find(std::string(token)); it != addedByContent_.end()) return it->second;
        return model_->tokenToId(token);
    }

    std::string idToToken(TokenId id) const override {
        if (auto it = addedById_.find(id); it != addedById_.end()) return added_[it->second].content;
        if (const std::string* tok = model_->idToToken(id)) return *tok;
        return {};
    }

    bool isSpecial(TokenId id) const override {
        auto it = addedById_.find(id);
        return it != addedById_.end() && added_[it->second].special;
    }

    std::optional<TokenId> bosId() const override { return bos_; }
    std::optional<TokenId> eosId() const override { return eos_; }
    std::optional<TokenId> padId() const override { return pad_; }
    const std::string& chatTemplateSource() const override { return chatTemplate_; }
    const std::string& kind() const override { return kind_; }
    void setKind(std::string kind) { kind_ = std::move(kind); }

    void save(const std::string& dir) const override {
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) throw Error(dir + ": cannot create the folder: " + ec.message());
        writeFileAtomic(fs::path(dir) / "tokenizer.json", json_);
        std::string config = config_;
        if (config.empty()) config = minimalConfig();
        writeFileAtomic(fs::path(dir) / "tokenizer_config.json", config);
    }

private:
    void load(const json& root) {
        if (!root.is_object()) throw Error("expected a JSON object at the top level");
        for (const char* key : {"truncation", "padding"}) {
            if (auto it = root.find(key); it != root.end() && !it->is_null())
                throw Error(std::string("\"") + key + "\" is set; fixed truncation/padding inside tokenizer.json is not supported (set it to null)");
        }
        auto model = root.find("model");
        if (model == root.end() || !model->is_object()) throw Error("missing \"model\" object");
        loadModel(*model);
        const auto mentions = [&](const char* key, const char* type) {
            auto it = root.find(key);
            return it != root.end() && it->dump().find(std::string("\"") + type + "\"") != std::string::npos;
        };
        if (mentions("pre_tokenizer", "ByteLevel") || mentions("decoder", "ByteLevel")) kind_ = "byte-level BPE";
        else if (auto bf = model->find("byte_fallback"); bf != model->end() && bf->is_boolean() && bf->get<bool>())
            kind_ = "BPE with byte fallback";
        else kind_ = "BPE";

        normalizer_ = parseNormalizer(root.value("normalizer", json()), "normalizer");
        preTokenizer_ = parsePreTokenizer(root.value("pre_tokenizer", json()), "pre_tokenizer");
        postProcessor_ = parsePostProcessor(root.value("post_processor", json()), "post_processor");
        decoder_ = parseDecoder(root.value("decoder", json()), "decoder");

        if (auto it = root.find("added_tokens"); it != root.end() && !it->is_null()) {
            if (!it->is_array()) throw Error("added_tokens: expected an array");
            added_.reserve(it->size());
            for (size_t k = 0; k < it->size(); ++k) {
                const json& t = (*it)[k];
                std::string path = "added_tokens[" + std::to_string(k) + "]";
                if (!t.is_object()) throw Error(path + ": expected an object");
                AddedToken tok;
                auto content = t.find("content");
                if (content == t.end() || !content->is_string()) throw Error(path + ".content: expected a string");
                tok.content = content->get<std::string>();
                if (!unicode::isValid(tok.content)) throw Error(path + ".content: not valid UTF-8");
                auto id = t.find("id");
                if (id == t.end() || !id->is_number_integer() || id->get<int64_t>() < 0 || id->get<int64_t>() > 16 * 1024 * 1024)
                    throw Error(path + ".id: expected a token id");
                tok.id = id->get<TokenId>();
                tok.singleWord = optBool(t, "single_word", false, path);
                tok.lstrip = optBool(t, "lstrip", false, path);
                tok.rstrip = optBool(t, "rstrip", false, path);
                tok.normalized = optBool(t, "normalized", false, path);
                tok.special = optBool(t, "special", false, path);
                added_.push_back(std::move(tok));
            }
        }
        for (size_t k = 0; k < added_.size(); ++k) {
            addedById_[added_[k].id] = k;
            addedByContent_[added_[k].content] = added_[k].id;
        }
        for (const auto& t : added_) {
            if (t.normalized && normalizer_) {
                std::string pattern = t.content;
                normalizer_->apply(pattern);
                normalizedMatcher_.add(&t, std::move(pattern));
            } else {
                rawMatcher_.add(&t, t.content);
            }
        }
        rawMatcher_.finish();
        normalizedMatcher_.finish();

        // The special tokens the post-processor adds (its single-sequence template) must be
        // ids of this tokenizer: an id beyond it would reach the model's embedding table.
        if (postProcessor_) {
            std::vector<TokenId> added;
            postProcessor_->apply(added);
            const int64_t n = vocabSize();
            for (TokenId id : added)
                if (id < 0 || id >= n)
                    throw Error("post_processor: adds token id " + std::to_string(id) +
                                ", which is outside the vocabulary (ids 0.." + std::to_string(n - 1) +
                                "); the file is damaged or its special_tokens belong to another tokenizer");
        }
    }

    void loadModel(const json& m) {
        std::string type = m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>() : "";
        if (type.empty() && m.contains("merges")) type = "BPE";  // older files leave the tag out
        if (type != "BPE")
            throw Error("model type \"" + (type.empty() ? std::string("(none)") : type) +
                        "\" is not supported (only BPE models are)");
        for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
            if (auto it = m.find(key); it != m.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty()))
                throw Error(std::string("model.") + key + " is set; it is not supported");
        }
        if (auto it = m.find("dropout"); it != m.end() && !it->is_null()) {
            if (!it->is_number()) throw Error("model.dropout: expected a number or null");
            if (it->get<double>() > 0.0) throw Error("model.dropout is set; BPE dropout is not supported");
        }
        BpeOptions opt;
        opt.byteFallback = optBool(m, "byte_fallback", false, "model");
        opt.fuseUnk = optBool(m, "fuse_unk", false, "model");
        opt.ignoreMerges = optBool(m, "ignore_merges", false, "model");
        if (auto it = m.find("unk_token"); it != m.end() && !it->is_null()) {
            if (!it->is_string()) throw Error("model.unk_token: expected a string or null");
            opt.unkToken = it->get<std::string>();
        }
        auto vocabIt = m.find("vocab");
        if (vocabIt == m.end() || !vocabIt->is_object()) throw Error("model.vocab: expected an object");
        std::vector<std::pair<std::string, TokenId>> vocab;
        vocab.reserve(vocabIt->size());
        for (const auto& [tok, id] : vocabIt->items()) {
            if (!id.is_number_integer()) throw Error("model.vocab: token \"" + tok + "\": expected an integer id");
            int64_t v = id.get<int64_t>();
            if (v < 0 || v > INT32_MAX) throw Error("model.vocab: token \"" + tok + "\" has id " + std::to_string(v) + ", out of range");
            vocab.emplace_back(tok, static_cast<TokenId>(v));
        }
        std::vector<std::pair<std::string, std::string>> merges;
        if (auto it = m.find("merges"); it != m.end() && !it->is_null()) {
            if (!it->is_array()) throw Error("model.merges: expected an array");
            merges.reserve(it->size());
            size_t rank = 0;
            for (const auto& mj : *it) {
                std::string path = "model.merges[" + std::to_string(rank) + "]";
                if (mj.is_string()) {
                    const auto& line = mj.get_ref<const std::string&>();
                    if (line.rfind("#version", 0) == 0) continue;
                    auto sp = line.find(' ');
                    if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
                        throw Error(path + ": expected \"left right\" with exactly one space, got \"" + line + "\"");
                    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
                } else if (mj.is_array() && mj.size() == 2 && mj[0].is_string() && mj[1].is_string()) {
                    merges.emplace_back(mj[0].get<std::string>(), mj[1].get<std::string>());
                } else {
                    throw Error(path + ": expected \"left right\" or [left, right]");
                }
                ++rank;
            }
        }
        model_ = std::make_unique<BpeModel>(std::move(vocab), merges, opt);
    }

    std::optional<TokenId> specialFromConfig(const json& cfg, const char* key, const std::string& where,
                                             bool mustExist = true) const {
        auto it = cfg.find(key);
        if (it == cfg.end() || it->is_null()) return std::nullopt;
        std::string text;
        if (it->is_string()) text = it->get<std::string>();
        else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) text = (*it)["content"].get<std::string>();
        else throw Error(where + ": " + key + ": expected a string or {\"content\": ...}");
        auto id = tokenToId(text);
        if (!id && !mustExist) return std::nullopt;
        if (!id) throw Error(where + ": " + key + " \"" + text + "\" is not a token of tokenizer.json");
        return id;
    }

    std::string minimalConfig() const {
        json cfg = json::object();
        cfg["tokenizer_class"] = "PreTrainedTokenizerFast";
        cfg["clean_up_tokenization_spaces"] = false;
        if (bos_) cfg["bos_token"] = idToToken(*bos_);
        if (eos_) cfg["eos_token"] = idToToken(*eos_);
        if (pad_) cfg["pad_token"] = idToToken(*pad_);
        if (!chatTemplate_.empty()) cfg["chat_template"] = chatTemplate_;
        return cfg.dump(2) + "\n";
    }

    std::string json_;
    std::string config_;
    std::unique_ptr<BpeModel> model_;
    std::unique_ptr<Normalizer> normalizer_;
    std::unique_ptr<PreTokenizer> preTokenizer_;
    std::unique_ptr<PostProcessor> postProcessor_;
    std::unique_ptr<Decoder> decoder_;
    std::vector<AddedToken> added_;
    std::unordered_map<TokenId, size_t> addedById_;
    std::unordered_map<std::string, TokenId> addedByContent_;
    AddedTokenMatcher rawMatcher_, normalizedMatcher_;
    std::optional<TokenId> bos_, eos_, pad_;
    std::string chatTemplate_;
    std::string kind_;
};

// ---- The built-in byte tokenizer --------------------------------------------------------------

const char* const kByteSpecials[] = {"<|bos|>", "<|eos|>", "<|pad|>", "<|im_start|>", "<|im_end|>"};

const char* const kChatMlTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

std::string byteTokenizerJson() {
    json added = json::array();
    for (size_t k = 0; k < std::size(kByteSpecials); ++k) {
        added.push_back({{"id", 256 + static_cast<int>(k)},
                         {"content", kByteSpecials[k]},
                         {"single_word", false},
                         {"lstrip", false},
                         {"rstrip", false},
                         {"normalized", false},
                         {"special", true}});
    }
    json vocab = json::object();
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        vocab[name] = b;
    }
    json bos = {{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}};
    json root = {
        {"version", "1.0"},
        {"truncation", nullptr},
        {"padding", nullptr},
        {"added_tokens", added},
        {"normalizer", nullptr},
        {"pre_tokenizer", nullptr},
        {"post_processor",
         {{"type", "TemplateProcessing"},
          {"single", json::array({bos, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
          {"pair", json::array({bos, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}})},
          {"special_tokens", {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {256}}, {"tokens", {"<|bos|>"}}}}}}}},
        {"decoder", {{"type", "Sequence"}, {"decoders", json::array({{{"type", "ByteFallback"}}, {{"type", "Fuse"}}})}}},
        {"model",
         {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", false},
          {"byte_fallback", true},
          {"ignore_merges", false},
          {"vocab", vocab},
          {"merges", json::array()}}}};
    return root.dump(2) + "\n";
}

std::string byteTokenizerConfig() {
    json decoderMap = json::object();
    for (size_t k = 0; k < std::size(kByteSpecials); ++k) {
        decoderMap[std::to_string(256 + k)] = {{"content", kByteSpecials[k]}, {"lstrip", false}, {"normalized", false},
                                               {"rstrip", false}, {"single_word", false}, {"special", true}};
    }
    json cfg = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                {"bos_token", "<|bos|>"},
                {"eos_token", "<|eos|>"},
                {"pad_token", "<|pad|>"},
                {"added_tokens_decoder", decoderMap},
                {"additional_special_tokens", {"<|im_start|>", "<|im_end|>"}},
                {"clean_up_tokenization_spaces", false},
                {"model_max_length", 1 << 20},
                {"chat_template", kChatMlTemplate}};
    return cfg.dump(2) + "\n";
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::fromFile(const std::string& tokenizerJsonPath) {
    return std::make_unique<HfTokenizer>(readFile(tokenizerJsonPath, "tokenizer.json"), tokenizerJsonPath);
}

std::unique_ptr<Tokenizer> Tokenizer::fromJsonText(std::string tokenizerJson, const std::string& where) {
    return std::make_unique<HfTokenizer>(std::move(tokenizerJson), where);
}

std::unique_ptr<Tokenizer> Tokenizer::fromDir(const std::string& dir) {
    fs::path base(dir);
    fs::path tokPath = base / "tokenizer.json";
    std::error_code ec;
    if (!fs::is_directory(base, ec)) throw Error(dir + ": not a folder");
    if (!fs::exists(tokPath, ec))
        throw Error(dir + ": no tokenizer.json in this folder (only Hugging Face tokenizer.json tokenizers are supported)");
    auto tok = std::make_unique<HfTokenizer>(readFile(tokPath.string(), "tokenizer.json"), tokPath.string());
    fs::path cfgPath = base / "tokenizer_config.json";
    fs::path jinjaPath = base / "chat_template.jinja";
    std::string jinja = fs::exists(jinjaPath, ec) ? jinjaPath.string() : std::string();
    if (fs::exists(cfgPath, ec)) tok->loadConfig(readFile(cfgPath.string(), "tokenizer_config.json"), cfgPath.string(), jinja);
    else if (!jinja.empty()) tok->loadConfig("{}", cfgPath.string(), jinja);
    return tok;
}

std::unique_ptr<Tokenizer> Tokenizer::byteLevel() {
    auto tok = std::make_unique<HfTokenizer>(byteTokenizerJson(), "builtin:byte tokenizer.json");
    tok->loadConfig(byteTokenizerConfig(), "builtin:byte tokenizer_config.json", {});
    tok->setKind("byte");
    return tok;
}

}  // namespace dpowb::text
