// stasis/accounting.h — a switch-hook monitor: per-tasklet steps, slices and time.
//
// Accounting registers one switch hook on a scheduler and charges each tasklet
// with the frame steps executed and the wall time spent between being switched in
// and switched out, and counts how often it was switched in.
//
// Invariant: usage is charged only while the monitor is installed; the monitor
// must not outlive its scheduler.
#ifndef STASIS_ACCOUNTING_H_
#define STASIS_ACCOUNTING_H_

#include <chrono>
#include <cstdint>
#include <unordered_map>

#include "stasis/scheduler.h"

namespace stasis {

class Accounting {
 public:
  struct Usage {
    std::uint64_t slices = 0;  // times switched in
    std::uint64_t steps = 0;   // frame steps executed
    std::chrono::nanoseconds time{0};
  };

  explicit Accounting(Scheduler& s);
  ~Accounting();
  Accounting(const Accounting&) = delete;
  Accounting& operator=(const Accounting&) = delete;

  // Usage of tasklet `id` so far (zero if it never ran while installed).
  Usage usage(std::uint64_t id) const;
  const std::unordered_map<std::uint64_t, Usage>& all() const noexcept { return usage_; }

 private:
  void on_switch(Tasklet* prev, Tasklet* next);

  Scheduler& s_;
  HookId hook_;
  std::unordered_map<std::uint64_t, Usage> usage_;
  std::uint64_t steps_at_switch_in_ = 0;
  Scheduler::Clock::time_point time_at_switch_in_{};
};

}  // namespace stasis

#endif  // STASIS_ACCOUNTING_H_
