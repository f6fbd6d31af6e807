// CUDA at run time. The build links only LibTorch's CPU libraries; when libtorch_cuda.so is
// installed next to libtorch_cpu.so (the PyPI wheel) and an NVIDIA driver is present, or when
// $DPOWB_TORCH_CUDA names one (loaded even without a driver; "none" switches CUDA off), it is
// loaded once while the program starts and registers CUDA with ATen, after which every
// device-generic call (tensors on kCUDA, generators, autocast, the caching allocator) works.
// Without it, or without a GPU, everything runs on the CPU.
#pragma once

#include <cstdint>
#include <string>

namespace dpowb::model {

// Loads the CUDA backend once (thread-safe); true when it is loaded.
bool loadCudaBackend();
// One line: where the backend was loaded from, or why not.
std::string cudaBackendStatus();
// The backend is loaded and at least one GPU is usable.
bool cudaAvailable();
// The folder of the LibTorch libraries this process runs on (that of libtorch_cpu.so).
std::string torchLibraryDir();
int64_t cudaDeviceCount();

}  // namespace dpowb::model
