// c10d for data parallelism: the store, the Gloo/NCCL process group, bucketed gradient
// all-reduce. See distributed.h.
//
// Gloo: ProcessGroupGloo is compiled into libtorch_cpu, but the wheel ships no gloo headers,
// which ProcessGroupGloo.hpp includes. Debian's libgloo-dev provides them
// (scripts/install-deps.sh). This file depends on no gloo class layout: the process group's
// options come from libtorch (Options::create_default, which also picks the network
// interface: GLOO_SOCKET_IFNAME or the host name's address), the object is constructed by
// libtorch's constructor and used through c10d::Backend's virtual functions only. What this file
// takes from the header is the size of ProcessGroupGloo for `new`; its members are pointers
// and standard containers (no gloo type by value), and the size matches the allocation in
// libtorch's own ProcessGroupGloo::split (488 bytes with torch 2.11, read from its code).
#include "train/distributed.h"

#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "common/error.h"

namespace dpowb::train {

namespace {

std::optional<long> envInt(const char* name, long lo, long hi) {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    const long x = std::strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || x < lo || x > hi)
        throw Error(std::string(name) + "=" + v + ": expected a whole number from " + std::to_string(lo) + " to " +
                    std::to_string(hi));
    return x;
}

// The first line of an exception's text (c10 errors append a C++ backtrace).
std::string firstLine(const std::string& s) {
    const auto nl = s.find('\n');
    return nl == std::string::npos ? s : s.substr(0, nl);
}

// The NCCL process group lives in libtorch_cuda; the plugin (core/dist_nccl) links it and is
// loaded only when a rank trains on CUDA, so CPU-only runs never need CUDA.
using MakeNcclBackend = c10::intrusive_ptr<c10d::Backend> (*)(const c10::intrusive_ptr<c10d::Store>&, int, int, int,
                                                              int64_t);

std::string ncclPluginPath() {
    if (const char* p = std::getenv("DPOWB_NCCL_PLUGIN"); p && *p) return p;
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return "libdpowb_nccl.so";
    return (exe.parent_path() / "libdpowb_nccl.so").string();
}

c10::intrusive_ptr<c10d::Backend> makeNccl(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                           int device, std::chrono::milliseconds timeout) {
    const std::string path = ncclPluginPath();
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!h)
        throw Error("NCCL process group: cannot load " + path + " (" + dlerror() +
                    "); this build has no NCCL support (it needs the CUDA and NCCL headers when configured), or "
                    "train on the CPU with --device cpu (Gloo)");
    auto make = reinterpret_cast<MakeNcclBackend>(dlsym(h, "dpowb_make_nccl_backend"));
    if (!make) throw Error(path + ": not the dpowb NCCL plugin (no dpowb_make_nccl_backend)");
    return make(store, rank, size, device, int64_t(timeout.count()));
}

}  // namespace

std::pair<size_t, size_t> shardRange(size_t n, int rank, int ranks) {
    const size_t per = (n + size_t(ranks) - 1) / size_t(ranks);
    const size_t b = std::min(n, per * size_t(rank));
    return {b, std::min(n, b + per)};
}

double shardNllTokens(double microBatchChosenTokens, size_t microBatchPairs, size_t shardPairs) {
    if (shardPairs == 0 || microBatchPairs == 0) return 0.0;
    return std::max(1.0, microBatchChosenTokens) * double(shardPairs) / double(microBatchPairs);
}

RankEnv rankEnvFromEnvironment() {
    RankEnv env;
    const auto world = envInt("WORLD_SIZE", 1, 1 << 20);
    if (!world || *world == 1) return env;
    env.worldSize = int(*world);
    const auto rank = envInt("RANK", 0, env.worldSize - 1);
    if (!rank)
        throw Error("WORLD_SIZE is " + std::to_string(env.worldSize) +
                    " but RANK is not set: start the ranks with torchrun or `dpowb train --nproc N`");
    env.rank = int(*rank);
    env.localRank = int(envInt("LOCAL_RANK", 0, env.worldSize - 1).value_or(env.rank));
    if (const char* a = std::getenv("MASTER_ADDR"); a && *a) env.masterAddr = a;
    const auto port = envInt("MASTER_PORT", 1, 65535);
    if (!port)
        throw Error("WORLD_SIZE is " + std::to_string(env.worldSize) +
                    " but MASTER_PORT is not set: start the ranks with torchrun or `dpowb train --nproc N`");
    env.masterPort = int(*port);
    const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    env.agentStore = agent && std::string(agent) == "True";
    return env;
}

