// frame_walk.cc — see frame_walk.h.
#include "frame_walk.h"

#include <memory>

#include "stasis/persist/stack_walk.h"

namespace stasis::persist::native {

namespace {

StackWalker& walker() {
  thread_local std::unique_ptr<StackWalker> w;
  if (!w) w = StackWalker::for_this_process();
  return *w;
}

}  // namespace

void walk_frames(const detail::NativeImage& im, std::vector<FrameRecord>& out) {
  thread_local std::vector<UnwoundFrame> unwound;
  out.clear();
  ReadMemory read = read_from_bytes(im.context, im.stack);
  std::optional<RegisterSet> regs = arch::suspended_registers(im.context, read);
  if (!regs) return;
  walker().unwind(*regs, read, &unwound);
  out.reserve(unwound.size());
  for (const UnwoundFrame& f : unwound) out.push_back({f.pc, f.sp, 0});
}

SymbolRecord symbolize_return_address(std::uint64_t pc) {
  const Symbol& s = walker().symbolize(pc - 1);  // the call instruction, not the one after it
  return {s.function, s.file, s.module, s.line};
}

}  // namespace stasis::persist::native
