// ctx.cc — switching between soft tasklets, and the errors frames raise.
#include "stasis/ctx.h"

#include <string>

namespace stasis {
namespace detail {

void throw_type_mismatch(const Tasklet& t, const char* what, const std::any& got, const std::type_info& want) {
  throw TypeMismatch(t.label() + ": " + what + " has type " + (got.has_value() ? got.type().name() : "<none>") +
                     ", but " + want.name() + " was expected");
}

void throw_bad_resume_point(const FrameBase& f) {
  throw BadResumePoint(std::string("frame ") + f.type_name() + " has no resume point " +
                       std::to_string(f.resume_point()) +
                       "; the frame's code and its saved state disagree (register a new frame version "
                       "when suspension points change)");
}

}  // namespace detail

bool Ctx::switch_to(Tasklet& target, std::any value, bool suspend) {
  s_.wake_for_switch(&target);
  target.slot_ = std::move(value);
  if (!suspend) return false;
  if (t_.block_trap()) {
    throw BlockTrap(t_.label() + ": switching to " + target.label() + " would block, and its block_trap is set");
  }
  s_.block_current(WaitKind::kSwitch);
  return true;
}

}  // namespace stasis
