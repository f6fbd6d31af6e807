// dpowb: the headless command-line front-end of DPO Workbench. Sub-commands live in cmd_*.cpp.
//
// This file is the main() of two executables (app/dpowb/CMakeLists.txt): `dpowb`, which holds
// the commands that need no tensors and never links LibTorch, and `dpowb-torch` (built with
// DPOWB_CLI_TORCH), which holds the tensor commands. `dpowb` hands those to `dpowb-torch` with
// execv, so the user sees one program and the process (pid, signals, exit code) stays the same.
#include <limits.h>
#include <unistd.h>

#include <csignal>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "cli.h"
#include "common/error.h"
#include "common/error_text.h"

namespace dpowb::cli {

Args::Args(std::vector<std::string> argv, std::vector<std::string> flags) {
    bool onlyPositional = false;
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (onlyPositional || a.size() < 3 || a.compare(0, 2, "--") != 0) {
            if (a == "--") {
                onlyPositional = true;
                continue;
            }
            positional_.push_back(a);
            continue;
        }
        std::string name = a.substr(2);
        std::string value;
        bool hasValue = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            hasValue = true;
        }
        bool isFlag = false;
        for (const auto& f : flags) isFlag |= (f == name);
        if (isFlag) {
            if (hasValue) throw UsageError{"option --" + name + " takes no value"};
            options_[name] = "1";
        } else {
            if (!hasValue) {
                if (i + 1 >= argv.size()) throw UsageError{"option --" + name + " needs a value"};
                value = argv[++i];
            }
            options_[name] = value;
        }
    }
}

bool Args::has(const std::string& name) const {
    read_[name] = true;
    return options_.count(name) > 0;
}

std::optional<std::string> Args::get(const std::string& name) const {
    read_[name] = true;
    auto it = options_.find(name);
    if (it == options_.end()) return std::nullopt;
    return it->second;
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
    return get(name).value_or(fallback);
}

std::string Args::require(const std::string& name) const {
    auto v = get(name);
    if (!v) throw UsageError{"missing required option --" + name};
    return *v;
}

long long Args::getInt(const std::string& name, long long fallback) const {
    auto v = get(name);
    if (!v) return fallback;
    try {
        size_t used = 0;
        long long x = std::stoll(*v, &used);
        if (used != v->size()) throw std::invalid_argument("trailing");
        return x;
    } catch (const std::exception&) {
        throw UsageError{"option --" + name + ": expected an integer, got \"" + *v + "\""};
    }
}

double Args::getDouble(const std::string& name, double fallback) const {
    auto v = get(name);
    if (!v) return fallback;
    try {
        size_t used = 0;
        double x = std::stod(*v, &used);
        if (used != v->size()) throw std::invalid_argument("trailing");
        return x;
    } catch (const std::exception&) {
        throw UsageError{"option --" + name + ": expected a number, got \"" + *v + "\""};
    }
}

void checkPositionals(const Command& command, const Args& args) {
    const auto& want = command.positionals;
    const auto& got = args.positional();
    const bool variadic = !want.empty() && want.back().size() > 3 &&
                          want.back().compare(want.back().size() - 3, 3, "...") == 0;
    if (got.size() < want.size()) {
        std::string name = want[got.size()];
        if (variadic && got.size() + 1 == want.size()) name.resize(name.size() - 3);
        throw UsageError{"missing argument " + name};
    }
    if (!variadic && got.size() > want.size()) {
        std::string takes;
        for (const auto& w : want) takes += " " + w;
        throw UsageError{"unexpected argument \"" + got[want.size()] + "\" (dpowb " + command.name +
                         (want.empty() ? " takes options only" : " takes" + takes) + ")"};
    }
}

const std::string& Args::positional(size_t i, const char* what) const {
    if (i >= positional_.size()) throw UsageError{std::string("missing argument ") + what};
    return positional_[i];
}

std::vector<std::string> Args::unused() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : options_)
        if (!read_.count(k)) out.push_back("--" + k);
    return out;
}

static std::map<std::string, Command>& registry() {
    static std::map<std::string, Command> r;
    return r;
}

void registerCommand(Command command) {
    std::string name = command.name;
    registry()[name] = std::move(command);
}

const std::map<std::string, Command>& commands() { return registry(); }

std::atomic<bool>& interrupted() {
    static std::atomic<bool> flag{false};
    return flag;
}

bool stderrIsTerminal() { return isatty(STDERR_FILENO) && !std::getenv("DPOWB_NO_COLOR"); }

