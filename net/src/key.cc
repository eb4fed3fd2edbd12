// key.cc — SharedKey over libsodium (crypto_generichash, crypto_auth, randombytes).
#include "stasis/net/key.h"

#include <sodium.h>

#include <fstream>
#include <iterator>
#include <string>

#include "stasis/net/errors.h"

namespace stasis::net {
namespace {

void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) throw NetError("libsodium failed to initialize (sodium_init); no authenticated connections are possible");
}

// HMAC over parts: crypto_auth has no streaming API in 1.0.18's crypto_auth, but
// crypto_auth_hmacsha512256 has init/update/final.
void mac_parts(const std::array<std::uint8_t, 32>& key, std::initializer_list<std::span<const std::uint8_t>> parts,
               unsigned char* out) {
  crypto_auth_hmacsha512256_state st;
  crypto_auth_hmacsha512256_init(&st, key.data(), key.size());
  for (auto p : parts) crypto_auth_hmacsha512256_update(&st, p.data(), p.size());
  crypto_auth_hmacsha512256_final(&st, out);
}

}  // namespace

SharedKey SharedKey::from_secret(std::string_view secret) {
  ensure_sodium();
  if (secret.size() < kMinKeyFileBytes) {
    throw KeyError("shared key: " + std::to_string(secret.size()) + " bytes is too short; use at least " +
                   std::to_string(kMinKeyFileBytes) + " random bytes (e.g. head -c 32 /dev/urandom > node.key)");
  }
  SharedKey k;
  static constexpr unsigned char kContext[] = "stasis-node-key-v1";
  crypto_generichash(k.key_.data(), k.key_.size(), reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                     kContext, sizeof kContext - 1);
  return k;
}

SharedKey SharedKey::from_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw KeyError("key file '" + path.string() + "' cannot be read; create it with head -c 32 /dev/urandom > " + path.string());
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    return from_secret(bytes);
  } catch (const KeyError& e) {
    throw KeyError("key file '" + path.string() + "': " + e.what());
  }
}

SharedKey::Mac SharedKey::mac(std::initializer_list<std::span<const std::uint8_t>> parts) const {
  static_assert(crypto_auth_hmacsha512256_BYTES == kMacBytes);
  Mac out;
  mac_parts(key_, parts, out.data());
  return out;
}

bool SharedKey::verify(std::span<const std::uint8_t> mac, std::initializer_list<std::span<const std::uint8_t>> parts) const {
  if (mac.size() != kMacBytes) return false;
  unsigned char expected[kMacBytes];
  mac_parts(key_, parts, expected);
  return sodium_memcmp(expected, mac.data(), kMacBytes) == 0;
}

void SharedKey::random(std::span<std::uint8_t> out) {
  ensure_sodium();
  randombytes_buf(out.data(), out.size());
}

std::uint64_t SharedKey::random_u64() {
  std::uint64_t v = 0;
  random(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(&v), sizeof v));
  return v;
}

}  // namespace stasis::net
