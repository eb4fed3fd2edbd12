// stasis/registry.h — stable names and versions for frame types.
//
// A snapshot names frame types by the stable name given here, never by a mangled
// C++ name or an address, so it restores in another build, compiler or
// architecture. STASIS_REGISTER_FRAME(Type, "lib.Name", version) at namespace scope
// registers a type during static initialization.
//
// Invariants: one name maps to one type and one type has one name. A conflicting
// registration does not abort the program at static-initialization time; it is
// recorded and reported by FrameRegistry::find()/check() with both type names.
#ifndef STASIS_REGISTRY_H_
#define STASIS_REGISTRY_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "stasis/frame.h"

namespace stasis {

class FrameRegistry {
 public:
  // The process-wide registry.
  static FrameRegistry& instance();

  // Registers ops under name/version. Returns false (and records the conflict) if
  // the name is taken by another type or the type already has another name.
  bool add(FrameOps& ops, const char* name, std::uint32_t version);

  // The ops registered under name. Throws RegistryError if none, or if the name is
  // part of a recorded conflict.
  const FrameOps& find(const std::string& name) const;
  const FrameOps* find_or_null(const std::string& name) const noexcept;

  // Throws RegistryError describing every recorded conflict, if any.
  void check() const;

  // All registered names, sorted.
  std::vector<std::string> names() const;

 private:
  std::map<std::string, FrameOps*> by_name_;
  std::vector<std::string> conflicts_;
};

template <class D>
bool register_frame(const char* name, std::uint32_t version) {
  static_assert(std::is_base_of_v<Frame<D>, D>, "STASIS_REGISTER_FRAME: type must derive from stasis::Frame<Type>");
  static_assert(HasFields<D>, "STASIS_REGISTER_FRAME: declare the frame's fields with STASIS_FIELDS(...)");
  return FrameRegistry::instance().add(detail::FrameOpsFor<D>::ops, name, version);
}

}  // namespace stasis

// Registers frame type Type under a stable name and version (>= 1).
#define STASIS_REGISTER_FRAME(Type, name, version)                          \
  [[maybe_unused]] static const bool STASIS_PP_CAT(stasis_registered_, __COUNTER__) = \
      ::stasis::register_frame<Type>(name, version)

#endif  // STASIS_REGISTRY_H_
