// overflow.cc — the SIGSEGV handler that names the tasklet whose stack overflowed.
#include "stasis/arch/overflow.h"

#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>

#include "stasis/arch/platform.h"

namespace stasis::arch {
namespace {

thread_local bool tls_altstack_installed = false;
struct sigaction previous_segv;
struct sigaction previous_bus;
std::once_flag handler_once;

// Faults this far below a guard page still count as an overflow of that stack: a
// frame bigger than the guard can skip it.
constexpr std::uintptr_t kSkipSlack = 64 * 1024;

bool is_overflow(const GuardInfo& g, std::uintptr_t addr, std::uintptr_t sp) {
  auto low = reinterpret_cast<std::uintptr_t>(g.stack.low);
  auto guard_low = low - g.stack.guard;
  bool addr_near_guard = addr < low && addr + kSkipSlack >= guard_low;
  bool sp_below = sp < low && sp + kSkipSlack >= guard_low;
  return addr_near_guard || sp_below;
}

void write_all(const char* s) {
  std::size_t n = std::strlen(s);
  while (n > 0) {
    ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

void chain(const struct sigaction& prev, int sig, siginfo_t* info, void* uc) {
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) return prev.sa_sigaction(sig, info, uc);
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    return prev.sa_handler(sig);
  }
  // Default action: reinstall it; returning re-executes the fault, which then kills.
  signal(sig, SIG_DFL);
}

void on_fault(int sig, siginfo_t* info, void* uc) {
  const GuardInfo* g = running_guard();
  auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  if (g && is_overflow(*g, addr, interrupted_stack_pointer(uc))) {
    char who[160] = "a native tasklet";
    if (g->describe) g->describe(g->arg, who, sizeof who);
    char msg[400];
    std::snprintf(msg, sizeof msg,
                  "stasis: stack overflow in %s (%s of %zu bytes at %p; fault at %p in the guard below it). "
                  "Give it a bigger stack (NativeOptions::stack_size, or SliceRegionOptions::size for sliced "
                  "tasklets) or recurse less.\n",
                  who, g->kind, g->stack.size, static_cast<void*>(g->stack.low), info->si_addr);
    write_all(msg);
    signal(sig, SIG_DFL);  // returning re-executes the fault, which now kills the process
    return;
  }
  chain(sig == SIGBUS ? previous_bus : previous_segv, sig, info, uc);
}

void install_altstack() {
  if (tls_altstack_installed) return;
  stack_t current{};
  if (sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE) && current.ss_size >= 16384) {
    tls_altstack_installed = true;  // the thread (or a sanitizer) has one already
    return;
  }
  // Leaked on purpose: a thread's alternate stack must stay valid as long as the
  // thread can take a signal.
  std::size_t size = 64 * 1024;
  void* mem = ::operator new(size, std::nothrow);
  if (!mem) return;
  stack_t ss{};
  ss.ss_sp = mem;
  ss.ss_size = size;
  if (sigaltstack(&ss, nullptr) == 0) tls_altstack_installed = true;
}

}  // namespace

void install_overflow_handler() {
  std::call_once(handler_once, [] {
    struct sigaction sa{};
    sa.sa_sigaction = &on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
    sigaction(SIGBUS, &sa, &previous_bus);
  });
  install_altstack();
}


}  // namespace stasis::arch
