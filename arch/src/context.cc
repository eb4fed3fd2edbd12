// context.cc — the switch between contexts: Boost.Context's fcontext plus the
// sanitizer annotations and the C++ exception state it does not keep.
//
// Each switch passes a Hop (on the switching stack) to the target: it tells the
// target who stopped where, so the target records the other side's fctx, and a
// context that runs for the first time finds itself (hop->to).
#include "stasis/arch/context.h"

#include <boost/context/detail/fcontext.hpp>

#if defined(__SANITIZE_ADDRESS__)
#define STASIS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STASIS_ASAN 1
#endif
#endif

#if STASIS_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace stasis::arch {
namespace {

namespace fc = boost::context::detail;

struct Hop {
  Context* from;
  Context* to;
};

// The Itanium C++ ABI's per-thread exception state (libstdc++ and libc++abi both
// lay it out so): the exceptions being handled, innermost first, and the count of
// exceptions thrown but not yet caught.
struct EhGlobals {
  void* caught;
  unsigned uncaught;
};
extern "C" EhGlobals* __cxa_get_globals() noexcept;

thread_local EhGlobals* tls_eh = nullptr;

inline EhGlobals* eh_globals() noexcept {
  EhGlobals* g = tls_eh;
  if (!g) [[unlikely]] g = tls_eh = __cxa_get_globals();
  return g;
}

inline void start_switch(void** fake_stack_save, const Context& to) noexcept {
#if STASIS_ASAN
  __sanitizer_start_switch_fiber(fake_stack_save, to.stack_low, to.stack_size);
#else
  (void)fake_stack_save;
  (void)to;
#endif
}

// Called first thing after arriving in a context; `from` is where we came from.
inline void finish_switch(void* fake_stack, Context* from) noexcept {
#if STASIS_ASAN
  const void* low = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(fake_stack, &low, &size);
  if (from && !from->stack_low) {  // a thread's own stack: learned on its first switch away
    from->stack_low = static_cast<char*>(const_cast<void*>(low));
    from->stack_size = size;
  }
#else
  (void)fake_stack;
  (void)from;
#endif
}

void trampoline(fc::transfer_t t) {
  Hop* hop = static_cast<Hop*>(t.data);
  Context* from = hop->from;
  Context* self = hop->to;
  from->fctx = t.fctx;
  finish_switch(nullptr, from);
  EhGlobals* g = eh_globals();
  g->caught = nullptr;
  g->uncaught = 0;
  self->entry(self, from);
  __builtin_trap();  // entry functions end with exit_context()
}

}  // namespace

void make_context(Context& ctx, char* low, std::size_t size, EntryFn entry) {
  ctx.entry = entry;
  ctx.stack_low = low;
  ctx.stack_size = size;
  ctx.asan_fake_stack = nullptr;
  ctx.eh_caught = nullptr;
  ctx.eh_uncaught = 0;
  ctx.fctx = fc::make_fcontext(low + size, size, &trampoline);
}

Context* switch_context(Context& self, Context& to) {
  EhGlobals* g = eh_globals();
  self.eh_caught = g->caught;
  self.eh_uncaught = g->uncaught;
  Hop hop{&self, &to};
  start_switch(&self.asan_fake_stack, to);
  fc::transfer_t t = fc::jump_fcontext(to.fctx, &hop);
  Hop* back = static_cast<Hop*>(t.data);
  Context* from = back->from;
  from->fctx = t.fctx;
  finish_switch(self.asan_fake_stack, from);
  g = eh_globals();
  g->caught = self.eh_caught;
  g->uncaught = self.eh_uncaught;
  return from;
}

void forget_stack_poison(const Context& ctx) noexcept {
#if STASIS_ASAN
  if (ctx.stack_low) __asan_unpoison_memory_region(ctx.stack_low, ctx.stack_size);
#else
  (void)ctx;
#endif
}

void exit_context(Context& self, Context& to) {
  Hop hop{&self, &to};
  start_switch(nullptr, to);  // null: ASan may free this context's fake stack
  fc::jump_fcontext(to.fctx, &hop);
  __builtin_trap();  // nothing switches back to an exited context
}

}  // namespace stasis::arch
