// frame_walk.h — the stack walk of a suspended native tasklet, for freeze
// (internal to stasis::persist): its frames, innermost first, symbolized.
#ifndef STASIS_PERSIST_SRC_NATIVE_FRAME_WALK_H_
#define STASIS_PERSIST_SRC_NATIVE_FRAME_WALK_H_

#include <vector>

#include "native_freeze.h"
#include "stasis/native_image.h"

namespace stasis::persist::native {

// Unwinds the started tasklet `im` from its saved registers over its stack bytes
// (one walker per thread, made at the first call) into `out` (pc and sp; symbol
// 0). A stack the unwinder cannot follow gives a short list: the walk only
// attributes words to frames.
void walk_frames(const detail::NativeImage& im, std::vector<FrameRecord>& out);

// The function, file, line and module of the return address `pc` (this thread's
// walker, cached by pc).
SymbolRecord symbolize_return_address(std::uint64_t pc);

}  // namespace stasis::persist::native

#endif  // STASIS_PERSIST_SRC_NATIVE_FRAME_WALK_H_
