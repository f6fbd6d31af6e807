// Chat templates: recognition from arbitrary Jinja source (first byte even), and rendering of
// arbitrary conversations with every known template (first byte odd: the next byte picks the
// template, the rest is NUL-separated role/content fields).
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "text/chat_template.h"

using dpowb::text::ChatTemplate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const std::string rest(reinterpret_cast<const char*>(data + 2), size - 2);
    const bool generationPrompt = data[0] & 2;
    try {
        if ((data[0] & 1) == 0) {
            const std::string bos = (data[1] & 1) ? "<s>" : (data[1] & 2) ? "<|begin_of_text|>" : "";
            ChatTemplate t = ChatTemplate::detect(rest, bos);
            (void)t.apply({{"system", "S"}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}}, generationPrompt);
            return 0;
        }
        const auto& names = ChatTemplate::names();
        ChatTemplate t = ChatTemplate::named(names[data[1] % names.size()]);
        static const char* roles[] = {"system", "user", "assistant", "tool", "developer", ""};
        std::vector<dpowb::Message> messages;
        size_t start = 0;
        while (start < rest.size()) {
            size_t end = rest.find('\0', start);
            if (end == std::string::npos) end = rest.size();
            const std::string field = rest.substr(start, end - start);
            // A one-byte field picks a known role (or names one of its own); the next is the content.
            if (messages.empty() || !messages.back().content.empty() || messages.back().role.empty()) {
                messages.push_back({field.size() == 1 ? roles[uint8_t(field[0]) % 6] : field, ""});
            } else {
                messages.back().content = field.empty() ? std::string(" ") : field;
            }
            start = end + 1;
        }
        (void)t.apply(messages, generationPrompt);
    } catch (const dpowb::Error& e) {
        dpowb::fuzz::checkErrorLine(e);
    }
    return 0;
}
