// SHA-256 (FIPS 180-4), used for the content hash that de-duplicates pairs. Internal to the store.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace dpowb::store {

class Sha256 {
public:
    Sha256();
    void update(const void* data, size_t size);
    void update(std::string_view s) { update(s.data(), s.size()); }
    std::array<uint8_t, 32> finish();
    // Lower-case hex of finish().
    std::string hexDigest();

private:
    void compress(const uint8_t* block);
    uint32_t h_[8];
    uint8_t buffer_[64];
    size_t buffered_ = 0;
    uint64_t totalBytes_ = 0;
};

}  // namespace dpowb::store
