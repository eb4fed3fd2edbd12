// accounting.cc — the per-tasklet usage monitor.
#include "stasis/accounting.h"

namespace stasis {

Accounting::Accounting(Scheduler& s) : s_(s) {
  hook_ = s_.add_switch_hook([this](Tasklet* prev, Tasklet* next) { on_switch(prev, next); });
}

Accounting::~Accounting() { s_.remove_switch_hook(hook_); }

Accounting::Usage Accounting::usage(std::uint64_t id) const {
  auto it = usage_.find(id);
  return it == usage_.end() ? Usage{} : it->second;
}

void Accounting::on_switch(Tasklet* prev, Tasklet* next) {
  auto now = Scheduler::Clock::now();
  if (prev) {
    Usage& u = usage_[prev->id()];
    u.steps += s_.steps() - steps_at_switch_in_;
    u.time += std::chrono::duration_cast<std::chrono::nanoseconds>(now - time_at_switch_in_);
  }
  if (next) {
    ++usage_[next->id()].slices;
    steps_at_switch_in_ = s_.steps();
    time_at_switch_in_ = now;
  }
}

}  // namespace stasis
