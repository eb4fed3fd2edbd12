// native_image.cc — reading a suspended native tasklet as memory and rebuilding
// one from such memory (see stasis/native_image.h).
#include "stasis/native_image.h"

#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "native_frame.h"
#include "stasis/arena.h"
#include "stasis/channel.h"
#include "stasis/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define STASIS_NATIVE_IMAGE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STASIS_NATIVE_IMAGE_ASAN 1
#endif
#endif
#if STASIS_NATIVE_IMAGE_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace stasis::detail {

namespace {

// The image's reader scans every word of a suspended stack, redzones between its
// locals included: clear their poison first, as saving a slice does (slice.cc).
void unpoison(std::uintptr_t p, std::size_t n) noexcept {
#if STASIS_NATIVE_IMAGE_ASAN
  __asan_unpoison_memory_region(reinterpret_cast<const void*>(p), n);
#else
  (void)p;
  (void)n;
#endif
}

std::string hex(std::uintptr_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(v));
  return buf;
}

}  // namespace

NativeImage native_image(const Tasklet& t) {
  auto* f = static_cast<const NativeFrameBase*>(NativeAccess::top(const_cast<Tasklet&>(t)));
  NativeImage im;
  im.sliced = f->sliced();
  im.started = f->started && !f->finished;
  im.frame = reinterpret_cast<std::uintptr_t>(f);
  im.frame_size = f->total_size;
  im.callable = im.frame + kCallableOffset;
  im.callable_bytes = {reinterpret_cast<const std::byte*>(im.callable), f->total_size - kCallableOffset};
  im.callable_ops = f->callable_ops;
  im.share = f->share;
  im.exception_in_flight = f->ctx.eh_caught != nullptr || f->ctx.eh_uncaught != 0;
  if (!im.started) return im;
  im.context = reinterpret_cast<std::uintptr_t>(f->ctx.fctx);
  if (f->sliced()) {
    NativeThread& nt = native_thread();
    im.stack_high = reinterpret_cast<std::uintptr_t>(nt.region.high());
    const std::size_t n = im.stack_high - im.context;
    if (nt.owner == f) unpoison(im.context, n);
    const std::byte* bytes = nt.owner == f ? reinterpret_cast<const std::byte*>(im.context)
                                           : reinterpret_cast<const std::byte*>(f->slice.bytes);
    im.stack = {bytes, n};
  } else {
    im.stack_high = reinterpret_cast<std::uintptr_t>(f->ctx.stack_low + f->ctx.stack_size);
    unpoison(im.context, im.stack_high - im.context);
    im.stack = {reinterpret_cast<const std::byte*>(im.context), im.stack_high - im.context};
  }
  return im;
}

NativeThreadImage native_thread_image() {
  NativeThread& nt = native_thread();
  NativeThreadImage im;
  im.address = reinterpret_cast<std::uintptr_t>(&nt);
  im.size = sizeof(NativeThread);
  if (nt.region.low) {
    im.region_low = reinterpret_cast<std::uintptr_t>(nt.region.low);
    im.region_high = reinterpret_cast<std::uintptr_t>(nt.region.high());
  }
  return im;
}

std::vector<ThreadLocalRange> runtime_thread_locals() {
  auto range = [](const auto& v) { return ThreadLocalRange{reinterpret_cast<std::uintptr_t>(&v), sizeof v}; };
  return {range(tls_scheduler),         range(tls_channels),     range(native_thread_slot()),
          range(arena::detail::current), range(arch::detail::tls_guard), range(arch::detail::tls_eh)};
}

void prepare_native_region(std::uintptr_t low, std::uintptr_t high) {
  NativeThread& nt = native_thread();
  if (!nt.region.low) {
    nt.region_options.base = low;
    nt.region_options.size = high - low;
    ensure_region(nt);
  }
  const auto have_low = reinterpret_cast<std::uintptr_t>(nt.region.low);
  const auto have_high = reinterpret_cast<std::uintptr_t>(nt.region.high());
  if (have_low != low || have_high != high) {
    throw SchedulerError("native restore: the snapshot's tasklets ran on a sliced-stack region at [" + hex(low) + ", " +
                         hex(high) + "), this thread's region is at [" + hex(have_low) + ", " + hex(have_high) +
                         "); restore on a thread whose region matches (configure_slice_region({.size = " +
                         std::to_string(high - low) + ", .base = " + hex(low) +
                         "}) before its first sliced tasklet)");
  }
}

RestoredNative restore_native_frame(const NativeRestore& r) {
  NativeThread& nt = native_thread();
  arch::install_overflow_handler();
  const std::size_t total = kCallableOffset + r.callable_bytes.size();
  void* mem = FrameBase::operator new(total);
  auto* f = ::new (mem) NativeFrameBase(static_cast<std::uint32_t>(total), /*sliced=*/true,
                                        static_cast<const CallableOps*>(r.callable_ops));
  try {
    if (r.started) {
      arch::copy_into_slice(f->slice, reinterpret_cast<const char*>(r.stack.data()), r.stack.size(),
                            nt.region.high());
      f->ctx.fctx = reinterpret_cast<void*>(r.context);
      f->started = true;
    } else {
      arch::copy_into_slice(f->slice, nt.stub.bytes, nt.stub.size, nt.region.high());
      f->ctx.fctx = nt.stub_fctx;
    }
  } catch (...) {
    f->~NativeFrameBase();
    FrameBase::operator delete(mem, total);
    throw;
  }
  f->ctx.stack_low = nt.region.low;
  f->ctx.stack_size = static_cast<std::uint32_t>(nt.region.size);
  f->share = r.share;
  if (!r.callable_bytes.empty()) std::memcpy(f->callable(), r.callable_bytes.data(), r.callable_bytes.size());
  ++nt.live_frames;
  RestoredNative out;
  out.frame = f;
  out.stack = reinterpret_cast<std::byte*>(f->slice.bytes);
  out.callable = static_cast<std::byte*>(f->callable());
  out.frame_address = reinterpret_cast<std::uintptr_t>(f);
  return out;
}

void attach_native(Tasklet& t, FrameBase* frame) noexcept {
  static_cast<NativeFrameBase*>(frame)->tasklet = &t;
  NativeAccess::mark_native(t);
}

void abandon_native(Tasklet& t) noexcept {
  static_cast<NativeFrameBase*>(NativeAccess::top(t))->abandoned = true;
}

void discard_restored_native(FrameBase* frame) noexcept {
  auto* f = static_cast<NativeFrameBase*>(frame);
  NativeThread& nt = native_thread();
  if (nt.owner == f) nt.owner = nullptr;
  const std::uint32_t size = f->total_size;
  f->~NativeFrameBase();
  FrameBase::operator delete(f, size);
  --nt.live_frames;
}

}  // namespace stasis::detail
