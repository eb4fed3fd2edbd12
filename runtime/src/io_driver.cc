// io_driver.cc — the per-thread io_context as the scheduler's IoDriver, and the
// plumbing of the use_tasklet completion token (park with a ticket, wake from the
// handler).
//
// Invariants:
//   - one AsioDriver per thread, owned by a thread_local holder; a scheduler
//     points at it only while it is installed (Scheduler::set_io_driver);
//   - the driver never stores a Scheduler*: context() compares the current
//     scheduler's io_driver() with the driver on every call, so a scheduler that
//     died (and a new one, perhaps at the same address) needs no notification;
//   - an operation's completion lives in heap state (detail::OpBase) shared with
//     its handler; the handler wakes the tasklet only through stasis::wake with the
//     park's ticket, which is a no-op once that park is over (kill, throw).
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "stasis/io.h"
#include "stasis/native.h"

namespace stasis::io {
namespace {

class AsioDriver final : public IoDriver {
 public:
  // One thread drives it: concurrency hint 1 lets Asio skip some locking.
  asio::io_context ctx{1};

  void poll() override {
    if (ctx.stopped()) ctx.restart();  // an io_context that ran out of work stays stopped
    ctx.poll();
  }

  void wait_until(std::chrono::steady_clock::time_point deadline) override {
    if (ctx.stopped()) ctx.restart();
    if (ctx.run_one_until(deadline) > 0) {
      ctx.poll();  // everything else that is ready, in the same turn
      return;
    }
    // Out of work: no Asio operation is pending, so nothing will ever wake the
    // tasklets parked in kIo. With a timer to wait for, the scheduler goes on;
    // without one, report the deadlock rather than spin.
    if (ctx.stopped() && deadline == std::chrono::steady_clock::time_point::max()) {
      if (Scheduler* s = Scheduler::current_or_null()) throw Deadlock(s->blocked_tasklets());
    }
  }
};

// Drivers whose thread ended while their scheduler still had live tasklets (a
// thread-owned scheduler is destroyed after this holder when it was created
// first): those tasklets' sockets are closed when the scheduler kills them, so
// the context must stay valid. Reachable from here, so not reported as a leak.
std::vector<std::unique_ptr<AsioDriver>>& retired_drivers() {
  static auto* v = new std::vector<std::unique_ptr<AsioDriver>>;
  return *v;
}
std::mutex retired_mutex;

struct DriverHolder {
  std::unique_ptr<AsioDriver> driver;
  ~DriverHolder() {
    Scheduler* s = Scheduler::current_or_null();
    if (!driver || !s || s->io_driver() != driver.get()) return;  // scheduler gone first: nothing points here
    s->set_io_driver(nullptr);
    if (s->alive_count() > 0) {
      std::lock_guard lock(retired_mutex);
      retired_drivers().push_back(std::move(driver));
    }
  }
};
thread_local DriverHolder tls_driver;

AsioDriver& driver() {
  DriverHolder& h = tls_driver;
  if (!h.driver) h.driver = std::make_unique<AsioDriver>();
  Scheduler* s = Scheduler::current_or_null();  // none yet: installed by the first wait
  if (s && s->io_driver() != h.driver.get()) {
    if (s->io_driver() != nullptr) {
      throw SchedulerError("stasis::io: this thread's scheduler already drives another IoDriver; "
                           "stasis::io needs its own (remove the other with set_io_driver(nullptr))");
    }
    s->set_io_driver(h.driver.get());
  }
  return *h.driver;
}

}  // namespace

asio::io_context& context() { return driver().ctx; }

IoError::IoError(const std::string& what, error_code code)
    : Error(what + " [" + code.message() + "]"), code_(code) {}

namespace detail {

void begin_op(OpBase& op, const char* what) {
  if (!this_tasklet::is_native()) {
    Tasklet* t = this_tasklet::get();
    throw CannotBlock(std::string("stasis::io: ") + what + " would block " +
                      (t ? "in soft " + t->label() + "; soft frames cannot wait for I/O, spawn a native tasklet (spawn_native) for it"
                         : std::string("outside any tasklet; call it from a native tasklet (spawn_native)")));
  }
  Tasklet* t = this_tasklet::get();
  // Refused before the operation starts: a park that fails after it started would
  // leave its ticket to the tasklet's next park.
  if (t->block_trap()) {
    throw BlockTrap(std::string("stasis::io: ") + what + " would block " + t->label() + ", whose block_trap is set");
  }
  driver();  // the scheduler must poll this context while we wait
  op.tasklet = TaskletRef(t);
  op.ticket = this_tasklet::park_ticket();
}

void park_until_done(OpBase& op) {
  this_tasklet::park(WaitKind::kIo);
  if (!op.done) {
    throw SchedulerError("stasis::io: " + (op.tasklet ? op.tasklet->label() : std::string("a tasklet")) +
                         " was woken from an I/O wait before its operation completed");
  }
}

void complete(OpBase& op) noexcept {
  op.done = true;
  TaskletRef t = std::move(op.tasklet);  // the handler keeps no tasklet alive afterwards
  // A tasklet killed meanwhile (perhaps with its scheduler gone) is not alive:
  // its park is over, and wake() is not even asked.
  if (t && t->alive()) wake(*t, op.ticket);
}

void check_not_on_slice(const void* data, std::size_t size) {
  auto [low, high] = slice_region_bounds();
  auto p = reinterpret_cast<std::uintptr_t>(data);
  if (size == 0 || low == high || p >= high || p + size <= low) return;
  throw InvalidArgument(
      "stasis::io::use_tasklet: an I/O buffer of " + std::to_string(size) +
      " bytes points into the sliced-stack region; a sliced tasklet's stack moves while it waits, so Asio "
      "must not hold it. Put the buffer on the heap (std::string, std::vector, unique_ptr) or use the "
      "stasis::io helpers (read_line, read_some, write_all)");
}

void throw_foreign_executor() {
  throw InvalidArgument(
      "stasis::io::use_tasklet: the I/O object belongs to another io_context, which this thread's scheduler "
      "does not drive; create sockets, acceptors and timers with stasis::io::context()");
}

}  // namespace detail
}  // namespace stasis::io
