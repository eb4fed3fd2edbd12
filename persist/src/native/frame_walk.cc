// frame_walk.cc — see frame_walk.h.
#include "frame_walk.h"

#include <memory>

#include "stasis/persist/stack_walk.h"

namespace stasis::persist::native {

std::vector<FrameRecord> walk_frames(const detail::NativeImage& im) {
  thread_local std::unique_ptr<StackWalker> walker;
  thread_local std::vector<UnwoundFrame> unwound;
  if (!walker) walker = StackWalker::for_this_process();
  ReadMemory read = read_from_bytes(im.context, im.stack);
  std::vector<FrameRecord> out;
  std::optional<RegisterSet> regs = arch::suspended_registers(im.context, read);
  if (!regs) return out;
  walker->unwind(*regs, read, &unwound);
  out.reserve(unwound.size());
  for (const UnwoundFrame& f : unwound) {
    Symbol s = walker->symbolize(f.pc - 1);  // every pc here is a return address
    out.push_back({f.pc, f.sp, std::move(s.function), std::move(s.file), std::move(s.module), s.line});
  }
  return out;
}

}  // namespace stasis::persist::native
