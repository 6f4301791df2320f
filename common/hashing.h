// SHA-256 (OpenSSL's EVP API) and secure random bytes, for commitments,
// transcript chains and token hashes.
//
//   std::string digest = Sha256("abc");        // 32 raw bytes
//   std::string hex = HexEncode(digest);
//   std::string token = RandomBytes(32);       // OpenSSL RAND_bytes
#ifndef ATTNORACLE_COMMON_HASHING_H_
#define ATTNORACLE_COMMON_HASHING_H_

#include <initializer_list>
#include <string>

#include "absl/strings/string_view.h"

namespace attnoracle {

inline constexpr size_t kSha256Bytes = 32;

// SHA-256 of the concatenation of `parts` (raw 32-byte digest).
std::string Sha256(std::initializer_list<absl::string_view> parts);
inline std::string Sha256(absl::string_view data) { return Sha256({data}); }

// `n` bytes from OpenSSL's CSPRNG. Aborts if the generator fails (there is
// no safe fallback for secrets).
std::string RandomBytes(size_t n);

std::string HexEncode(absl::string_view bytes);
// Constant-time equality for secrets of equal length (CRYPTO_memcmp).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_HASHING_H_
