// `dpowb`'s entries for the tensor commands: main() execs dpowb-torch for them (see main.cpp).
#include "cli.h"
#include "torch_commands.h"

namespace dpowb::cli {
namespace {

const bool registered = [] {
    for (const auto& c : kTorchCommands) {
        Command command;
        command.name = c.name;
        command.summary = c.summary;
        command.delegate = true;
        registerCommand(std::move(command));
    }
    return true;
}();

}  // namespace
}  // namespace dpowb::cli
