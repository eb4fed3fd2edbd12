// externals.h — lookups into the process's named externals (internal to
// stasis::persist; registration is public: stasis/persist/native.h).
#ifndef STASIS_PERSIST_SRC_NATIVE_EXTERNALS_H_
#define STASIS_PERSIST_SRC_NATIVE_EXTERNALS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stasis::persist::native {

struct External {
  std::string name;
  std::uint64_t address = 0;
  std::uint64_t size = 0;
};

// Every registered external, sorted by address (a copy: registration may go on).
std::vector<External> externals_by_address();

// The external registered under `name`, if any.
std::optional<External> find_external(std::string_view name);

}  // namespace stasis::persist::native

#endif  // STASIS_PERSIST_SRC_NATIVE_EXTERNALS_H_
