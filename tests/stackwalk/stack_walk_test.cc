// stack_walk_test.cc — the stack walker on real suspended contexts.
//
// Each test runs a chain of noinline functions on its own guarded stack (an
// arch::Context), suspends it deep inside with a plain arch::switch_context, and
// walks it from arch::suspended_registers(fctx): live, offline from a copy of the
// stack bytes, with libdw's generic unwinder as the reference, and on garbage.
// Every context is resumed and finishes before its test ends.
#include <gtest/gtest.h>
#include <alloca.h>
#include <link.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "stasis/arch/context.h"
#include "stasis/arch/stack.h"
#include "stasis/arch/suspended.h"
#include "stasis/persist/stack_walk.h"

namespace stackwalk_test {

namespace arch = stasis::arch;
namespace persist = stasis::persist;

arch::Context g_main, g_task;
std::function<void()> g_body;
int g_inner_line = 0, g_middle_line = 0, g_outer_line = 0;

// The one entry function of this process's contexts.
void entry(arch::Context* self, arch::Context*) {
  g_body();
  arch::forget_stack_poison(*self);
  arch::exit_context(*self, g_main);
}

// Runs `body` on a fresh stack until it suspends (switches back to g_main);
// the destructor resumes it to its end and frees the stack.
class Suspended {
 public:
  explicit Suspended(std::function<void()> body, std::size_t stack_size = std::size_t{1} << 20) {
    stack_ = arch::map_stack(stack_size);
    g_body = std::move(body);
    arch::make_context(g_task, stack_.low, stack_.size, &entry);
    arch::switch_context(g_main, g_task);
  }
  ~Suspended() {
    arch::switch_context(g_main, g_task);  // runs to exit_context
    arch::unmap_stack(stack_);
  }
  std::uint64_t fctx() const { return reinterpret_cast<std::uintptr_t>(g_task.fctx); }
  std::uint64_t low() const { return reinterpret_cast<std::uintptr_t>(stack_.low); }
  std::uint64_t high() const { return reinterpret_cast<std::uintptr_t>(stack_.high()); }
  std::span<const std::byte> live_bytes() const {
    return {reinterpret_cast<const std::byte*>(stack_.low), stack_.size};
  }
  // A copy of the whole stack, as freeze or a snapshot has it. Not instrumented:
  // under AddressSanitizer the suspended frames' redzones are still poisoned.
  __attribute__((no_sanitize("address"))) std::vector<std::byte> copy() const {
    std::vector<std::byte> out(stack_.size);
    const volatile std::byte* from = reinterpret_cast<const volatile std::byte*>(stack_.low);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = from[i];
    return out;
  }

 private:
  arch::StackMemory stack_;
};

void suspend() { arch::switch_context(g_task, g_main); }

[[gnu::noipa]] int inner(std::string& s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "inner %zu", s.size());
  s += buf;
  g_inner_line = __LINE__; arch::switch_context(g_task, g_main);
  return static_cast<int>(s.size()) + buf[0];
}

[[gnu::noipa]] int middle(int n) {
  std::string local(static_cast<std::size_t>(n), 'm');
  volatile int keep = n * 3;
  g_middle_line = __LINE__; int r = inner(local);
  return r + keep;
}

[[gnu::noipa]] int outer() {
  volatile long pad[4] = {1, 2, 3, 4};
  g_outer_line = __LINE__; int r = middle(7);
  return r + static_cast<int>(pad[2]);
}

// Over-aligned locals plus alloca make GCC realign the stack through a DRAP
// register; on x86_64 its CFI then uses DWARF expressions (DW_CFA_def_cfa_expression),
// which the fast path hands to libdw's unwinder.
[[gnu::noipa]] int realigned(int n) {
  alignas(64) volatile char buf[64];
  volatile char* dynamic = static_cast<volatile char*>(alloca(static_cast<std::size_t>(n) + 16));
  dynamic[0] = 1;
  buf[0] = static_cast<char>(n);
  int r = middle(n);
  return r + buf[0] + dynamic[0];
}