void HeldWarnings::add(std::string line) {
    if (released_) std::cerr << oneLine(line) << "\n";
    else held_.push_back(std::move(line));
}

void HeldWarnings::add(const std::string& prefix, const std::vector<std::string>& lines) {
    for (const auto& line : lines) add(prefix + line);
}

void HeldWarnings::release() {
    if (released_) return;
    released_ = true;
    for (const auto& line : held_) std::cerr << oneLine(line) << "\n";
    held_.clear();
}

}  // namespace dpowb::cli

namespace {

void onSigint(int) {
    auto& flag = dpowb::cli::interrupted();
    if (flag.load()) std::_Exit(130);  // second Ctrl-C: leave now
    flag.store(true);
}

#ifndef DPOWB_CLI_TORCH
// The tensor commands' executable: $DPOWB_TORCH_CLI, else the installed location relative to
// this program (DPOWB_TORCH_CLI_RELATIVE, from CMake), else next to it (the build folder).
std::string torchExecutable() {
    if (const char* env = std::getenv("DPOWB_TORCH_CLI"); env && *env) return env;
    char self[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    std::string dir = ".";
    if (n > 0) {
        std::string p(self, size_t(n));
        dir = p.substr(0, p.rfind('/'));
    }
    for (const std::string& candidate : {dir + "/" DPOWB_TORCH_CLI_RELATIVE, dir + "/dpowb-torch"})
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    return dir + "/" DPOWB_TORCH_CLI_RELATIVE;
}

[[noreturn]] void execTorchCommand(int argc, char** argv) {
    const std::string exe = torchExecutable();
    std::vector<char*> args(argv, argv + argc);
    args.push_back(nullptr);
    ::execv(exe.c_str(), args.data());
    std::cerr << "dpowb " << argv[1] << ": cannot start " << exe << " (" << std::strerror(errno)
              << "); the tensor commands are in that program: reinstall DPO Workbench or rebuild it\n";
    std::exit(dpowb::cli::kFailure);
}
#endif

void printOverview() {
    std::cout << "dpowb - DPO Workbench on the command line\n\n"
                 "usage: dpowb COMMAND [ARGS...]   (dpowb COMMAND --help for details)\n\n"
                 "commands:\n";
    for (const auto& [name, cmd] : dpowb::cli::commands()) {
        std::string pad(name.size() < 14 ? 14 - name.size() : 1, ' ');
        std::cout << "  " << name << pad << cmd.summary << "\n";
    }
    std::cout << "\nexit codes: 0 ok, 1 bad input or failure, 2 usage error, 130 cancelled\n";
}

}  // namespace

int main(int argc, char** argv) {
    using namespace dpowb::cli;
    std::signal(SIGINT, onSigint);
    if (argc < 2) {
        printOverview();
        return kUsage;
    }
    std::string name = argv[1];
    if (name == "--help" || name == "-h" || name == "help") {
        printOverview();
        return kOk;
    }
    auto it = commands().find(name);
    if (it == commands().end()) {
        std::cerr << "dpowb: unknown command \"" << name << "\"; run dpowb --help for the list\n";
        return kUsage;
    }
    const Command& cmd = it->second;
    std::vector<std::string> rest(argv + 2, argv + argc);
    for (const auto& a : rest) {
        if (a == "--") break;
        if (a == "--help" || a == "-h") {
            std::cout << cmd.usage;
            return kOk;
        }
    }
#ifndef DPOWB_CLI_TORCH
    if (cmd.delegate) execTorchCommand(argc, argv);
#endif
    try {
        Args args(rest, cmd.flags);
        checkPositionals(cmd, args);
        int rc = cmd.run(args);
        return rc;
    } catch (const UsageError& e) {
        // One line and where to look; the whole help text would bury the one line that matters.
        std::cerr << dpowb::oneLine("dpowb " + name + ": " + e.message) << "\n(dpowb " << name
                  << " --help lists the arguments and options)\n";
        return kUsage;
    } catch (const dpowb::Cancelled&) {
        std::cerr << "dpowb " << name << ": cancelled\n";
        return kCancelled;
    } catch (const dpowb::InputError& e) {
        // FILE:LINE: message, like a compiler. Every error is one printable line of valid UTF-8,
        // however long or binary the input it quotes (dpowb::oneLine).
        std::cerr << dpowb::oneLine(e.what()) << "\n";
        return kFailure;
    } catch (const std::exception& e) {
        std::cerr << dpowb::oneLine("dpowb " + name + ": " + e.what()) << "\n";
        return kFailure;
    }
}
