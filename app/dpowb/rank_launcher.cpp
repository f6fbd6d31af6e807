// The local launcher of `dpowb train --nproc N` (see rank_launcher.h).
#include "rank_launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "cli.h"
#include "common/error.h"

namespace dpowb::cli {
namespace {

// This process's own command line, as the kernel has it.
std::vector<std::string> ownArguments() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t i = 0; i < all.size(); ++i)
        if (all[i] == '\0') out.push_back(all.substr(start, i - start)), start = i + 1;
    if (out.empty()) throw Error("cannot read this process's command line (/proc/self/cmdline)");
    return out;
}

std::vector<std::string> withoutNproc(const std::vector<std::string>& args) {
    std::vector<std::string> out;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--nproc") {
            ++i;
            continue;
        }
        if (args[i].rfind("--nproc=", 0) == 0) continue;
        out.push_back(args[i]);
    }
    return out;
}

// A port free on the loopback now (the kernel's choice); rank 0 binds it a moment later.
int freePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw Error(std::string("cannot open a socket for the ranks' rendezvous (") + std::strerror(errno) + ")");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        throw Error(std::string("cannot find a free port on 127.0.0.1 for the ranks (") + std::strerror(errno) + ")");
    }
    const int port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

std::string describe(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
                                    strsignal(WTERMSIG(status)) + ")";
    return "ended";
}

void onPauseSignal(int sig) {
    pauseWanted().store(sig == SIGUSR1);
    pauseSignals().fetch_add(1);
}

}  // namespace

std::atomic<bool>& pauseWanted() {
    static std::atomic<bool> flag{false};
    return flag;
}

std::atomic<unsigned>& pauseSignals() {
    static std::atomic<unsigned> count{0};
    return count;
}

void installPauseSignals() {
    struct sigaction sa {};
    sa.sa_handler = onPauseSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ::sigaction(SIGUSR1, &sa, nullptr);
    ::sigaction(SIGUSR2, &sa, nullptr);
}

int launchLocalRanks(int nproc, int graceSeconds) {
    const std::vector<std::string> args = withoutNproc(ownArguments());
    const int port = freePort();
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    const std::string threads = std::to_string(std::max(1u, cores / unsigned(nproc)));
    const pid_t parent = ::getpid();
    std::vector<pid_t> pids;
    for (int rank = 0; rank < nproc; ++rank) {
        const pid_t pid = ::fork();
        if (pid < 0) {
            for (pid_t p : pids) ::kill(p, SIGTERM);
            throw Error(std::string("cannot start rank ") + std::to_string(rank) + " (" + std::strerror(errno) + ")");
        }
        if (pid == 0) {
            // The ranks get Ctrl-C from this launcher only (once), not from the terminal as
            // well, and end with it if it dies.
            ::setpgid(0, 0);
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (::getppid() != parent) std::_Exit(1);
            ::setenv("RANK", std::to_string(rank).c_str(), 1);
            ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
            ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
            ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
            ::setenv("MASTER_ADDR", "127.0.0.1", 1);
            ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
            ::unsetenv("TORCHELASTIC_USE_AGENT_STORE");
            // Pause signals are ignored until the rank installs its handlers (an ignored
            // signal stays ignored across exec; the default would end the rank).
            ::signal(SIGUSR1, SIG_IGN);
            ::signal(SIGUSR2, SIG_IGN);
            // Like torchrun: the cores shared out among the ranks unless the user said otherwise.
            ::setenv("OMP_NUM_THREADS", threads.c_str(), 0);
            std::vector<char*> argv;
            for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            ::execv("/proc/self/exe", argv.data());
            std::cerr << "dpowb train: cannot start rank " << rank << " (" << std::strerror(errno) << ")\n";
            std::_Exit(1);
        }
        pids.push_back(pid);
    }

    using Clock = std::chrono::steady_clock;
    std::vector<int> status(size_t(nproc), -1);
    std::vector<bool> running(size_t(nproc), true);
    int alive = nproc;
    bool forwarded = false, failed = false, cancelled = false, terminated = false;
    Clock::time_point failedAt{};
    unsigned pauseSeen = pauseSignals().load();
    while (alive > 0) {
        if (interrupted().load() && !forwarded) {
            for (int r = 0; r < nproc; ++r)
                if (running[size_t(r)]) ::kill(pids[size_t(r)], SIGINT);
            forwarded = true;
        }
        // Pause and resume go to rank 0, which passes the request on to the others through
        // the store (a signal to every rank would also interrupt their system calls).
        if (const unsigned n = pauseSignals().load(); n != pauseSeen) {
            pauseSeen = n;
            if (running[0]) ::kill(pids[0], pauseWanted().load() ? SIGUSR1 : SIGUSR2);
        }
        int st = 0;
        const pid_t pid = ::waitpid(-1, &st, WNOHANG);
        if (pid > 0) {
            for (int r = 0; r < nproc; ++r) {
                if (pids[size_t(r)] != pid) continue;
                running[size_t(r)] = false;
                status[size_t(r)] = st;
                --alive;
                const bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
                const bool stopped = WIFEXITED(st) && WEXITSTATUS(st) == kCancelled;
                if (stopped) cancelled = true;
                if (!ok && !stopped) {
                    std::cerr << "dpowb train: rank " << r << " " << describe(st) << "\n";
                    if (!failed) failedAt = Clock::now();
                    failed = true;
                }
            }
            continue;
        }
        if (pid < 0 && errno != EINTR) break;
        // After a failure the others should see their collectives fail within seconds; a rank
        // busy elsewhere (loading, saving) gets the grace time, then it is ended.
        if (failed && !terminated && Clock::now() - failedAt > std::chrono::seconds(graceSeconds)) {
            for (int r = 0; r < nproc; ++r)
                if (running[size_t(r)]) {
                    std::cerr << "dpowb train: ending rank " << r << " (" << graceSeconds << " s after a rank failed)\n";
                    ::kill(pids[size_t(r)], SIGTERM);
                }
            terminated = true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // Rank 0 records the run: its outcome is the job's (a cancel on another rank ends the
    // others' collectives, and rank 0 records that as a cancel).
    const int st0 = status[0];
    if (st0 >= 0 && WIFEXITED(st0)) {
        const int code = WEXITSTATUS(st0);
        if (code == kOk && failed) return kFailure;
        return code;
    }
    (void)cancelled;
    return kFailure;
}

}  // namespace dpowb::cli