[[gnu::noipa]] int recurse(int n) {
  volatile int here = n;
  if (n == 0) {
    suspend();
    return 0;
  }
  return recurse(n - 1) + here;
}

std::unique_ptr<persist::StackWalker>& live_walker() {
  static std::unique_ptr<persist::StackWalker> w = persist::StackWalker::for_this_process();
  return w;
}

persist::RegisterSet registers_of(const Suspended& s, const persist::ReadMemory& read) {
  std::optional<persist::RegisterSet> regs = arch::suspended_registers(s.fctx(), read);
  EXPECT_TRUE(regs.has_value());
  return regs.value_or(persist::RegisterSet{});
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const char* suffix) {
  std::size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

std::string describe(const std::vector<persist::WalkedFrame>& frames) {
  std::string out;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    char head[96];
    std::snprintf(head, sizeof head, "#%zu pc=%#llx sp=%#llx cfa=%#llx slot=%#llx ", i,
                  static_cast<unsigned long long>(frames[i].pc), static_cast<unsigned long long>(frames[i].sp),
                  static_cast<unsigned long long>(frames[i].cfa),
                  static_cast<unsigned long long>(frames[i].return_address_slot));
    out += head + frames[i].function + " (" + frames[i].file + ":" + std::to_string(frames[i].line) + ") [" +
           frames[i].module + "]\n";
  }
  return out;
}

// Index of the first frame whose function starts with `prefix`, or frames.size().
std::size_t find_frame(const std::vector<persist::WalkedFrame>& frames, const char* prefix) {
  for (std::size_t i = 0; i < frames.size(); ++i)
    if (starts_with(frames[i].function, prefix)) return i;
  return frames.size();
}

std::function<void()> chain_body() {
  return [] { outer(); };
}

TEST(StackWalk, FramesOfASuspendedChainInOrder) {
  Suspended s(chain_body());
  persist::ReadMemory read = persist::read_from_bytes(s.low(), s.live_bytes());
  std::vector<persist::WalkedFrame> frames = live_walker()->walk(registers_of(s, read), read);
  SCOPED_TRACE(describe(frames));
  std::size_t k = find_frame(frames, "stackwalk_test::inner(");
  ASSERT_LT(k + 2, frames.size());
  for (std::size_t i = 0; i < k; ++i) {  // an out-of-line switch_context (unoptimized builds)
    EXPECT_TRUE(starts_with(frames[i].function, "stasis::arch::")) << frames[i].function;
  }
  EXPECT_TRUE(starts_with(frames[k + 1].function, "stackwalk_test::middle(int)"));
  EXPECT_TRUE(starts_with(frames[k + 2].function, "stackwalk_test::outer()"));
  std::size_t e = find_frame(frames, "stackwalk_test::entry(");
  EXPECT_GT(e, k + 2);
  EXPECT_LT(e, frames.size());
  // The bottom of every context: Boost's make_fcontext stub, where CFI ends.
  EXPECT_EQ(frames.back().function, "make_fcontext");
  EXPECT_LE(frames.size(), e + 3);  // entry, [the trampoline], make_fcontext's stub
}

TEST(StackWalk, StackPointersGrowAndSlotsHoldReturnAddresses) {
  Suspended s(chain_body());
  persist::ReadMemory read = persist::read_from_bytes(s.low(), s.live_bytes());
  persist::RegisterSet regs = registers_of(s, read);
  EXPECT_EQ(regs.sp, s.fctx() + arch::switch_block().size);
  std::vector<persist::WalkedFrame> frames = live_walker()->walk(regs, read);
  SCOPED_TRACE(describe(frames));
  ASSERT_GE(frames.size(), 4u);
  EXPECT_EQ(frames[0].pc, regs.pc);
  EXPECT_EQ(frames[0].sp, regs.sp);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    EXPECT_GE(frames[i].sp, s.low());
    EXPECT_LE(frames[i].sp, s.high());  // the bottom frame (make_fcontext's stub) starts at the top
    if (i + 1 == frames.size()) break;
    EXPECT_LT(frames[i].sp, frames[i + 1].sp);
    EXPECT_EQ(frames[i].cfa, frames[i + 1].sp);
    // Every frame here made a call, so its return address is on the stack, inside it.
    const std::uint64_t slot = frames[i].return_address_slot;
    ASSERT_NE(slot, 0u) << "frame " << i;
    EXPECT_GE(slot, frames[i].sp);
    EXPECT_LT(slot, frames[i + 1].sp);
    std::uint64_t word = 0;
    ASSERT_TRUE(read(slot, &word));
    EXPECT_EQ(word & arch::switch_block().code_address_mask, frames[i + 1].pc) << "frame " << i;
  }
}