std::chrono::milliseconds collectiveTimeout() {
    const auto s = envInt("DPOWB_DIST_TIMEOUT", 1, 7 * 24 * 3600);
    return std::chrono::milliseconds(int64_t(s.value_or(600)) * 1000);
}

struct Collective::Impl {
    RankEnv env;
    std::chrono::milliseconds timeout{};
    c10::intrusive_ptr<c10d::Store> store;    // the TCPStore
    c10::intrusive_ptr<c10d::Store> control;  // our messages ("dpowb/ctl/")
    c10::intrusive_ptr<c10d::Backend> backend;
    torch::Device device = torch::kCPU;
    bool pauseWritten = false;  // this rank's last pause request written to the store

    c10d::Backend& group() {
        if (!backend) throw Error("internal: a collective before the process group was started");
        return *backend;
    }
    // Waits for a collective, with the rank's reason in the error.
    void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
        try {
            work->wait(timeout);
        } catch (const std::exception& e) {
            throw Error(std::string(what) + " across " + std::to_string(env.worldSize) + " ranks failed (" +
                        firstLine(e.what()) + "): another rank ended or cannot be reached; its own output says why");
        }
    }
};

Collective::Collective() : d_(std::make_unique<Impl>()) {}
Collective::~Collective() = default;

std::unique_ptr<Collective> Collective::connect(const RankEnv& env, std::chrono::milliseconds timeout) {
    std::unique_ptr<Collective> c(new Collective());
    c->d_->env = env;
    c->d_->timeout = timeout;
    c10d::TCPStoreOptions o;
    o.port = uint16_t(env.masterPort);
    o.isServer = !env.agentStore && env.rank == 0;
    if (!env.agentStore) o.numWorkers = size_t(env.worldSize);
    o.waitWorkers = false;
    o.timeout = timeout;
    try {
        c->d_->store = c10::make_intrusive<c10d::TCPStore>(env.masterAddr, o);
    } catch (const std::exception& e) {
        throw Error("rank " + std::to_string(env.rank) + ": cannot reach the rendezvous store at " + env.masterAddr +
                    ":" + std::to_string(env.masterPort) + " (" + firstLine(e.what()) +
                    "); check MASTER_ADDR/MASTER_PORT and that rank 0 is running");
    }
    c->d_->control = c10::make_intrusive<c10d::PrefixStore>("dpowb/ctl", c->d_->store);
    return c;
}

void Collective::startGroup(const torch::Device& device) {
    auto& d = *d_;
    d.device = device;
    auto store = c10::make_intrusive<c10d::PrefixStore>("dpowb/pg", d.store);
    try {
        if (device.is_cuda()) {
            d.backend = makeNccl(store, d.env.rank, d.env.worldSize, device.index() < 0 ? 0 : device.index(), d.timeout);
        } else {
            auto options = c10d::ProcessGroupGloo::Options::create_default(d.timeout);
            auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store, d.env.rank, d.env.worldSize, options);
            d.backend = c10::static_intrusive_pointer_cast<c10d::Backend>(gloo);
        }
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw Error("rank " + std::to_string(d.env.rank) + ": cannot start the " +
                    (device.is_cuda() ? "NCCL" : "Gloo") + " process group (" + firstLine(e.what()) + ")");
    }
}

int Collective::rank() const { return d_->env.rank; }
int Collective::size() const { return d_->env.worldSize; }
std::string Collective::backendName() const { return d_->backend ? d_->backend->getBackendName() : "none"; }

