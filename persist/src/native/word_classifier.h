// word_classifier.h — placing every word of a native tasklet's memory (internal
// to stasis::persist).
//
// Each aligned 8-byte word of a tasklet's stack, callable and arena runs is either
//   - plain data: not an address of anything mapped in this process;
//   - a pointer that stays valid after restore because its target is restored at
//     the same address: the tasklet's own live stack, an arena share in the
//     snapshot, code or data of a loaded object (fixed layout);
//   - a pointer to a runtime object or named external that is recreated elsewhere:
//     recorded as a relocation (object, offset) and re-aimed on restore;
//   - a pointer to memory that will not exist in the restoring process (malloc
//     heap outside the arena, the main stack, thread-local storage, a dedicated
//     stack, a mapping): a problem, which refuses the freeze;
//   - an address in the sliced-stack region below the tasklet's stack pointer:
//     dead stack, or another sliced tasklet's stack, which nothing may point into
//     (docs/native.md); counted and left as it is.
// Like a conservative garbage collector, it cannot tell an integer from a pointer:
// a dead stack slot that still holds an old pointer refuses the freeze as well
// (never the other way round: nothing is silently left dangling).
#ifndef STASIS_PERSIST_SRC_NATIVE_WORD_CLASSIFIER_H_
#define STASIS_PERSIST_SRC_NATIVE_WORD_CLASSIFIER_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "address_space.h"

namespace stasis::persist::native {

enum class ObjectKind : std::uint8_t {
  kTasklet,         // key: tasklet id (in the snapshot)
  kFrame,           // a native frame object; key: its tasklet's id (in the snapshot)
  kChannel,         // key: the ChannelBase* (the freezer turns it into an index)
  kScheduler,
  kNativeThread,
  kExternal,        // key: index into the externals list
  kThreadPointer,   // the thread pointer itself, or a runtime thread-local: offsets from the thread pointer
  kForeignTasklet,  // a tasklet object outside the snapshot; key: its id (a problem)
};

struct KnownObject {
  std::uint64_t low = 0, high = 0;
  ObjectKind kind = ObjectKind::kTasklet;
  std::uint64_t key = 0;
  std::string label;  // for problems: "tasklet #5 'worker'"
  std::uint64_t base = 0;  // relocation offsets are from here (0: from low)
};

struct WordRelocation {
  std::uint64_t at = 0;      // the word's address in this process
  std::int64_t offset = 0;   // value - object low
  ObjectKind kind = ObjectKind::kTasklet;
  std::uint64_t key = 0;
};

struct WordProblem {
  std::uint64_t at = 0;
  std::uint64_t value = 0;
  std::string target;
};

// The loaded objects a tasklet's words point into (regions of the classifier's
// address space, each once).
using ModulesUsed = std::vector<const Region*>;

struct WordSummary {
  std::uint64_t words = 0, own_stack = 0, arena = 0, module = 0, relocated = 0, plain = 0;
  std::uint64_t dead_stack = 0;  // into the region below the stack pointer (see classify)
};

class WordClassifier {
 public:
  // `objects` need not be sorted; `shares` are the [low, high) runs of the arena
  // shares in the snapshot; `region` the thread's sliced-stack region.
  WordClassifier(AddressSpace space, std::vector<KnownObject> objects,
                 std::vector<std::pair<std::uint64_t, std::uint64_t>> shares, std::uint64_t region_low,
                 std::uint64_t region_high);

  // Classifies the aligned words of `bytes`, which hold the memory at `address`
  // (address is 8-aligned). Pointers into [own_low, own_high) are the tasklet's
  // own stack. Appends relocations and problems; counts into `summary`.
  void scan(std::uint64_t address, std::span<const std::byte> bytes, std::uint64_t own_low, std::uint64_t own_high,
            std::vector<WordRelocation>& relocations, std::vector<WordProblem>& problems, WordSummary& summary,
            ModulesUsed& modules) const;

  const KnownObject* object_at(std::uint64_t value) const noexcept;

 private:
  void classify(std::uint64_t at, std::uint64_t v, std::uint64_t own_low, std::uint64_t own_high,
                std::vector<WordRelocation>& relocations, std::vector<WordProblem>& problems,
                WordSummary& summary, ModulesUsed& modules) const;

  AddressSpace space_;
  std::vector<KnownObject> objects_;  // sorted by low, disjoint
  std::vector<std::pair<std::uint64_t, std::uint64_t>> shares_;  // sorted
  std::uint64_t region_low_, region_high_;
};

}  // namespace stasis::persist::native

#endif  // STASIS_PERSIST_SRC_NATIVE_WORD_CLASSIFIER_H_