TEST(StackWalk, SourceLinesPointAtTheCalls) {
  Suspended s(chain_body());
  persist::ReadMemory read = persist::read_from_bytes(s.low(), s.live_bytes());
  std::vector<persist::WalkedFrame> frames = live_walker()->walk(registers_of(s, read), read);
  SCOPED_TRACE(describe(frames));
  std::size_t k = find_frame(frames, "stackwalk_test::inner(");
  ASSERT_LT(k + 2, frames.size());
  const int lines[] = {g_inner_line, g_middle_line, g_outer_line};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(ends_with(frames[k + i].file, "stack_walk_test.cc")) << frames[k + i].file;
    EXPECT_EQ(frames[k + i].line, lines[i]) << frames[k + i].function;
    EXPECT_TRUE(ends_with(frames[k + i].module, "stasis_stackwalk_tests")) << frames[k + i].module;
    EXPECT_GT(frames[k + i].function_offset, 0u);
  }
}

// The fast path against libdw's own unwinder: the same pcs and stack pointers.
void expect_same_as_libdw(const persist::RegisterSet& regs, const persist::ReadMemory& read) {
  std::vector<persist::UnwoundFrame> fast;
  live_walker()->unwind(regs, read, &fast);
  std::vector<persist::UnwoundFrame> reference = live_walker()->unwind_with_libdw(regs, read);
  ASSERT_EQ(fast.size(), reference.size());
  for (std::size_t i = 0; i < fast.size(); ++i) {
    EXPECT_EQ(fast[i].pc, reference[i].pc) << "frame " << i;
    EXPECT_EQ(fast[i].sp, reference[i].sp) << "frame " << i;
  }
}

TEST(StackWalk, AgreesWithLibdwsUnwinder) {
  Suspended s(chain_body());
  persist::ReadMemory read = persist::read_from_bytes(s.low(), s.live_bytes());
  expect_same_as_libdw(registers_of(s, read), read);
}

TEST(StackWalk, ThousandDeepRecursionWalksFully) {
  Suspended s([] { recurse(1000); });
  persist::ReadMemory read = persist::read_from_bytes(s.low(), s.live_bytes());
  persist::RegisterSet regs = registers_of(s, read);
  std::vector<persist::WalkedFrame> frames = live_walker()->walk(regs, read);
  std::size_t recursions = 0;
  for (const persist::WalkedFrame& f : frames) recursions += starts_with(f.function, "stackwalk_test::recurse(int)");
  EXPECT_EQ(recursions, 1001u);
  EXPECT_EQ(frames.back().function, "make_fcontext");
  expect_same_as_libdw(regs, read);
  // max_frames cuts the walk.
  std::vector<persist::UnwoundFrame> cut;
  EXPECT_EQ(live_walker()->unwind(regs, read, &cut, 10), 10u);
}