void Collective::averageGradients(const std::vector<torch::Tensor>& params, double localScale, int64_t bucketBytes) {
    auto& d = *d_;
    auto& group = d.group();
    // Buckets of consecutive parameters of one dtype and device, in the same order on every
    // rank (every rank has the same parameters).
    struct Bucket {
        std::vector<torch::Tensor> grads;
        torch::Tensor flat;
        c10::intrusive_ptr<c10d::Work> work;
    };
    std::vector<Bucket> buckets;
    int64_t bytes = 0;
    for (const auto& p : params) {
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        const torch::Tensor& g = p.grad();
        const int64_t b = g.numel() * int64_t(g.element_size());
        if (buckets.empty() || bytes + b > bucketBytes || buckets.back().grads.front().dtype() != g.dtype() ||
            buckets.back().grads.front().device() != g.device()) {
            buckets.emplace_back();
            bytes = 0;
        }
        buckets.back().grads.push_back(g);
        bytes += b;
    }
    for (auto& bucket : buckets) {
        std::vector<torch::Tensor> views;
        for (const auto& g : bucket.grads) views.push_back(g.reshape({-1}));
        bucket.flat = torch::cat(views);
        if (localScale != 1.0) bucket.flat.mul_(localScale);
        std::vector<torch::Tensor> io{bucket.flat};
        c10d::AllreduceOptions opts;
        opts.reduceOp = c10d::ReduceOp::SUM;
        opts.timeout = d.timeout;
        bucket.work = group.allreduce(io, opts);
    }
    const double inv = 1.0 / double(d.env.worldSize);
    for (auto& bucket : buckets) {
        d.wait(bucket.work, "gradient all-reduce");
        bucket.flat.mul_(inv);
        int64_t offset = 0;
        for (auto& g : bucket.grads) {
            g.copy_(bucket.flat.narrow(0, offset, g.numel()).view(g.sizes()));
            offset += g.numel();
        }
    }
}

std::vector<double> Collective::sum(const std::vector<double>& values) {
    auto& d = *d_;
    if (values.empty()) return values;
    torch::Tensor t = torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat64)).to(d.device);
    std::vector<torch::Tensor> io{t};
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    opts.timeout = d.timeout;
    d.wait(d.group().allreduce(io, opts), "sum");
    torch::Tensor cpu = io[0].to(torch::kCPU).contiguous();
    return std::vector<double>(cpu.data_ptr<double>(), cpu.data_ptr<double>() + cpu.numel());
}

void Collective::broadcast(const std::vector<torch::Tensor>& tensors, int root) {
    auto& d = *d_;
    for (const auto& t : tensors) {
        torch::NoGradGuard noGrad;
        std::vector<torch::Tensor> io{t.is_contiguous() ? t : t.contiguous()};
        c10d::BroadcastOptions opts;
        opts.rootRank = root;
        opts.timeout = d.timeout;
        d.wait(d.group().broadcast(io, opts), "broadcast");
        if (!io[0].is_same(t)) t.copy_(io[0]);
    }
}

void Collective::barrier() {
    auto& d = *d_;
    c10d::BarrierOptions opts;
    opts.timeout = d.timeout;
    if (d.device.is_cuda()) opts.device_ids = {int64_t(d.device.index() < 0 ? 0 : d.device.index())};
    d.wait(d.group().barrier(opts), "barrier");
}

void Collective::publish(const std::string& key, const std::string& value) { d_->control->set(key, value); }

