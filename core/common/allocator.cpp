#include "common/allocator.h"

#include <cstdlib>  // defines __GLIBC__ on glibc
#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace dpowb {

void retainFreedMemory() {
#if defined(__GLIBC__)
    static std::once_flag once;
    std::call_once(once, [] {
        // Blocks up to 1 GiB come from the heap (larger ones are still mapped on their own);
        // the heap top is given back to the kernel only above 1 GiB of free space.
        mallopt(M_MMAP_THRESHOLD, 1 << 30);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
    });
#endif
}

}  // namespace dpowb
