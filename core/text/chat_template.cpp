#include "text/chat_template.h"

#include "common/error.h"
#include "text/unicode.h"

namespace dpowb::text {

namespace {

// Python's str.strip(), which Jinja's `trim` filter and `.strip()` call.
bool pyspace(char32_t c) { return unicode::isWhitespace(c) || (c >= 0x1C && c <= 0x1F); }

std::string strip(const std::string& s) {
    size_t i = 0, begin = s.size(), end = 0;
    while (i < s.size()) {
        size_t at = i;
        if (!pyspace(unicode::next(s, i))) {
            if (begin == s.size()) begin = at;
            end = i;
        }
    }
    return begin >= end ? std::string() : s.substr(begin, end - begin);
}

// Python's str.strip(chars) / lstrip / rstrip for ASCII `chars`.
std::string trimChars(const std::string& s, const char* chars, bool left, bool right) {
    size_t b = 0, e = s.size();
    if (left) b = s.find_first_not_of(chars);
    if (b == std::string::npos) return {};
    if (right) e = s.find_last_not_of(chars) + 1;
    return s.substr(b, e - b);
}

bool has(const std::string& s, const char* marker) { return s.find(marker) != std::string::npos; }

// The Llama 2 / Mistral / Gemma templates refuse conversations whose user and assistant
// turns do not alternate; so do we, with the same rule.
void requireAlternation(const std::vector<Message>& msgs, size_t first, const std::string& name) {
    for (size_t k = first; k < msgs.size(); ++k) {
        bool user = msgs[k].role == "user";
        bool expectUser = (k - first) % 2 == 0;
        if (user != expectUser || (!user && msgs[k].role != "assistant"))
            throw Error(name + " chat template: message " + std::to_string(k + 1) + " has role \"" + msgs[k].role +
                        "\"; roles must alternate user/assistant/user/... (after an optional system message)");
    }
}

const char* kLlama3Bos = "<|begin_of_text|>";
const char* kGemmaBos = "<bos>";
const char* kSentencePieceBos = "<s>";
const char* kSentencePieceEos = "</s>";

// The system prompt a ChatML template writes when there is no system message: a complete
// string literal '<|im_start|>system\n...<|im_end|>\n' in the source (Qwen2.5, SmolLM2).
// Templates that only concatenate messages[0].content (Qwen3) have none.
std::string defaultSystemPrompt(const std::string& src) {
    const std::string open = "<|im_start|>system\\n";
    const std::string close = "<|im_end|>";
    size_t pos = 0;
    while ((pos = src.find(open, pos)) != std::string::npos) {
        size_t start = pos + open.size();
        size_t quote = src.find_first_of("'\"", start);
        pos = start;
        if (quote == std::string::npos) break;
        std::string literal = src.substr(start, quote - start);
        size_t end = literal.find(close);
        if (end == std::string::npos || end == 0) continue;
        std::string raw = literal.substr(0, end), out;
        for (size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] != '\\' || i + 1 == raw.size()) {
                out += raw[i];
                continue;
            }
            char e = raw[++i];
            out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
        }
        return out;
    }
    return {};
}

}  // namespace

const std::vector<std::string>& ChatTemplate::names() {
    static const std::vector<std::string> n{"chatml", "qwen3", "llama3", "llama2", "mistral", "zephyr", "gemma", "plain"};
    return n;
}

ChatTemplate ChatTemplate::named(const std::string& name) {
    ChatTemplate t;
    t.name_ = name;
    if (name == "chatml" || name == "qwen3") {
        t.endOfTurn_ = "<|im_end|>";
    } else if (name == "llama3") {
        t.bos_ = kLlama3Bos;
        t.writesBos_ = true;
        t.endOfTurn_ = "<|eot_id|>";
    } else if (name == "llama2" || name == "mistral") {
        t.bos_ = kSentencePieceBos;
        t.writesBos_ = true;
        t.endOfTurn_ = kSentencePieceEos;
    } else if (name == "zephyr") {
        t.endOfTurn_ = kSentencePieceEos;
    } else if (name == "gemma") {
        t.bos_ = kGemmaBos;
        t.writesBos_ = true;
        t.endOfTurn_ = "<end_of_turn>";
    } else if (name == "plain") {
        t.endOfTurn_.clear();
    } else {
        std::string list;
        for (const auto& n : names()) list += (list.empty() ? "" : ", ") + n;
        throw Error("unknown chat template \"" + name + "\" (known: " + list + ")");
    }
    return t;
}

ChatTemplate ChatTemplate::detect(const std::string& src, const std::string& bosToken) {
    std::string name;
    if (src.empty())
        throw Error("the tokenizer has no chat template; choose one by name (" + std::string("chatml, qwen3, llama3, llama2, mistral, zephyr, gemma, plain") + ")");
    if (has(src, "Cutting Knowledge Date"))
        throw Error("the Llama 3.1+ chat template (with its dated system header) is not supported; "
                    "choose the Llama 3 format by name (llama3) if that is acceptable");
    if (has(src, "<|im_start|>")) name = has(src, "<think>") ? "qwen3" : "chatml";
    else if (has(src, "<|start_header_id|>")) name = "llama3";
    else if (has(src, "[INST]")) name = has(src, "<<SYS>>") ? "llama2" : "mistral";
    else if (has(src, "<start_of_turn>")) name = "gemma";
    else if (has(src, "<|user|>") && (has(src, "</s>") || has(src, "eos_token")) && !has(src, "<|end|>")) name = "zephyr";
    if (name.empty()) {
        std::string head = src.substr(0, 80);
        for (char& c : head)
            if (c == '\n' || c == '\r') c = ' ';
        throw Error("chat template not recognised (it starts \"" + head +
                    "\"); choose one by name: chatml, qwen3, llama3, llama2, mistral, zephyr, gemma, plain");
    }
    ChatTemplate t = named(name);
    if (!bosToken.empty() && t.writesBos_) t.bos_ = bosToken;
    if (name == "chatml") t.defaultSystem_ = defaultSystemPrompt(src);
    t.alwaysGenerationPrompt_ = !has(src, "add_generation_prompt") && (name == "chatml" || name == "llama3");
    return t;
}

