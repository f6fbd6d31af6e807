// The NCCL process group for data-parallel training on CUDA devices, as a plugin.
//
// ProcessGroupNCCL is compiled into libtorch_cuda.so, which the programs never link (CUDA is
// loaded at run time, model/cuda_runtime.cpp). This small module links it and is dlopened by
// train/distributed.cpp only when a rank trains on a CUDA device, after libtorch_cuda.so was
// loaded; a CPU-only run never touches it. Built when the CUDA and NCCL headers are found
// (the wheel's nvidia-* packages or the CUDA toolkit): core/CMakeLists.txt.
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL 1
#endif
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include <chrono>
#include <cstdint>

extern "C" __attribute__((visibility("default"))) c10::intrusive_ptr<c10d::Backend> dpowb_make_nccl_backend(
    const c10::intrusive_ptr<c10d::Store>& store, int rank, int size, int device, int64_t timeoutMs) {
    // NCCL binds a communicator to the current device: this rank's.
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = std::chrono::milliseconds(timeoutMs);
    auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
    return c10::static_intrusive_pointer_cast<c10d::Backend>(group);
}
