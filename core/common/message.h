// A chat message, shared by the store (chat prompts) and the text library (chat templates).
#pragma once

#include <string>

namespace dpowb {

struct Message {
    std::string role;  // "system", "user", "assistant", ...
    std::string content;
    bool operator==(const Message& o) const { return role == o.role && content == o.content; }
};

}  // namespace dpowb
