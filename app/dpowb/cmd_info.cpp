// dpowb info: the LibTorch this build runs on, its CUDA backend and the devices it sees.
#include <iostream>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <torch/version.h>

#include "cli.h"
#include "torch_commands.h"
#include "model/cuda_runtime.h"

namespace {

int runInfo(dpowb::cli::Args&) {
    using namespace dpowb;
    nlohmann::json j;
    j["libtorch"] = TORCH_VERSION;
    j["libtorch_dir"] = model::torchLibraryDir();
    j["cuda_backend_loaded"] = model::loadCudaBackend();
    j["cuda_backend"] = model::cudaBackendStatus();
    j["cuda_devices"] = model::cudaDeviceCount();
    j["default_device"] = model::cudaAvailable() ? "cuda" : "cpu";
    j["cpu_threads"] = at::get_num_threads();
    std::cout << j.dump() << "\n";
    return dpowb::cli::kOk;
}

}  // namespace

DPOWB_COMMAND({"info", dpowb::cli::torchCommandSummary("info"), dpowb::cli::torchCommandUsage("info"), {}, {}, runInfo});
