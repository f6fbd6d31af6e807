// Chat templates without Jinja: the common templates are recognised from the chat_template
// string of tokenizer_config.json (or chosen by name) and rendered by hand-written code.
#pragma once

#include <string>
#include <vector>

#include "common/message.h"

namespace dpowb::text {

using dpowb::Message;

class ChatTemplate {
public:
    // Names: "chatml" (Qwen2/2.5, SmolLM), "qwen3" (ChatML with <think> blocks), "llama3",
    // "llama2" ([INST] with <<SYS>>), "mistral" ([INST], no system), "zephyr", "gemma", "plain".
    static const std::vector<std::string>& names();
    static ChatTemplate named(const std::string& name);  // throws dpowb::Error on unknown
    // Recognises the template from its Jinja source; throws dpowb::Error naming what it saw
    // when it is not one of the known ones. `bosToken` is the tokenizer's BOS text.
    static ChatTemplate detect(const std::string& jinjaSource, const std::string& bosToken = {});

    const std::string& name() const { return name_; }
    // The prompt text. With addGenerationPrompt, ends where the assistant's reply begins.
    std::string apply(const std::vector<Message>& messages, bool addGenerationPrompt) const;
    // True when the rendered text already starts with BOS, so encoding must not add another.
    bool writesBos() const { return writesBos_; }
    // What ends an assistant turn (e.g. "<|im_end|>"), appended after a response in training.
    const std::string& endOfTurn() const { return endOfTurn_; }

private:
    std::string name_ = "plain";
    std::string bos_;
    bool writesBos_ = false;
    std::string endOfTurn_;
    // ChatML templates that insert a system prompt when the conversation has none (Qwen2.5,
    // SmolLM2) carry it here, read from the Jinja source.
    std::string defaultSystem_;
    // Some published templates (a Llama 3 one among them) write the generation prompt whether
    // or not it is asked for.
    bool alwaysGenerationPrompt_ = false;
};

}  // namespace dpowb::text
