// All-reduce bandwidth of the process group the trainer uses (train/distributed.h): Gloo on
// CPUs, NCCL on CUDA devices (rank i on cuda:LOCAL_RANK), float32 tensors.
//
//   build/bench/bench_allreduce --nproc 2 [--device cpu|cuda] [--sizes-mb 1,16,64] [--iters 10]
//   torchrun --nproc-per-node 2 --no-python build/bench/bench_allreduce --device cuda
//
// --nproc N starts N local ranks itself (fork + exec, torchrun's variables); under torchrun
// each process is one rank. Rank 0 prints one JSON line: per size, the median seconds of one
// all-reduce, the algorithm bandwidth (bytes / s) and the bus bandwidth (algbw x 2(n-1)/n,
// nccl-tests' definition: what each link carries), and the same for the trainer's
// averageGradients (buckets of 25 MB, scaling and copying back included).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/cuda_runtime.h"
#include "model/model.h"
#include "train/distributed.h"

using namespace dpowb;

namespace {

void sync(const torch::Device& d) {
    if (d.is_cuda()) torch::cuda::synchronize(d.index());
}

int spawn(int nproc, int argc, char** argv) {
    std::vector<std::string> args;
    for (int i = 0; i < argc; ++i) {
        if (std::strcmp(argv[i], "--nproc") == 0) {
            ++i;
            continue;
        }
        args.push_back(argv[i]);
    }
    const std::string port = std::to_string(20000 + (getpid() % 20000));
    std::vector<pid_t> pids;
    for (int r = 0; r < nproc; ++r) {
        pid_t pid = fork();
        if (pid == 0) {
            setenv("RANK", std::to_string(r).c_str(), 1);
            setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
            setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
            setenv("MASTER_ADDR", "127.0.0.1", 1);
            setenv("MASTER_PORT", port.c_str(), 1);
            std::vector<char*> a;
            for (auto& s : args) a.push_back(s.data());
            a.push_back(nullptr);
            execv("/proc/self/exe", a.data());
            _exit(127);
        }
        pids.push_back(pid);
    }
    int rc = 0;
    for (pid_t p : pids) {
        int st = 0;
        waitpid(p, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) rc = 1;
    }
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    std::string device = "cpu", sizesArg = "1,4,16,64";
    int iters = 10, nproc = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--device") device = next();
        else if (a == "--sizes-mb") sizesArg = next();
        else if (a == "--iters") iters = std::stoi(next());
        else if (a == "--nproc") nproc = std::stoi(next());
        else {
            std::cerr << "bench_allreduce: unknown option " << a << "\n";
            return 2;
        }
    }
    if (nproc > 1 && !std::getenv("WORLD_SIZE")) return spawn(nproc, argc, argv);
    try {
        const auto env = train::rankEnvFromEnvironment();
        if (!env.distributed()) {
            std::cerr << "bench_allreduce: give --nproc N or run under torchrun\n";
            return 2;
        }
        torch::Device dev = torch::kCPU;
        if (device == "cuda") dev = model::resolveDevice("cuda:" + std::to_string(env.localRank));
        auto dist = train::Collective::connect(env, train::collectiveTimeout());
        dist->startGroup(dev);
        nlohmann::json out;
        out["backend"] = dist->backendName();
        out["ranks"] = env.worldSize;
        out["device"] = device;
        out["threads"] = torch::get_num_threads();
        std::stringstream ss(sizesArg);
        std::string item;
        while (std::getline(ss, item, ',')) {
            const double mb = std::stod(item);
            const int64_t n = int64_t(mb * 1024 * 1024 / 4);
            // One gradient-like set of parameters of the same total size: 8 tensors.
            std::vector<torch::Tensor> params;
            for (int k = 0; k < 8; ++k) {
                auto p = torch::zeros({n / 8}, torch::TensorOptions().device(dev).requires_grad(true));
                p.mutable_grad() = torch::ones({n / 8}, torch::TensorOptions().device(dev));
                params.push_back(p);
            }
            auto time = [&](auto&& op) {
                op();  // warm-up
                std::vector<double> s;
                for (int i = 0; i < iters; ++i) {
                    dist->barrier();
                    sync(dev);
                    const auto t0 = std::chrono::steady_clock::now();
                    op();
                    sync(dev);
                    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
                }
                std::sort(s.begin(), s.end());
                return s[s.size() / 2];
            };
            const double bytes = double(n) * 4;
            const double factor = 2.0 * (env.worldSize - 1) / env.worldSize;
            const double tAll = time([&] { dist->sum(std::vector<double>(1, 0.0)); });  // latency floor
            const double tGrad = time([&] { dist->averageGradients(params, 1.0); });
            nlohmann::json row;
            row["mb"] = mb;
            row["average_gradients_seconds"] = tGrad;
            row["algbw_gb_s"] = bytes / tGrad / 1e9;
            row["busbw_gb_s"] = bytes / tGrad / 1e9 * factor;
            row["scalar_allreduce_seconds"] = tAll;
            out["sizes"].push_back(row);
        }
        dist->barrier();
        if (env.rank == 0) std::cout << out.dump() << "\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "bench_allreduce: " << e.what() << "\n";
        return 1;
    }
}
