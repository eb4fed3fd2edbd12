// word_classifier.cc — see word_classifier.h.
#include "word_classifier.h"

#include <algorithm>
#include <cstring>

#include "stasis/arena.h"

namespace stasis::persist::native {

WordClassifier::WordClassifier(AddressSpace space, std::vector<KnownObject> objects,
                               std::vector<std::pair<std::uint64_t, std::uint64_t>> shares, std::uint64_t region_low,
                               std::uint64_t region_high)
    : space_(std::move(space)),
      objects_(std::move(objects)),
      shares_(std::move(shares)),
      region_low_(region_low),
      region_high_(region_high) {
  std::sort(objects_.begin(), objects_.end(), [](const KnownObject& a, const KnownObject& b) { return a.low < b.low; });
  for (std::size_t i = 1; i < objects_.size(); ++i) {  // overlaps: the earlier object keeps its bytes
    if (objects_[i].low < objects_[i - 1].high) objects_[i].low = std::min(objects_[i - 1].high, objects_[i].high);
  }
  std::erase_if(objects_, [](const KnownObject& o) { return o.low >= o.high; });
  std::sort(shares_.begin(), shares_.end());
}

const KnownObject* WordClassifier::object_at(std::uint64_t v) const noexcept {
  auto it = std::upper_bound(objects_.begin(), objects_.end(), v,
                             [](std::uint64_t x, const KnownObject& o) { return x < o.low; });
  if (it == objects_.begin()) return nullptr;
  --it;
  return v < it->high ? &*it : nullptr;
}

void WordClassifier::scan(std::uint64_t address, std::span<const std::byte> bytes, std::uint64_t own_low,
                          std::uint64_t own_high, std::vector<WordRelocation>& relocations,
                          std::vector<WordProblem>& problems, WordSummary& summary, ModulesUsed& modules) const {
  const std::size_t n = bytes.size() / 8;
  const std::uint64_t lowest = space_.lowest(), highest = space_.highest();
  for (std::size_t k = 0; k < n; ++k) {
    std::uint64_t v;
    std::memcpy(&v, bytes.data() + k * 8, 8);
    ++summary.words;
    // The common cases first: an integer, or a pointer into the own stack.
    if (v < lowest || v >= highest) {
      ++summary.plain;
      continue;
    }
    if (v >= own_low && v <= own_high) {
      ++summary.own_stack;
      continue;
    }
    classify(address + k * 8, v, own_low, own_high, relocations, problems, summary, modules);
  }
}

void WordClassifier::classify(std::uint64_t at, std::uint64_t v, std::uint64_t, std::uint64_t,
                              std::vector<WordRelocation>& relocations, std::vector<WordProblem>& problems,
                              WordSummary& summary, ModulesUsed& modules) const {
  if (const KnownObject* o = object_at(v)) {
    if (o->kind == ObjectKind::kForeignTasklet) {
      problems.push_back({at, v, o->label + ", which is not in this snapshot (freeze it too, or drop the pointer)"});
      return;
    }
    ++summary.relocated;
    relocations.push_back({at, static_cast<std::int64_t>(v - (o->base ? o->base : o->low)), o->kind, o->key});
    return;
  }
  if (arena::contains(reinterpret_cast<const void*>(v))) {
    auto it = std::upper_bound(shares_.begin(), shares_.end(), std::pair{v, UINT64_MAX});
    // One past a block's end (a full std::vector's end pointer) still belongs to it.
    if (it != shares_.begin() && v <= std::prev(it)->second) {
      ++summary.arena;
      return;
    }
    // Address space of the arena that nothing has mapped: an integer that merely
    // looks like an arena address (say two 32-bit ints), not a pointer to memory.
    const Region* r = space_.find(v);
    if (!r) {
      ++summary.plain;
      return;
    }
    problems.push_back({at, v, "arena memory outside the arena shares of this snapshot (another tasklet's share: "
                               "freeze that tasklet too)"});
    return;
  }
  if (v >= region_low_ && v < region_high_) {
    // Below the tasklet's stack pointer: dead stack (a slot still holding the
    // address of a frame that has returned) or another sliced tasklet's stack,
    // which the sliced-stack rule forbids pointing into. Neither can be used
    // validly after the freeze any more than before it: left as it is.
    ++summary.dead_stack;
    return;
  }
  const Region* r = space_.find(v);
  if (!r) {
    ++summary.plain;
    return;
  }
  if (r->kind == RegionKind::kModule) {
    ++summary.module;
    if (modules.empty() || modules.back() != r) {
      if (std::find(modules.begin(), modules.end(), r) == modules.end()) modules.push_back(r);
    }
    return;
  }
  problems.push_back({at, v, AddressSpace::describe(*r)});
}

}  // namespace stasis::persist::native
