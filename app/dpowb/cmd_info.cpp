// dpowb info: the LibTorch this build runs on, its CUDA backend and the devices it sees.
#include <iostream>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <torch/version.h>

#include "cli.h"
#include "model/cuda_runtime.h"

namespace {

const char* kUsage =
    "usage: dpowb info\n"
    "\n"
    "Prints one JSON object: the LibTorch version and folder, where its CUDA backend was loaded from (or why\n"
    "not), the number of CUDA devices, the default device, and the CPU threads (ATen/OpenMP).\n"
    "DPOWB_TORCH_CUDA=/path/to/libtorch_cuda.so names the backend; DPOWB_TORCH_CUDA=none switches it off.\n";

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

DPOWB_COMMAND({"info", "LibTorch version, CUDA backend and devices (JSON)", kUsage, {}, runInfo});
