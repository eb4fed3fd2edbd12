// native_thaw.h — restoring native tasklets from a snapshot (internal to
// stasis::persist; the Thawer in thaw.cc drives it).
//
// Two steps, to keep thaw all-or-nothing:
//   1. check() and prepare(), before any tasklet exists: the producer's
//      architecture, the module table, the sliced-stack region, the named
//      externals, every relocation record; then each native tasklet's arena share
//      is mapped back at its addresses and its frame is made around copies of its
//      stack and callable. Any failure throws (SnapshotError and subclasses) and
//      the destructor undoes what was made.
//   2. patch(), once the tasklets and channels exist: re-aims the relocated words.
//      It cannot fail; afterwards the frames belong to their tasklets.
#ifndef STASIS_PERSIST_SRC_NATIVE_NATIVE_THAW_H_
#define STASIS_PERSIST_SRC_NATIVE_NATIVE_THAW_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "address_space.h"
#include "stasis/channel.h"
#include "stasis/frame.h"
#include "stasis/native_image.h"
#include "stasis/schema/snapshot.capnp.h"

namespace stasis::persist::native {

class NativeThawer {
 public:
  explicit NativeThawer(std::string source_name) : source_(std::move(source_name)) {}
  ~NativeThawer();
  NativeThawer(const NativeThawer&) = delete;
  NativeThawer& operator=(const NativeThawer&) = delete;

  // Checks what every native tasklet of `root` needs from this process (call once,
  // before prepare). `channel_count`: the snapshot's channels.
  void check(schema::Snapshot::Reader root);

  // Restores native tasklet record `t` (tasklet list index `index`): maps its arena
  // share and makes its frame. Returns the frame (owned by this object until patch()).
  FrameBase* prepare(schema::Tasklet::Reader t, unsigned index);

  // Re-aims every relocated word. tasklet_of(id) / frame_of(id): the restored
  // tasklet and native frame of the snapshot's tasklet `id`; channel_of(index).
  // Afterwards the frames belong to their tasklets.
  void patch(const std::function<Tasklet*(std::uint64_t)>& tasklet_of,
             const std::function<ChannelBase*(std::uint32_t)>& channel_of, Scheduler& s);

 private:
  struct Made {
    schema::NativeTasklet::Reader record;
    std::uint64_t id = 0;
    ::stasis::detail::RestoredNative restored;
    void* share = nullptr;
    std::uint64_t callable_size = 0;
  };
  [[noreturn]] void corrupt(const std::string& where, const std::string& what) const;
  // runs: (address, used bytes) of each arena run.
  void check_relocations(schema::NativeTasklet::Reader n, std::uint64_t callable_size,
                         const std::vector<std::pair<std::uint64_t, std::uint64_t>>& runs,
                         const std::string& where) const;

  std::string source_;
  std::vector<std::uint64_t> native_ids_;     // sorted: ids of native tasklets
  std::vector<std::uint64_t> tasklet_ids_;    // sorted: ids of all tasklets
  std::uint32_t channel_count_ = 0;
  AddressSpace space_;  // read by check() when the snapshot has native tasklets
  std::vector<Made> made_;
  bool patched_ = false;
};

}  // namespace stasis::persist::native

#endif  // STASIS_PERSIST_SRC_NATIVE_NATIVE_THAW_H_
