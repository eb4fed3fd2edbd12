// address_space.h — what lives where in the calling process, for classifying the
// words of a native tasklet's memory (internal to stasis::persist).
//
// A snapshot of the address space at one moment: /proc/self/maps (heap, the main
// thread's stack, file and anonymous mappings), refined by the loaded objects'
// segments and the calling thread's thread-local storage (dl_iterate_phdr). Ranges
// are half-open [low, high); a lookup prefers the most precise description
// (a module's TLS block over the mapping that holds it).
#ifndef STASIS_PERSIST_SRC_NATIVE_ADDRESS_SPACE_H_
#define STASIS_PERSIST_SRC_NATIVE_ADDRESS_SPACE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace stasis::persist::native {

enum class RegionKind : std::uint8_t {
  kModule,         // code or data of a loaded object: the same address after restore
  kThreadLocal,    // a thread's TLS block or thread control block
  kMainStack,      // the main thread's stack
  kHeap,           // the brk heap of malloc
  kAnonymous,      // an anonymous mapping (large malloc blocks, thread stacks, other allocators)
  kFile,           // a file mapping that is not a loaded object's segment
  kOther,          // [vvar] and other special mappings
};

struct Region {
  std::uint64_t low = 0, high = 0;
  RegionKind kind = RegionKind::kOther;
  std::string name;  // module path, file path or mapping name
};

class AddressSpace {
 public:
  // Reads the calling process's layout (and the calling thread's TLS).
  static AddressSpace of_this_process();

  // The region holding `address`, or null when nothing is mapped there.
  const Region* find(std::uint64_t address) const noexcept;

  // Cheap reject: no mapping lies outside [lowest, highest).
  std::uint64_t lowest() const noexcept { return lowest_; }
  std::uint64_t highest() const noexcept { return highest_; }

  // "the malloc heap (outside the arena)", "thread-local storage of libfoo.so"...
  static std::string describe(const Region& r);

 private:
  std::vector<Region> precise_;   // modules and TLS, sorted, disjoint
  std::vector<Region> mappings_;  // /proc/self/maps, sorted, disjoint
  std::uint64_t lowest_ = 0, highest_ = 0;
};

}  // namespace stasis::persist::native

#endif  // STASIS_PERSIST_SRC_NATIVE_ADDRESS_SPACE_H_