std::string Collective::await(const std::string& key) {
    auto& d = *d_;
    try {
        // A rank that stopped says why under "stop"; wait for either.
        const auto deadline = std::chrono::steady_clock::now() + d.timeout;
        while (true) {
            if (d.control->check({key})) {
                auto v = d.control->get(key);
                return std::string(v.begin(), v.end());
            }
            if (d.control->check({"stop"})) {
                auto v = d.control->get("stop");
                throw Error("stopped before the run started (" + std::string(v.begin(), v.end()) + ")");
            }
            if (std::chrono::steady_clock::now() > deadline)
                throw Error("rank " + std::to_string(d.env.rank) + ": rank 0 did not publish \"" + key + "\" within " +
                            std::to_string(d.timeout.count() / 1000) + " s (DPOWB_DIST_TIMEOUT)");
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw Error("rank " + std::to_string(d.env.rank) + ": waiting for rank 0 failed (" + firstLine(e.what()) + ")");
    }
}

void Collective::reportStop(const std::string& reason) {
    try {
        // compareSet: the first reason stays.
        const std::string r = "rank " + std::to_string(d_->env.rank) + ": " + reason;
        d_->control->compareSet("stop", {}, std::vector<uint8_t>(r.begin(), r.end()));
    } catch (const std::exception&) {
    }
}

std::string Collective::stopReport() {
    try {
        if (!d_->control->check({"stop"})) return {};
        auto v = d_->control->get("stop");
        return std::string(v.begin(), v.end());
    } catch (const std::exception&) {
        return {};
    }
}

void Collective::setPauseRequest(bool paused) {
    auto& d = *d_;
    if (paused == d.pauseWritten) return;
    const std::string v = paused ? "1" : "0";
    try {
        d.control->set("pause", std::vector<uint8_t>(v.begin(), v.end()));
    } catch (const std::exception& e) {
        throw Error("rank " + std::to_string(d.env.rank) + ": cannot pass the pause request to the other ranks (" +
                    firstLine(e.what()) + ")");
    }
    d.pauseWritten = paused;
}

bool Collective::pauseRequested() {
    auto& d = *d_;
    try {
        if (!d.control->check({"pause"})) return false;
        const auto v = d.control->get("pause");
        return !v.empty() && v[0] == '1';
    } catch (const std::exception& e) {
        throw Error("rank " + std::to_string(d.env.rank) + ": cannot read the job's pause request (" +
                    firstLine(e.what()) + ")");
    }
}

Collective::HoldEnd Collective::hold(int64_t generation, const std::function<bool()>& localPause,
                                     const std::function<bool()>& localCancel, const std::function<void()>& idle) {
    using Clock = std::chrono::steady_clock;
    auto& d = *d_;
    const std::string key = "hold/" + std::to_string(generation);
    const std::string me = std::to_string(d.env.rank);
    // The last beat seen of each watched rank (rank 0 watches all, the others rank 0), and when
    // it changed.
    std::vector<int64_t> beats(size_t(d.env.worldSize), -1);
    std::vector<Clock::time_point> changed(size_t(d.env.worldSize), Clock::now());
    Clock::time_point lastBeat{};
    bool cancelSent = false;
    try {
        while (true) {
            const auto now = Clock::now();
            if (now - lastBeat >= std::chrono::milliseconds(500)) {
                d.control->add("beat/" + me, 1);
                lastBeat = now;
                if (idle) idle();
                for (int r = 0; r < d.env.worldSize; ++r) {
                    if (r == d.env.rank || (d.env.rank != 0 && r != 0)) continue;
                    const int64_t b = d.control->add("beat/" + std::to_string(r), 0);
                    if (b != beats[size_t(r)]) {
                        beats[size_t(r)] = b;
                        changed[size_t(r)] = now;
                    } else if (now - changed[size_t(r)] > d.timeout) {
                        throw Error("rank " + std::to_string(r) + " stopped answering while the job was paused (nothing for " +
                                    std::to_string(d.timeout.count() / 1000) +
                                    " s, DPOWB_DIST_TIMEOUT); its own output says why");
                    }
                }
            }
            setPauseRequest(localPause());
            const bool cancel = localCancel();
            if (cancel && !cancelSent && d.env.rank != 0) {
                d.control->set(key + "/cancel", std::vector<uint8_t>{'1'});
                cancelSent = true;
            }
            if (d.env.rank == 0) {
                std::string end;
                if (cancel || d.control->check({key + "/cancel"})) end = "cancel";
                else if (!pauseRequested()) end = "resume";
                if (!end.empty()) {
                    d.control->set(key, std::vector<uint8_t>(end.begin(), end.end()));
                    return end == "cancel" ? HoldEnd::Cancel : HoldEnd::Resume;
                }
            } else if (d.control->check({key})) {
                const auto v = d.control->get(key);
                return std::string(v.begin(), v.end()) == "cancel" ? HoldEnd::Cancel : HoldEnd::Resume;
            }
            if (d.control->check({"stop"})) {
                const auto v = d.control->get("stop");
                throw Error("stopped while the job was paused (" + std::string(v.begin(), v.end()) + ")");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw Error("rank " + me + ": lost the other ranks while the job was paused (" + firstLine(e.what()) + ")");
    }
}

}  // namespace dpowb::train
