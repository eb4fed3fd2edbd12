// error.cc — messages of the structured errors, and exception classification.
#include "stasis/error.h"

#include "exception_kind.h"

namespace stasis {
namespace {

std::string deadlock_message(const std::vector<BlockedTasklet>& blocked) {
  std::string m = "deadlock: nothing is runnable, no timer is pending, and " + std::to_string(blocked.size()) +
                  (blocked.size() == 1 ? " tasklet is" : " tasklets are") + " blocked:";
  for (const auto& b : blocked) {
    m += "\n  tasklet #" + std::to_string(b.id);
    if (!b.name.empty()) m += " '" + b.name + "'";
    m += " waits: " + b.waits_on;
  }
  m += "\n(feed or close what they wait on, or kill them; the scheduler is still usable)";
  return m;
}

}  // namespace

Deadlock::Deadlock(std::vector<BlockedTasklet> blocked)
    : Error(deadlock_message(blocked)), blocked_(std::move(blocked)) {}

UnhandledTaskletError::UnhandledTaskletError(std::uint64_t id, const std::string& what)
    : Error(what), id_(id) {}

namespace detail {

bool is_tasklet_exit(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const TaskletExit&) {
    return true;
  } catch (...) {
    return false;
  }
}

std::string describe_exception(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "a non-std::exception";
  }
}

}  // namespace detail
}  // namespace stasis
