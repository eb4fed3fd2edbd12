// stasis/net/key.h — the shared key nodes authenticate each other with.
//
// A node proves it holds the key by an HMAC (libsodium crypto_auth,
// HMAC-SHA-512-256) over a fresh nonce of the peer's (schema/node.capnp, Gate).
// The key is derived from a key file's bytes with a keyed-free BLAKE2b hash, so
// any file of at least kMinKeyFileBytes random bytes works (e.g. `head -c 32
// /dev/urandom > node.key`). Nothing here is hand-written crypto: all of it is
// libsodium.
//
// Invariant: a SharedKey always holds a derived key (no empty state).
#ifndef STASIS_NET_KEY_H_
#define STASIS_NET_KEY_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>

namespace stasis::net {

class SharedKey {
 public:
  static constexpr std::size_t kMinKeyFileBytes = 16;
  static constexpr std::size_t kMacBytes = 32;
  static constexpr std::size_t kNonceBytes = 32;
  using Mac = std::array<std::uint8_t, kMacBytes>;

  // Derives the key from a secret of at least kMinKeyFileBytes bytes; KeyError
  // otherwise.
  static SharedKey from_secret(std::string_view secret);
  // Reads a key file (its whole content is the secret); KeyError if it cannot be
  // read or is too short.
  static SharedKey from_file(const std::filesystem::path& path);

  // HMAC of the concatenated parts.
  Mac mac(std::initializer_list<std::span<const std::uint8_t>> parts) const;
  // Constant-time check of `mac` (of any length: a wrong length fails).
  bool verify(std::span<const std::uint8_t> mac, std::initializer_list<std::span<const std::uint8_t>> parts) const;

  // Fills `out` with random bytes (libsodium's CSPRNG).
  static void random(std::span<std::uint8_t> out);
  static std::uint64_t random_u64();

 private:
  SharedKey() = default;
  std::array<std::uint8_t, 32> key_{};
};

}  // namespace stasis::net

#endif  // STASIS_NET_KEY_H_
