// frame.cc — frame header helpers and pooled frame allocation.
#include "stasis/frame.h"

#include "pool.h"

namespace stasis {

const char* FrameBase::type_name() const noexcept {
  return stasis_ops_->name ? stasis_ops_->name : stasis_ops_->cxx_name();
}

std::vector<FieldValue> FrameBase::fields() const {
  std::vector<FieldValue> out;
  stasis_ops_->describe(this, out);
  return out;
}

void* FrameBase::operator new(std::size_t size) { return detail::pool_allocate(size); }

void FrameBase::operator delete(void* p, std::size_t size) noexcept { detail::pool_free(p, size); }

}  // namespace stasis
