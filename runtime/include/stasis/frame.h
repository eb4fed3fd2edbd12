// stasis/frame.h — soft-tasklet frames: one heap activation of a resumable function.
//
// A soft tasklet's whole state is a chain of frames, innermost first:
//   tasklet.top -> frame (callee) -> caller -> ... -> root frame
// Each frame is a heap object whose fields are the function's locals and whose
// resume point says where run() continues. Calls push a child frame instead of
// recursing on the C stack, so depth is bounded by memory only.
//
// Frames have no vtable: a FrameOps table per type (run, destroy, describe, and the
// registered stable name/version) is referenced from the frame header. That keeps
// user frames aggregates, so `Fib{.n = 10}` works without writing constructors.
//
// Invariants:
//   - a frame is owned by exactly one tasklet from the moment it is pushed until it
//     returns or is unwound; it is destroyed through ops->destroy (never `delete`
//     through FrameBase*);
//   - resume point 0 is the entry; the k-th suspension point in run() is k (see
//     stasis/soft.h), independent of line numbers, so it is stable across builds.
#ifndef STASIS_FRAME_H_
#define STASIS_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "stasis/fields.h"

namespace stasis {

class Ctx;
class FrameBase;

// What a frame's run() tells the scheduler when it returns.
enum class Step : std::uint8_t {
  kCall,     // pushed a child frame: run the child next
  kReturn,   // finished: pop it and resume the caller (result in the tasklet slot)
  kSuspend,  // the tasklet blocked, yielded or was preempted: run something else
};

// One field of a frame, rendered for diagnostics and inspection.
struct FieldValue {
  std::string_view name;
  std::string text;
};

// Per-type operations of a frame type. One constant-initialized instance per type.
struct FrameOps {
  Step (*run)(FrameBase*, Ctx&);
  void (*destroy)(FrameBase*) noexcept;
  void (*describe)(const FrameBase*, std::vector<FieldValue>&);
  const char* (*cxx_name)() noexcept;
  std::size_t size;
  const char* name = nullptr;  // stable name, set by STASIS_REGISTER_FRAME
  std::uint32_t version = 0;   // version, set by STASIS_REGISTER_FRAME
  const void* persist = nullptr;  // stasis::persist's per-type operations, if registered
};

class FrameBase {
 public:
  FrameBase(const FrameBase&) = delete;
  FrameBase& operator=(const FrameBase&) = delete;

  const FrameOps& ops() const noexcept { return *stasis_ops_; }
  // Registered stable name, or the C++ type name when the type is unregistered.
  const char* type_name() const noexcept;
  bool registered() const noexcept { return stasis_ops_->name != nullptr; }
  int resume_point() const noexcept { return stasis_rp_; }
  const FrameBase* caller() const noexcept { return stasis_caller_; }
  // The frame's fields, named and rendered as text.
  std::vector<FieldValue> fields() const;

  // Frames are allocated from a per-thread pool of size classes: a million frames
  // come and go without a million trips to malloc.
  static void* operator new(std::size_t size);
  static void operator delete(void* p, std::size_t size) noexcept;

  // --- Frame header, used by the STASIS_* macros and the scheduler. ---
  const FrameOps* stasis_ops_;
  FrameBase* stasis_caller_ = nullptr;
  std::uint16_t stasis_rp_ = 0;
  std::uint8_t stasis_flags_ = 0;  // kCatchesChild: pending call site catches

  static constexpr std::uint8_t kCatchesChild = 1;

 protected:
  explicit constexpr FrameBase(const FrameOps* ops) noexcept : stasis_ops_(ops) {}
  ~FrameBase() = default;
};

namespace detail {

template <class D>
Step frame_run(FrameBase* f, Ctx& cx) {
  return static_cast<D*>(f)->run(cx);
}
template <class D>
void frame_destroy(FrameBase* f) noexcept {
  delete static_cast<D*>(f);
}
template <class D>
void frame_describe(const FrameBase* f, std::vector<FieldValue>& out) {
  if constexpr (HasFields<D>) {
    static_cast<const D*>(f)->stasis_visit_fields(
        [&](std::string_view name, const auto& v) { out.push_back({name, field_text(v)}); });
  }
}
template <class D>
const char* frame_cxx_name() noexcept {
  return typeid(D).name();
}

template <class D>
struct FrameOpsFor {
  static constinit inline FrameOps ops{&frame_run<D>, &frame_destroy<D>, &frame_describe<D>,
                                       &frame_cxx_name<D>, sizeof(D)};
};

}  // namespace detail

// Base of every soft frame type D. D declares
//   Step run(Ctx& cx) { STASIS_BEGIN(cx); ... STASIS_END(cx); }
// and its fields with STASIS_FIELDS(...).
template <class D>
struct Frame : FrameBase {
  Frame() noexcept : FrameBase(&detail::FrameOpsFor<D>::ops) {}
  Frame(const Frame&) noexcept : FrameBase(&detail::FrameOpsFor<D>::ops) {}
};

// Destroys a frame through its type's ops.
inline void destroy_frame(FrameBase* f) noexcept { f->stasis_ops_->destroy(f); }

}  // namespace stasis

#endif  // STASIS_FRAME_H_
