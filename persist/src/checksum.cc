// persist/src/checksum.cc — see checksum.h.
#include "checksum.h"

#include <xxhash.h>

#include <cstddef>
#include <memory>
#include <new>
#include <stdexcept>

#if defined(STASIS_XXH3_X86)
#include "xxh3_x86.h"
#endif

namespace stasis::persist::detail {
namespace {

constexpr std::size_t kMaxParts = 8;

using PartsHash = std::uint64_t (*)(const void* const* data, const std::size_t* sizes, std::size_t n);

// libxxhash's streaming XXH3 (its own build: SSE2 on x86-64, NEON on aarch64).
std::uint64_t xxh3_64_library(const void* const* data, const std::size_t* sizes, std::size_t n) {
  struct StateDeleter {
    void operator()(XXH3_state_t* s) const noexcept { XXH3_freeState(s); }
  };
  std::unique_ptr<XXH3_state_t, StateDeleter> state(XXH3_createState());
  if (!state) throw std::bad_alloc();
  XXH3_64bits_reset(state.get());
  for (std::size_t i = 0; i < n; ++i) XXH3_64bits_update(state.get(), data[i], sizes[i]);
  return XXH3_64bits_digest(state.get());
}

// The widest variant this CPU runs, chosen once.
PartsHash choose() noexcept {
#if defined(STASIS_XXH3_X86)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return &stasis_xxh3_64_avx512;
  if (__builtin_cpu_supports("avx2")) return &stasis_xxh3_64_avx2;
#endif
  return &xxh3_64_library;
}

}  // namespace

std::uint64_t xxh3_64(std::initializer_list<std::string_view> parts) {
  static const PartsHash hash = choose();
  if (parts.size() > kMaxParts) throw std::logic_error("xxh3_64: more than 8 parts");
  const void* data[kMaxParts];
  std::size_t sizes[kMaxParts];
  std::size_t n = 0;
  for (std::string_view p : parts) {
    data[n] = p.data();
    sizes[n] = p.size();
    ++n;
  }
  return hash(data, sizes, n);
}

}  // namespace stasis::persist::detail
