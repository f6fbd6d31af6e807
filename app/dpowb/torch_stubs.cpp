// `dpowb`'s entries for the tensor commands: their help is printed here; main() execs
// dpowb-torch to run them (see main.cpp).
#include "cli.h"
#include "torch_commands.h"

namespace dpowb::cli {
namespace {

const bool registered = [] {
    for (const auto& c : kTorchCommands) {
        Command command;
        command.name = c.name;
        command.summary = c.summary;
        command.usage = torchCommandUsage(c.name);
        command.delegate = true;
        registerCommand(std::move(command));
    }
    return true;
}();

}  // namespace
}  // namespace dpowb::cli