TEST(StackWalk, ExpressionRulesContinueWithLibdw) {
  Suspended s([] { realigned(5); });
  persist::ReadMemory read = persist::read_from_bytes(s.low(), s.live_bytes());
  std::unique_ptr<persist::StackWalker> w = persist::StackWalker::for_this_process();
  std::vector<persist::WalkedFrame> frames = w->walk(registers_of(s, read), read);
  SCOPED_TRACE(describe(frames));
  std::size_t k = find_frame(frames, "stackwalk_test::inner(");
  ASSERT_LT(k + 2, frames.size());
  EXPECT_TRUE(starts_with(frames[k + 1].function, "stackwalk_test::middle(int)"));
  EXPECT_TRUE(starts_with(frames[k + 2].function, "stackwalk_test::realigned(int)"));
  EXPECT_LT(find_frame(frames, "stackwalk_test::entry("), frames.size());
  EXPECT_EQ(frames.back().function, "make_fcontext");
  for (std::size_t i = 1; i < frames.size(); ++i) EXPECT_LT(frames[i - 1].sp, frames[i].sp);
  std::printf("[fallback] libdw finished %llu of %llu walks\n",
              static_cast<unsigned long long>(w->stats().libdw_fallbacks),
              static_cast<unsigned long long>(w->stats().walks));
#if defined(__x86_64__) && defined(__OPTIMIZE__)
  EXPECT_GT(w->stats().libdw_fallbacks, 0u);
#endif
  expect_same_as_libdw(registers_of(s, read), read);
}

std::vector<persist::WalkModule> loaded_modules() {
  std::vector<persist::WalkModule> modules;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* arg) {
        auto* out = static_cast<std::vector<persist::WalkModule>*>(arg);
        std::string path = info->dlpi_name ? info->dlpi_name : "";
        if (out->empty() && path.empty()) {
          char exe[PATH_MAX];
          if (realpath("/proc/self/exe", exe)) path = exe;
        }
        out->push_back({path, info->dlpi_addr});
        return 0;
      },
      &modules);
  return modules;
}

TEST(StackWalk, OfflineFromACopyGivesTheSameFrames) {
  Suspended s(chain_body());
  persist::ReadMemory live = persist::read_from_bytes(s.low(), s.live_bytes());
  std::vector<persist::WalkedFrame> expected = live_walker()->walk(registers_of(s, live), live);

  std::vector<std::byte> copy = s.copy();
  persist::ReadMemory read = persist::read_from_bytes(s.low(), copy);
  std::vector<persist::WalkModule> modules = loaded_modules();
  std::unique_ptr<persist::StackWalker> offline = persist::StackWalker::for_modules(modules);
  std::vector<persist::WalkedFrame> frames = offline->walk(registers_of(s, read), read);
  SCOPED_TRACE(describe(frames));
  ASSERT_EQ(frames.size(), expected.size());
  for (std::size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].pc, expected[i].pc);
    EXPECT_EQ(frames[i].sp, expected[i].sp);
    EXPECT_EQ(frames[i].cfa, expected[i].cfa);
    EXPECT_EQ(frames[i].return_address_slot, expected[i].return_address_slot);
    EXPECT_EQ(frames[i].function, expected[i].function);
    EXPECT_EQ(frames[i].file, expected[i].file);
    EXPECT_EQ(frames[i].line, expected[i].line);
  }
}

