// The dpowb command framework: a registry of sub-commands and a small option parser.
// Each cmd_*.cpp file registers its commands with a static DPOWB_COMMAND(...) object.
//
// Conventions (docs/CLI.md): stdout carries only results; progress, warnings and errors go to
// stderr. Exit codes: 0 ok, 1 bad input or failure, 2 usage error, 130 cancelled.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dpowb::cli {

enum Exit { kOk = 0, kFailure = 1, kUsage = 2, kCancelled = 130 };

// Thrown on a usage error; main() prints it as one line with a pointer to the command's help
// and exits 2.
struct UsageError {
    std::string message;
};

// Parsed command line of one sub-command: `--name value`, `--name=value`, `--flag`, positionals.
class Args {
public:
    // `flags` lists the options that take no value (e.g. {"json", "demo"}); every other
    // `--name` takes one value.
    Args(std::vector<std::string> argv, std::vector<std::string> flags);

    bool has(const std::string& name) const;  // option or flag given
    std::optional<std::string> get(const std::string& name) const;
    std::string get(const std::string& name, const std::string& fallback) const;
    std::string require(const std::string& name) const;  // UsageError when absent
    long long getInt(const std::string& name, long long fallback) const;
    double getDouble(const std::string& name, double fallback) const;
    const std::vector<std::string>& positional() const { return positional_; }
    const std::string& positional(size_t i, const char* what) const;  // UsageError when absent
    // Options given but never read by the command: a typo the user should hear about.
    std::vector<std::string> unused() const;

private:
    std::map<std::string, std::string> options_;
    std::vector<std::string> positional_;
    mutable std::map<std::string, bool> read_;
};

struct Command {
    std::string name;
    std::string summary;  // one line, for `dpowb --help`
    std::string usage;    // full help text for `dpowb NAME --help`
    std::vector<std::string> flags;
    // The positional arguments, in order (e.g. {"DB", "FILE..."}); a last name ending in "..."
    // takes one or more. The dispatcher rejects a missing or an extra argument (exit 2) before
    // the command runs, so no command can silently ignore an argument.
    std::vector<std::string> positionals;
    std::function<int(Args&)> run;
    // Commands that need tensors live in a second executable (dpowb-torch) so that this one
    // never loads LibTorch; in `dpowb` they are registered with delegate = true and run by
    // handing the whole command line to that executable (exec, same process id).
    bool delegate = false;
};

// Checks the positional arguments against `command.positionals`; throws UsageError.
void checkPositionals(const Command& command, const Args& args);

void registerCommand(Command command);
const std::map<std::string, Command>& commands();

// Set by the SIGINT handler; long commands pass it as their cancel flag.
std::atomic<bool>& interrupted();

// True when stderr is a terminal (progress bars) and colour is allowed.
bool stderrIsTerminal();

// Warnings held until a command's input has proved usable, then printed, each as one line
// (oneLine). A command that fails before release() prints its one error line and nothing else:
// scripts read a failed command's stderr as that one line. After release(), add() prints at once.
class HeldWarnings {
public:
    void add(std::string line);
    void add(const std::string& prefix, const std::vector<std::string>& lines);  // prefix + each
    void release();

private:
    std::vector<std::string> held_;
    bool released_ = false;
};

struct Registrar {
    explicit Registrar(Command command) { registerCommand(std::move(command)); }
};

}  // namespace dpowb::cli

#define DPOWB_CLI_CONCAT2(a, b) a##b
#define DPOWB_CLI_CONCAT(a, b) DPOWB_CLI_CONCAT2(a, b)
#define DPOWB_COMMAND(...) \
    static ::dpowb::cli::Registrar DPOWB_CLI_CONCAT(dpowb_command_, __LINE__)(__VA_ARGS__)
