#include "model/cuda_runtime.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/cuda.h>

namespace dpowb::model {

namespace {

std::once_flag gOnce;
bool gLoaded = false;
std::string gStatus;

// The folder of the loaded libtorch_cpu.so: the wheel keeps libtorch_cuda.so beside it.
std::string torchLibDir() {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&at::globalContext), &info) == 0 || !info.dli_fname) return {};
    return std::filesystem::path(info.dli_fname).parent_path().string();
}

void load() {
    std::string path;
    if (const char* env = std::getenv("DPOWB_TORCH_CUDA"); env && std::string(env) == "none") {
        gStatus = "CUDA backend switched off (DPOWB_TORCH_CUDA=none)";
        return;
    } else if (env && *env) {
        path = env;
    } else if (!std::filesystem::exists("/proc/driver/nvidia/version") && !std::filesystem::exists("/dev/nvidiactl")) {
        // No NVIDIA driver: CUDA cannot work, and loading ~1 GB of CUDA libraries would only cost time.
        gStatus = "no NVIDIA driver on this machine";
        return;
    } else {
        const std::string dir = torchLibDir();
        if (dir.empty() || !std::filesystem::exists(dir + "/libtorch_cuda.so")) {
            gStatus = "CUDA backend not installed (no libtorch_cuda.so beside " +
                      (dir.empty() ? std::string("libtorch_cpu.so") : dir + "/libtorch_cpu.so") +
                      "; set DPOWB_TORCH_CUDA to one to use a GPU)";
            return;
        }
        path = dir + "/libtorch_cuda.so";
    }
    // RTLD_GLOBAL: its static initialisers register the CUDA hooks, allocator and kernels with
    // the already loaded libtorch_cpu; the handle is kept for the life of the process.
    if (void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL); h) {
        gLoaded = true;
        gStatus = "CUDA backend loaded from " + path;
        try {  // the real hooks answer; ATen's placeholder (hooks used before the load) throws
            gStatus += " (CUDA runtime " + std::to_string(at::detail::getCUDAHooks().versionCUDART()) + ")";
        } catch (const std::exception&) {
            gLoaded = false;
            gStatus = "CUDA backend " + path + " loaded too late: ATen was asked about CUDA before it (a bug)";
        }
    } else {
        const char* err = dlerror();
        gStatus = "CUDA backend " + path + " did not load (" + std::string(err ? err : "unknown error") +
                  "); is the CUDA runtime of the torch wheel installed?";
    }
}

// Loaded while the program starts, before anything asks ATen about CUDA: ATen settles on its
// CUDA hooks the first time they are used, and a backend loaded after that stays unused.
[[maybe_unused]] const bool gLoadedAtStart = loadCudaBackend();

}  // namespace

bool loadCudaBackend() {
    std::call_once(gOnce, load);
    return gLoaded;
}

std::string cudaBackendStatus() {
    loadCudaBackend();
    return gStatus;
}

std::string torchLibraryDir() { return torchLibDir(); }

bool cudaAvailable() { return loadCudaBackend() && torch::cuda::is_available(); }

int64_t cudaDeviceCount() { return loadCudaBackend() ? int64_t(torch::cuda::device_count()) : 0; }

}  // namespace dpowb::model
