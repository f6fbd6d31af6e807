// Process-wide allocator settings for training.
#pragma once

namespace dpowb {

// Keeps large freed blocks in the heap for reuse instead of returning them to the kernel.
//
// A training step allocates and frees the same activation buffers (megabytes each) every
// step. glibc serves blocks above its mmap threshold with a fresh mmap and unmaps them on
// free, so every step pays page faults and zeroing for all its activations again: measured
// on the tiny model, a third of the step went to the kernel. Raising the mmap and trim
// thresholds keeps those pages mapped; resident memory then stays at the step's peak, which
// the step reaches anyway. Idempotent and safe from any thread; a no-op off glibc.
void retainFreedMemory();

}  // namespace dpowb
