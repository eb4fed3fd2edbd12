// context.cc — the switch between contexts: Boost.Context's fcontext plus the
// sanitizer annotations and the C++ exception state it does not keep.
//
// The switch itself is inline in the header. Each switch passes a Hop (on the
// switching stack) to the target: it tells the target who stopped where, so the
// target records the other side's fctx, and a context that runs for the first
// time finds itself (hop->to).
#include "stasis/arch/context.h"

#include <boost/context/detail/fcontext.hpp>

#include <atomic>
#include <stdexcept>

#if STASIS_ARCH_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace stasis::arch {
namespace detail {

extern "C" EhGlobals* __cxa_get_globals() noexcept;

EhGlobals* load_eh_globals() noexcept { return tls_eh = __cxa_get_globals(); }

}  // namespace detail

namespace {

namespace fc = boost::context::detail;
using detail::Hop;

// The entry function of every made context.
std::atomic<EntryFn> process_entry{nullptr};

void trampoline(fc::transfer_t t) {
  Hop* hop = static_cast<Hop*>(t.data);
  Context* from = hop->from;
  Context* self = hop->to;
  hop->from = nullptr;  // as in switch_context: the sender's parked stack keeps no pointer to us
  hop->to = nullptr;
  from->fctx = t.fctx;
  detail::finish_switch(nullptr, from);
  detail::EhGlobals* g = detail::eh_globals();
  g->caught = nullptr;
  g->uncaught = 0;
  // A tail call: the trampoline's frame does not stay under the entry's (entry
  // functions end with exit_context() and never return).
  return process_entry.load(std::memory_order_relaxed)(self, from);
}

}  // namespace

void make_context(Context& ctx, char* low, std::size_t size, EntryFn entry) {
  if (size > kMaxStackSize || size < 256) throw std::length_error("make_context: bad stack size");
  EntryFn expected = nullptr;
  if (!process_entry.compare_exchange_strong(expected, entry) && expected != entry) {
    throw std::logic_error("make_context: one entry function per process");
  }
  ctx.stack_low = low;
  ctx.stack_size = static_cast<std::uint32_t>(size);
  ctx.asan_fake_stack = nullptr;
  ctx.eh_caught = nullptr;
  ctx.eh_uncaught = 0;
  ctx.fctx = fc::make_fcontext(low + size, size, &trampoline);
}

void exit_context(Context& self, Context& to) {
  Hop hop{&self, &to};
  detail::start_switch(nullptr, to);  // null: ASan may free this context's fake stack
  fc::jump_fcontext(to.fctx, &hop);
  __builtin_trap();  // nothing switches back to an exited context
}

}  // namespace stasis::arch
