// tests/persist/format_layout_test.cc — a snapshot in format 3 (tasklets in the
// columnar table) and the same snapshot in format 2 (tasklets as a list, header
// version 2, as the previous writer made it) restore the same scheduler: thawed
// and frozen again, both give the same message, and both run to the end.
#include <gtest/gtest.h>

#include <capnp/message.h>
#include <xxhash.h>

#include <cstring>
#include <string>

#include "hostile_frames.h"
#include "stasis/persist/container.h"
#include "stasis/persist/snapshot.h"
#include "stasis/persist/tasklet_table.h"

namespace stasis::test::hostile {
namespace {

// `snap` rewritten as a format-2 file: its message in the list layout and the
// header's version field 2, checksummed as docs/snapshot-format.md says.
persist::Snapshot as_format2(const persist::Snapshot& snap) {
  persist::MessageView view = persist::MessageView::from_bytes(snap.bytes());
  capnp::MallocMessageBuilder list;
  persist::expand_tasklet_table(view.root(), list.initRoot<schema::Snapshot>());
  std::string file = persist::encode_container(list, {.compression = persist::Compression::kNone});
  const std::uint16_t version = 2;
  std::memcpy(file.data() + 8, &version, 2);  // little-endian hosts (x86_64, aarch64)
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  XXH3_64bits_update(state, file.data(), 32);
  XXH3_64bits_update(state, file.data() + 40, file.size() - 40);
  const std::uint64_t sum = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  std::memcpy(file.data() + 32, &sum, 8);
  return persist::Snapshot(std::move(file));
}

// Thaws `snap` into a fresh scheduler and freezes that again; returns the new
// snapshot's message in the list layout as text, with what depends on the clock
// (creation time, the time left of sleeps) cleared.
std::string thaw_and_refreeze(const persist::Snapshot& snap) {
  std::string text;
  persist::Thawed thawed;  // destroyed after the scheduler: tasklets end before their channels
  {
    Scheduler s;
    thawed = persist::thaw(snap, s, {.source_name = "layout"});
    persist::Snapshot again = persist::freeze(s, {.interrupted = thawed.interrupted().get()});
    persist::MessageView view = persist::MessageView::from_bytes(again.bytes());
    capnp::MallocMessageBuilder list;
    persist::expand_tasklet_table(view.root(), list.initRoot<schema::Snapshot>());
    auto root = list.getRoot<schema::Snapshot>();
    root.setCreatedUnixNs(0);
    for (auto t : root.getTasklets()) {
      if (t.getWait().isSleep()) t.getWait().setSleep(0);
    }
    text = kj::str(root.asReader()).cStr();
  }
  return text;
}

TEST(FormatLayout, TheWriterWritesTheTable) {
  persist::Snapshot snap = realistic_snapshot(persist::Compression::kNone);
  persist::MessageView view = persist::MessageView::from_bytes(snap.bytes());
  EXPECT_EQ(view.info().version, persist::kFormatVersion);
  EXPECT_EQ(persist::kFormatVersion, 3);
  EXPECT_TRUE(persist::has_tasklet_table(view.root()));
  EXPECT_EQ(view.root().getTasklets().size(), 0u);
  EXPECT_GE(view.root().getTaskletTable().getIds().size(), 50u);
}

TEST(FormatLayout, Format2AndFormat3RestoreTheSameScheduler) {
  persist::Snapshot v3 = realistic_snapshot(persist::Compression::kNone);
  persist::Snapshot v2 = as_format2(v3);
  persist::MessageView view2 = persist::MessageView::from_bytes(v2.bytes());
  ASSERT_EQ(view2.info().version, 2);
  ASSERT_FALSE(persist::has_tasklet_table(view2.root()));
  ASSERT_GE(view2.root().getTasklets().size(), 50u);

  const std::string from3 = thaw_and_refreeze(v3), from2 = thaw_and_refreeze(v2);
  EXPECT_FALSE(from3.empty());
  EXPECT_EQ(from3, from2);
  // The round trip keeps the tasklets (names, states, waits, frames, slots).
  EXPECT_NE(from3.find("tasklets = ["), std::string::npos);
}

TEST(FormatLayout, BothLayoutsRunToTheEnd) {
  persist::Snapshot v3 = realistic_snapshot(persist::Compression::kNone);
  RunReport r3 = thaw_and_run(v3);
  EXPECT_TRUE(r3.loaded) << r3.error_type;
  EXPECT_EQ(r3.failure, "");
  RunReport r2 = thaw_and_run(as_format2(v3));
  EXPECT_TRUE(r2.loaded) << r2.error_type;
  EXPECT_EQ(r2.failure, "");
}

}  // namespace
}  // namespace stasis::test::hostile