TEST(StackWalk, GarbageNeverCrashes) {
  Suspended s(chain_body());
  persist::ReadMemory live = persist::read_from_bytes(s.low(), s.live_bytes());
  const persist::RegisterSet real = registers_of(s, live);
  const std::uint64_t code[] = {real.pc, reinterpret_cast<std::uintptr_t>(&outer),
                                reinterpret_cast<std::uintptr_t>(&recurse) + 9, reinterpret_cast<std::uintptr_t>(&::malloc)};
  std::mt19937_64 rng(12345);
  std::vector<std::uint64_t> words(4096);
  const std::uint64_t base = 0x10000000;
  auto bytes = std::as_bytes(std::span(words));
  persist::ReadMemory read = persist::read_from_bytes(base, bytes);
  std::vector<persist::UnwoundFrame> frames;
  for (int round = 0; round < 3000; ++round) {
    for (auto& w : words) {  // random words, code addresses and stack addresses mixed
      std::uint64_t r = rng();
      w = r % 3 == 0 ? code[r % 4] + (r >> 60) : r % 3 == 1 ? base + (r >> 40) % (words.size() * 8) : r;
    }
    persist::RegisterSet regs;
    regs.pc = round % 2 ? code[round % 4] : rng();
    regs.sp = base + (rng() % words.size()) * 8;
    for (int r = 0; r < persist::RegisterSet::kSlots; ++r) regs.set(r, rng() % 2 ? rng() : regs.sp + rng() % 512);
    regs.pc_after_call = round % 3 != 0;
    live_walker()->unwind(regs, read, &frames, 4096);
    ASSERT_LE(frames.size(), words.size() + 1);
    for (std::size_t i = 1; i < frames.size(); ++i) ASSERT_LT(frames[i - 1].sp, frames[i].sp);
    if (round % 10 == 0) {
      std::vector<persist::UnwoundFrame> ref = live_walker()->unwind_with_libdw(regs, read, 4096);
      ASSERT_LE(ref.size(), words.size() + 1);
      (void)live_walker()->walk(regs, read, 64);
    }
    (void)arch::suspended_registers(base + (rng() % (words.size() * 8 + 64)), read);
  }
  // Unreadable memory everywhere: one frame at most.
  persist::ReadMemory nothing = [](std::uint64_t, std::uint64_t*) { return false; };
  EXPECT_LE(live_walker()->unwind(real, nothing, &frames), 1u);
  EXPECT_FALSE(arch::suspended_registers(s.fctx(), nothing).has_value());
}

// Per-walk cost, printed (not asserted): the freeze benchmark needs a few µs per
// tasklet at most.
// Runs f for about 50 ms (at least once); returns its mean time.
double microseconds_per_call(const std::function<void()>& f) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  long n = 0;
  do {
    f();
    ++n;
  } while (Clock::now() - t0 < std::chrono::milliseconds(50));
  std::chrono::duration<double, std::micro> d = Clock::now() - t0;
  return d.count() / static_cast<double>(n);
}

void report_cost(const char* what, const Suspended& s) {
  std::vector<std::byte> copy = s.copy();
  persist::ReadMemory read = persist::read_from_bytes(s.low(), copy);
  persist::RegisterSet regs = registers_of(s, read);
  std::unique_ptr<persist::StackWalker> w = persist::StackWalker::for_this_process();
  std::vector<persist::UnwoundFrame> frames;
  auto t0 = std::chrono::steady_clock::now();
  w->unwind(regs, read, &frames);
  std::chrono::duration<double, std::micro> cold = std::chrono::steady_clock::now() - t0;
  double unwind = microseconds_per_call([&] { w->unwind(regs, read, &frames); });
  t0 = std::chrono::steady_clock::now();
  (void)w->walk(regs, read);  // the first symbols read the symbol tables and DWARF
  std::chrono::duration<double, std::micro> cold_symbols = std::chrono::steady_clock::now() - t0;
  double walk = microseconds_per_call([&] { (void)w->walk(regs, read); });
  std::size_t named = 0;
  double refs = microseconds_per_call([&] {  // unwind + a cached symbol reference per frame
    w->unwind(regs, read, &frames);
    for (const persist::UnwoundFrame& f : frames) named += !w->symbolize(f.pc - 1).function.empty();
  });
  double libdw = microseconds_per_call([&] { (void)w->unwind_with_libdw(regs, read); });
  std::printf("[cost] %s: %zu frames; unwind cold %.1f us, warm %.3f us (%.1f ns/frame); first symbols %.0f us; "
              "unwind+symbol refs %.3f us; walk (copied symbols) %.2f us; libdw unwinder %.1f us\n",
              what, frames.size(), cold.count(), unwind, unwind * 1000 / static_cast<double>(frames.size()),
              cold_symbols.count(), refs, walk, libdw);
  EXPECT_GT(frames.size(), 3u);
  EXPECT_GT(named, 0u);
}

TEST(StackWalk, CostPerWalk) {
  {
    Suspended s(chain_body());
    report_cost("chain", s);
  }
  {
    Suspended s([] { recurse(1000); });
    report_cost("recursion 1000", s);
  }
}

}  // namespace stackwalk_test
