// SHA-256 (FIPS 180-4), used for the content hash that de-duplicates pairs. Internal to the store.
// OpenSSL's libcrypto computes it (with the CPU's SHA extensions where present: about 8x the
// speed of a portable implementation, which showed as 9% of a bulk import's time).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace dpowb::store {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(const void* data, size_t size);
    void update(std::string_view s) { update(s.data(), s.size()); }
    std::array<uint8_t, 32> finish();
    // Lower-case hex of finish().
    std::string hexDigest();

private:
    void* ctx_;  // EVP_MD_CTX
};

}  // namespace dpowb::store
