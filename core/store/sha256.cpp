#include "store/sha256.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace dpowb::store {

namespace {

// Fetched once: in OpenSSL 3 looking the algorithm up costs more than hashing a short pair.
const EVP_MD* sha256() {
    static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (!md) throw std::runtime_error("OpenSSL has no SHA-256 (is libcrypto's default provider missing?)");
    return md;
}

EVP_MD_CTX* ctx(void* p) { return static_cast<EVP_MD_CTX*>(p); }

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx(ctx_), sha256(), nullptr) != 1) {
        EVP_MD_CTX_free(ctx(ctx_));
        throw std::runtime_error("OpenSSL: cannot start a SHA-256 digest");
    }
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx(ctx_)); }

void Sha256::update(const void* data, size_t size) {
    if (size > 0 && EVP_DigestUpdate(ctx(ctx_), data, size) != 1) throw std::runtime_error("OpenSSL: SHA-256 update failed");
}

std::array<uint8_t, 32> Sha256::finish() {
    std::array<uint8_t, 32> out{};
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx(ctx_), out.data(), &n) != 1 || n != out.size())
        throw std::runtime_error("OpenSSL: SHA-256 finish failed");
    return out;
}

std::string Sha256::hexDigest() {
    static const char* const hex = "0123456789abcdef";
    std::string s;
    s.reserve(64);
    for (uint8_t b : finish()) {
        s += hex[b >> 4];
        s += hex[b & 15];
    }
    return s;
}

}  // namespace dpowb::store