std::string ChatTemplate::apply(const std::vector<Message>& messages, bool addGenerationPrompt) const {
    addGenerationPrompt = addGenerationPrompt || alwaysGenerationPrompt_;
    std::string out;
    if (name_ == "chatml") {
        if (!defaultSystem_.empty() && (messages.empty() || messages[0].role != "system"))
            out += "<|im_start|>system\n" + defaultSystem_ + "<|im_end|>\n";
        for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
        if (addGenerationPrompt) out += "<|im_start|>assistant\n";
    } else if (name_ == "qwen3") {
        // Qwen3's template: assistant turns after the last user message carry a <think> block
        // (empty when the content has none); earlier ones lose their reasoning.
        size_t lastQuery = messages.empty() ? 0 : messages.size() - 1;  // the template's default
        for (size_t k = messages.size(); k-- > 0;)
            if (messages[k].role == "user") {
                lastQuery = k;
                break;
            }
        for (size_t k = 0; k < messages.size(); ++k) {
            const auto& m = messages[k];
            if (m.role != "assistant") {
                out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
                continue;
            }
            std::string content = m.content, reasoning;
            if (auto close = content.find("</think>"); close != std::string::npos) {
                std::string before = trimChars(content.substr(0, close), "\n", false, true);
                if (auto open = before.rfind("<think>"); open != std::string::npos) before = before.substr(open + 7);
                reasoning = trimChars(before, "\n", true, false);
                content = trimChars(content.substr(content.rfind("</think>") + 8), "\n", true, false);
            }
            if (k > lastQuery && (k + 1 == messages.size() || !reasoning.empty()))
                out += "<|im_start|>assistant\n<think>\n" + trimChars(reasoning, "\n", true, true) + "\n</think>\n\n" +
                       trimChars(content, "\n", true, false);
            else
                out += "<|im_start|>assistant\n" + content;
            out += "<|im_end|>\n";
        }
        if (addGenerationPrompt) out += "<|im_start|>assistant\n";
    } else if (name_ == "llama3") {
        for (size_t k = 0; k < messages.size(); ++k) {
            if (k == 0) out += bos_;
            out += "<|start_header_id|>" + messages[k].role + "<|end_header_id|>\n\n" + strip(messages[k].content) + "<|eot_id|>";
        }
        if (addGenerationPrompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    } else if (name_ == "llama2") {
        size_t first = 0;
        std::string system;
        bool hasSystem = !messages.empty() && messages[0].role == "system";
        if (hasSystem) system = messages[0].content, first = 1;
        requireAlternation(messages, first, name_);
        for (size_t k = first; k < messages.size(); ++k) {
            std::string content = messages[k].content;
            if (k == first && hasSystem) content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content;
            if (messages[k].role == "user") out += bos_ + "[INST] " + strip(content) + " [/INST]";
            else out += " " + strip(content) + " " + kSentencePieceEos;
        }
        // The template ends a user turn with [/INST], where the reply begins: no prompt to add.
    } else if (name_ == "mistral") {
        out += bos_;
        requireAlternation(messages, 0, name_);
        for (const auto& m : messages) {
            if (m.role == "user") out += "[INST] " + m.content + " [/INST]";
            else out += m.content + kSentencePieceEos;
        }
    } else if (name_ == "zephyr") {
        for (size_t k = 0; k < messages.size(); ++k) {
            const auto& m = messages[k];
            if (m.role == "user" || m.role == "system" || m.role == "assistant")
                out += "<|" + m.role + "|>\n" + m.content + kSentencePieceEos + "\n";
            if (k + 1 == messages.size() && addGenerationPrompt) out += "<|assistant|>\n";
        }
    } else if (name_ == "gemma") {
        // Gemma has no system role; as its later templates do, a system message becomes a
        // prefix of the first user turn.
        size_t first = 0;
        std::string prefix;
        if (!messages.empty() && messages[0].role == "system") prefix = messages[0].content + "\n\n", first = 1;
        requireAlternation(messages, first, name_);
        out += bos_;
        for (size_t k = first; k < messages.size(); ++k) {
            const auto& m = messages[k];
            std::string role = m.role == "assistant" ? "model" : m.role;
            out += "<start_of_turn>" + role + "\n" + (k == first ? prefix : std::string()) + strip(m.content) + "<end_of_turn>\n";
        }
        if (addGenerationPrompt) out += "<start_of_turn>model\n";
    } else {  // plain: the contents, one blank line apart, for models trained without a template
        for (size_t k = 0; k < messages.size(); ++k) {
            if (k) out += "\n\n";
            out += messages[k].content;
        }
        if (addGenerationPrompt && !messages.empty()) out += "\n\n";
    }
    return out;
}

}  // namespace dpowb::text
