// pointer_set.h — an open-addressing set of pointers, reserved up front: the
// freezer's "is this tasklet in the snapshot" without a heap node per tasklet.
#ifndef STASIS_PERSIST_SRC_POINTER_SET_H_
#define STASIS_PERSIST_SRC_POINTER_SET_H_

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

namespace stasis::persist {

// A set of pointers with open addressing (linear probing, at most half full): no
// allocation per element, unlike std::unordered_set, and freeze puts every
// tasklet of a scheduler in it, a million at a time. Null is never an element.
class PointerSet {
 public:
  void reserve(std::size_t n) {
    if (2 * n > slots_.size()) rehash(std::bit_ceil(std::max<std::size_t>(16, 2 * n)));
  }
  // Adds p; false if it was there already.
  bool insert(const void* p) {
    if (2 * (size_ + 1) > slots_.size()) rehash(std::max<std::size_t>(16, 2 * slots_.size()));
    std::size_t i = slot_of(p);
    for (; slots_[i]; i = (i + 1) & mask_) {
      if (slots_[i] == p) return false;
    }
    slots_[i] = p;
    ++size_;
    return true;
  }
  bool contains(const void* p) const {
    if (slots_.empty()) return false;
    for (std::size_t i = slot_of(p); slots_[i]; i = (i + 1) & mask_) {
      if (slots_[i] == p) return true;
    }
    return false;
  }

 private:
  std::size_t slot_of(const void* p) const {
    std::uint64_t x = reinterpret_cast<std::uintptr_t>(p);  // murmur3's finalizer
    x = (x ^ (x >> 33)) * 0xff51afd7ed558ccdull;
    return static_cast<std::size_t>(x ^ (x >> 33)) & mask_;
  }
  void rehash(std::size_t capacity) {
    std::vector<const void*> old = std::move(slots_);
    slots_.assign(capacity, nullptr);
    mask_ = capacity - 1;
    size_ = 0;
    for (const void* p : old) {
      if (p) insert(p);
    }
  }

  std::vector<const void*> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_SRC_POINTER_SET_H_
