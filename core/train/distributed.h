// Data parallelism on PyTorch's own distributed library (c10d): one process per rank, a
// TCPStore for rendezvous and small messages, Gloo on CPUs and NCCL on CUDA devices.
//
// Ranks are configured the way torchrun configures them (RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT; TORCHELASTIC_USE_AGENT_STORE when torchrun's agent hosts the
// store). The c10d headers stay in distributed.cpp: this header exposes tensors only.
//
// Exposes LibTorch types: include only from .cpp files of core/train, tests and bench.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace dpowb::train {

struct RankEnv {
    int rank = 0;
    int worldSize = 1;
    int localRank = 0;
    std::string masterAddr = "127.0.0.1";
    int masterPort = 0;
    bool agentStore = false;  // torchrun's agent hosts the TCPStore; every rank is a client
    bool distributed() const { return worldSize > 1; }
};

// Reads torchrun's variables. WORLD_SIZE unset (or 1) = a single process. Throws dpowb::Error
// on a missing or malformed variable, saying how to start the ranks.
RankEnv rankEnvFromEnvironment();

// The timeout of every collective and store wait: $DPOWB_DIST_TIMEOUT seconds, default 600.
std::chrono::milliseconds collectiveTimeout();

// The contiguous part [first, second) of a global micro-batch of n pairs that `rank` of
// `ranks` trains on: ceil(n / ranks) pairs each, the last ranks fewer (or none).
std::pair<size_t, size_t> shardRange(size_t n, int rank, int ranks);
// LossInputs::nllTokens of a shard: the RPO term is token-weighted over the whole micro-batch,
// and the shard's loss is weighted by its share of the pairs, so its term is divided by the
// micro-batch's chosen tokens x (shard pairs / micro-batch pairs). 0 for an empty shard.
double shardNllTokens(double microBatchChosenTokens, size_t microBatchPairs, size_t shardPairs);

// One data-parallel group. Every collective must be called by every rank in the same order.
class Collective {
public:
    // Connects to the store (rank 0 hosts it unless torchrun's agent does). No device yet.
    static std::unique_ptr<Collective> connect(const RankEnv& env, std::chrono::milliseconds timeout);
    ~Collective();

    // Creates the process group for the device the ranks train on: Gloo for kCPU, NCCL for
    // kCUDA (loaded from the dpowb_nccl plugin beside the program, which links libtorch_cuda).
    void startGroup(const torch::Device& device);

    int rank() const;
    int size() const;
    std::string backendName() const;

    // Gradient averaging: every parameter's gradient (zeros where a rank has none) multiplied
    // by `localScale`, flattened into buckets of up to `bucketBytes`, all-reduced (sum) bucket
    // by bucket (all launched, then waited), divided by the number of ranks, copied back.
    // localScale = this rank's share of the step's pairs times the ranks: 1 when the shards
    // are equal, so that uneven shards still give the mean over all the step's pairs.
    void averageGradients(const std::vector<torch::Tensor>& params, double localScale,
                          int64_t bucketBytes = 25 << 20);
    // Element-wise sum over the ranks (float64).
    std::vector<double> sum(const std::vector<double>& values);
    // Copies root's tensors into every rank's (same shapes on every rank).
    void broadcast(const std::vector<torch::Tensor>& tensors, int root);
    void barrier();

    // Small strings through the store: rank 0 publishes, the others wait (collective timeout).
    void publish(const std::string& key, const std::string& value);
    std::string await(const std::string& key);
    // Best effort: tells the other ranks why this one stops ("cancelled" for a cancel).
    void reportStop(const std::string& reason);
    // The first rank's reason, "" when none was reported (or the store is gone).
    std::string stopReport();

    // Pause, agreed like cancel. The job's pause request is one flag in the store, set or
    // cleared by whichever rank was asked last (setPauseRequest writes when this rank's own
    // request changed); rank 0 reads it
    // (pauseRequested) into each step's sum, so every rank holds after the same step. While
    // the ranks hold (hold) no collective runs, so a pause may outlast the collective timeout:
    // rank 0 alone decides the end (the flag cleared: Resume; a cancel on any rank: Cancel) and
    // publishes it under the hold's number; meanwhile every rank beats in the store, and a rank
    // whose beat stops for the collective timeout (or a reported stop) fails the hold.
    enum class HoldEnd { Resume, Cancel };
    void setPauseRequest(bool paused);
    bool pauseRequested();
    // `localPause`/`localCancel` are this rank's own requests (read each poll; a change of
    // localPause is written with setPauseRequest); `idle` runs about once a second (rank 0's
    // heartbeat in the project).
    HoldEnd hold(int64_t generation, const std::function<bool()>& localPause,
                 const std::function<bool()>& localCancel, const std::function<void()>& idle = {});

private:
    Collective();
    struct Impl;
    std::unique_ptr<Impl> d_;
};

}  // namespace dpowb::train
