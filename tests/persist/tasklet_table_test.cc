// tests/persist/tasklet_table_test.cc — the two tasklet layouts (list and format 3's
// table): pack then expand gives back the message exactly, for every Tasklet field;
// expand refuses each way the columns can disagree with SnapshotCorrupt naming the
// column, a hostile frameCounts without allocating for it; MessageView::listed_root
// expands a table once and leaves a list-form message as it is.
#include <gtest/gtest.h>

#include <capnp/any.h>
#include <capnp/message.h>
#include <kj/string.h>

#include <functional>
#include <memory>
#include <string>

#include "snapshot_fixture.h"
#include "stasis/persist/container.h"
#include "stasis/persist/tasklet_table.h"
#include "stasis/persist/validate.h"

namespace stasis::persist {
namespace {

using schema::Snapshot;
using schema::Tasklet;
using schema::TaskletTable;
using testing::fixture_root;
using testing::make_fixture_message;

// The fixture's tasklets [0..3] (names, send/receive/sleep waits, a slot, two frames,
// field values of every kind) with [0] atomic and blockTrap set, plus
//   [4] id 5 paused, interrupted: no name, a frame without field values, a slot
//   [5] id 6 blocked in sleep 0 (an extra for the sleep alone), named
//   [6] id 7 native: no frames, a native record, no name
//   [7] id 8 new: one frame at resume point 0, nothing else (no extra)
// Every Tasklet field is used by some tasklet; the message stays in list form.
std::unique_ptr<capnp::MallocMessageBuilder> make_listed_message() {
  auto fixture = make_fixture_message();
  auto m = std::make_unique<capnp::MallocMessageBuilder>();
  m->setRoot(fixture_root(*fixture));
  auto old = fixture_root(*fixture).getTasklets();
  auto ts = m->getRoot<Snapshot>().initTasklets(8);
  for (unsigned i = 0; i < old.size(); ++i) ts.setWithCaveats(i, old[i]);
  ts[0].setAtomic(true);
  ts[0].setBlockTrap(true);
  {
    auto t = ts[4];
    t.setId(5);
    t.setState(Tasklet::State::PAUSED);
    t.setStarted(true);
    t.setInterrupted(true);
    t.setPriority(15);
    auto f = t.initFrames(1)[0];
    f.setType(3);
    f.setResumePoint(4);
    f.setArchiveBytes(8);
    t.setHasSlot(true);
    auto slot = t.initSlot();
    slot.setType(1);
    slot.setArchiveBytes(6);
    slot.setText("\"x\"");
  }
  {
    auto t = ts[5];
    t.setId(6);
    t.setName("napper");
    t.setState(Tasklet::State::BLOCKED);
    t.setStarted(true);
    t.initWait().setSleep(0);
    auto f = t.initFrames(1)[0];
    f.setType(3);
    f.setResumePoint(1);
    f.setCatchesChild(true);
  }
  {
    auto t = ts[6];
    t.setId(7);
    t.setState(Tasklet::State::BLOCKED);
    t.setStarted(true);
    t.setPriority(-16);
    auto n = t.initNative();
    n.setStarted(true);
    n.setContext(0x7000'0000'1000);
    n.setRegionLow(0x7000'0000'0000);
    n.setRegionHigh(0x7000'0000'1010);
    const capnp::byte stack[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    n.setStack(capnp::Data::Reader(stack, sizeof stack));
    auto r = n.initRelocations(2);
    r[0].setAt(0x7000'0000'1008);
    r[0].getTarget().setChannel(1);
    r[1].setAt(0x7000'0000'1000);
    r[1].setOffset(-8);
    r[1].getTarget().setExternal("stdout");
    n.initFrames(1)[0].setPc(0x401000);
  }
  {
    auto t = ts[7];
    t.setId(8);
    t.setState(Tasklet::State::NEW);
    t.initFrames(1)[0].setType(0);
  }
  return m;
}

bool same(Snapshot::Reader a, Snapshot::Reader b) { return capnp::toAny(a) == capnp::toAny(b); }

std::unique_ptr<capnp::MallocMessageBuilder> packed(Snapshot::Reader listed) {
  auto m = std::make_unique<capnp::MallocMessageBuilder>();
  pack_tasklet_table(listed, m->initRoot<Snapshot>());
  return m;
}

std::unique_ptr<capnp::MallocMessageBuilder> expanded(Snapshot::Reader table, std::string_view source = "t.snap") {
  auto m = std::make_unique<capnp::MallocMessageBuilder>();
  expand_tasklet_table(table, m->initRoot<Snapshot>(), source);
  return m;
}

Snapshot::Reader root_of(capnp::MallocMessageBuilder& m) { return m.getRoot<Snapshot>().asReader(); }

TEST(TaskletTable, PackThenExpandGivesBackTheMessage) {
  auto listed = make_listed_message();
  auto table = packed(root_of(*listed));
  EXPECT_TRUE(has_tasklet_table(root_of(*table)));
  EXPECT_FALSE(has_tasklet_table(root_of(*listed)));
  EXPECT_FALSE(root_of(*table).hasTasklets());
  auto back = expanded(root_of(*table));
  EXPECT_FALSE(has_tasklet_table(root_of(*back)));
  EXPECT_TRUE(same(root_of(*back), root_of(*listed))) << kj::str(root_of(*back)).cStr() << "\n--- expected ---\n"
                                                      << kj::str(root_of(*listed)).cStr();
  // And the table side: packing the expanded message gives the same table.
  EXPECT_TRUE(same(root_of(*packed(root_of(*back))), root_of(*table)));
  // The comparison sees deep differences.
  back->getRoot<Snapshot>().getTasklets()[6].getNative().getStack()[3] = 99;
  EXPECT_FALSE(same(root_of(*back), root_of(*listed)));
}

TEST(TaskletTable, TheTableHoldsTheMapping) {
  auto listed = make_listed_message();
  auto table = packed(root_of(*listed));
  auto t = root_of(*table).getTaskletTable();
  ASSERT_EQ(t.getIds().size(), 8u);
  EXPECT_EQ(t.getIds()[4], 5u);
  EXPECT_EQ(t.getFlags()[0], 0x1 | 0x2 | 0x4);  // atomic, blockTrap, started
  EXPECT_EQ(t.getFlags()[4], 0x4 | 0x8);        // started, interrupted
  EXPECT_EQ(t.getFlags()[7], 0);
  EXPECT_EQ(t.getWaitKinds()[1], TaskletTable::WaitKind::SEND);
  EXPECT_EQ(t.getWaitChannels()[1], 0u);
  EXPECT_EQ(t.getWaitKinds()[2], TaskletTable::WaitKind::RECEIVE);
  EXPECT_EQ(t.getWaitChannels()[2], 2u);
  EXPECT_EQ(t.getWaitKinds()[3], TaskletTable::WaitKind::SLEEP);
  EXPECT_EQ(t.getWaitChannels()[3], 0u);
  const unsigned counts[] = {1, 1, 2, 1, 1, 1, 0, 1};
  for (unsigned i = 0; i < 8; ++i) EXPECT_EQ(t.getFrameCounts()[i], counts[i]) << i;
  ASSERT_EQ(t.getFrameTypes().size(), 8u);
  EXPECT_EQ(t.getFrameTypes()[2], 2u);  // tasklet 2's inner frame (Consumer), then its Main
  EXPECT_EQ(t.getFrameTypes()[3], 0u);
  EXPECT_TRUE(t.getCatchesChild()[3]);
  // Field values: the fixture's five frames; not [5]'s, [6]'s or [7]'s.
  ASSERT_EQ(t.getFrameFields().size(), 5u);
  EXPECT_EQ(t.getFrameFields()[4].getFrame(), 4u);
  // Extras: named [0..3], [4] (slot), [5] (sleep), [6] (native); not [7].
  auto extras = t.getExtras();
  ASSERT_EQ(extras.size(), 7u);
  EXPECT_EQ(extras[3].getSleep(), 1'500'000'000);
  EXPECT_EQ(extras[4].getTasklet(), 4u);
  EXPECT_FALSE(extras[4].hasName());
  EXPECT_TRUE(extras[4].getHasSlot());
  EXPECT_EQ(extras[5].getSleep(), 0);
  EXPECT_TRUE(extras[6].hasNative());
  // Channel waiters as table indexes: the sender tasklet 2 is tasklets[1], the
  // receiver tasklet 3 tasklets[2]; their directions are their own wait kinds.
  auto channels = root_of(*table).getChannels();
  EXPECT_EQ(channels[0].getWaiters().size(), 0u);
  ASSERT_EQ(channels[0].getWaiterTasklets().size(), 1u);
  EXPECT_EQ(channels[0].getWaiterTasklets()[0], 1u);
  EXPECT_EQ(channels[1].getWaiterTasklets().size(), 0u);
  ASSERT_EQ(channels[2].getWaiterTasklets().size(), 1u);
  EXPECT_EQ(channels[2].getWaiterTasklets()[0], 2u);
}

TEST(TaskletTable, PackGivesAnUnknownWaiterAnIndexPastTheEnd) {
  auto listed = make_listed_message();
  listed->getRoot<Snapshot>().getChannels()[0].getWaiters()[0].setTasklet(99);
  auto table = packed(root_of(*listed));
  EXPECT_EQ(root_of(*table).getChannels()[0].getWaiterTasklets()[0], 8u);
  try {
    expanded(root_of(*table));
    ADD_FAILURE() << "no error";
  } catch (const SnapshotCorrupt& e) {
    EXPECT_NE(std::string(e.what()).find("t.snap: channels[0].waiterTasklets[0] = 8 is out of range: 8 tasklets"),
              std::string::npos)
        << e.what();
  }
}

TEST(TaskletTable, AListFormMessageIsCopiedAsItIs) {
  auto listed = make_listed_message();
  auto copy = expanded(root_of(*listed));
  EXPECT_TRUE(same(root_of(*copy), root_of(*listed)));
}

TEST(TaskletTable, UnknownEnumValuesPassThroughForTheValidator) {
  auto listed = make_listed_message();
  auto table = packed(root_of(*listed));
  auto t = table->getRoot<Snapshot>().getTaskletTable();
  t.getStates().set(2, static_cast<Tasklet::State>(7));
  t.getWaitKinds().set(0, static_cast<TaskletTable::WaitKind>(9));
  auto back = expanded(root_of(*table));
  auto ts = root_of(*back).getTasklets();
  EXPECT_EQ(static_cast<unsigned>(ts[2].getState()), 7u);
  EXPECT_EQ(static_cast<unsigned>(ts[0].getWait().which()), 9u);
  std::string all;
  for (const std::string& p : check_snapshot(root_of(*back))) all += p + "\n";
  EXPECT_NE(all.find("tasklets[2].state = 7 is not a known state"), std::string::npos) << all;
  EXPECT_NE(all.find("tasklets[0].wait has unknown kind 9"), std::string::npos) << all;
  EXPECT_TRUE(same(root_of(*packed(root_of(*back))), root_of(*table)));
}

struct Case {
  const char* name;
  std::function<void(Snapshot::Builder)> breakIt;  // on the packed message
  const char* expected;                            // substring of the error
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

TaskletTable::Builder table_of(Snapshot::Builder s) { return s.getTaskletTable(); }

const Case kCases[] = {
    {"PerTaskletColumnShorter", [](Snapshot::Builder s) { table_of(s).initStates(7); },
     "t.snap: taskletTable.states has 7 entries but taskletTable.ids has 8"},
    {"PerTaskletColumnLonger", [](Snapshot::Builder s) { table_of(s).initWaitChannels(9); },
     "t.snap: taskletTable.waitChannels has 9 entries but taskletTable.ids has 8"},
    {"FrameCountsClaimOneMore", [](Snapshot::Builder s) { table_of(s).getFrameCounts().set(7, 2); },
     "t.snap: taskletTable.frameTypes has 8 entries but taskletTable.frameCounts add up to 9"},
    {"FrameColumnShorter", [](Snapshot::Builder s) { table_of(s).initCatchesChild(7); },
     "t.snap: taskletTable.catchesChild has 7 entries but taskletTable.frameCounts add up to 8"},
    {"FrameColumnLonger", [](Snapshot::Builder s) { table_of(s).initArchiveBytes(9); },
     "t.snap: taskletTable.archiveBytes has 9 entries but taskletTable.frameCounts add up to 8"},
    {"ExtraOutOfRange", [](Snapshot::Builder s) { table_of(s).getExtras()[6].setTasklet(8); },
     "t.snap: taskletTable.extras[6].tasklet = 8 is out of range: 8 tasklets"},
    {"ExtrasOutOfOrder", [](Snapshot::Builder s) { table_of(s).getExtras()[2].setTasklet(0); },
     "t.snap: taskletTable.extras[2].tasklet = 0 does not follow taskletTable.extras[1].tasklet = 1"},
    {"ExtraTwiceForOneTasklet", [](Snapshot::Builder s) { table_of(s).getExtras()[1].setTasklet(0); },
     "t.snap: taskletTable.extras[1].tasklet = 0 does not follow taskletTable.extras[0].tasklet = 0"},
    {"FrameFieldsOutOfRange", [](Snapshot::Builder s) { table_of(s).getFrameFields()[4].setFrame(8); },
     "t.snap: taskletTable.frameFields[4].frame = 8 is out of range: 8 frames"},
    {"FrameFieldsOutOfOrder", [](Snapshot::Builder s) { table_of(s).getFrameFields()[1].setFrame(0); },
     "t.snap: taskletTable.frameFields[1].frame = 0 does not follow taskletTable.frameFields[0].frame = 0"},
    {"FlagsWithUnknownBits", [](Snapshot::Builder s) { table_of(s).getFlags().set(3, 0x34); },
     "t.snap: taskletTable.flags[3] = 0x34 has unknown bits"},
    {"SleepWithoutExtra", [](Snapshot::Builder s) { table_of(s).getWaitKinds().set(7, TaskletTable::WaitKind::SLEEP); },
     "t.snap: tasklets[7] sleeps but taskletTable.extras has no entry for it"},
    {"SleepTimeOnATaskletThatSends", [](Snapshot::Builder s) { table_of(s).getExtras()[1].setSleep(5); },
     "t.snap: taskletTable.extras[1].sleep = 5 but taskletTable.waitKinds[1] is send, not sleep"},
    {"ChannelOnATaskletThatSleeps", [](Snapshot::Builder s) { table_of(s).getWaitChannels().set(3, 1); },
     "t.snap: taskletTable.waitChannels[3] = 1 but taskletTable.waitKinds[3] is sleep, which names no channel"},
    {"WaiterIndexOutOfRange", [](Snapshot::Builder s) { s.getChannels()[2].getWaiterTasklets().set(0, 12); },
     "t.snap: channels[2].waiterTasklets[0] = 12 is out of range: 8 tasklets"},
    {"WaitersInBothLayouts", [](Snapshot::Builder s) { s.getChannels()[0].initWaiters(1)[0].setTasklet(2); },
     "t.snap: channels[0] has both waiters and waiterTasklets"},
    {"BothTaskletsAndATable", [](Snapshot::Builder s) { s.initTasklets(1); },
     "t.snap: the message has both tasklets (1 records) and a taskletTable"},
};

class TaskletTableRefuses : public ::testing::TestWithParam<Case> {};

TEST_P(TaskletTableRefuses, NamingTheColumn) {
  const Case& c = GetParam();
  auto table = packed(root_of(*make_listed_message()));
  c.breakIt(table->getRoot<Snapshot>());
  try {
    expanded(root_of(*table));
    ADD_FAILURE() << "no error";
  } catch (const SnapshotCorrupt& e) {
    EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Columns, TaskletTableRefuses, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

// Words the message `m` holds in all its segments.
std::size_t words_of(capnp::MallocMessageBuilder& m) {
  std::size_t words = 0;
  for (auto segment : m.getSegmentsForOutput()) words += segment.size();
  return words;
}

TEST(TaskletTable, HostileFrameCountsAreRefusedBeforeAllocating) {
  auto table = packed(root_of(*make_listed_message()));
  auto counts = table->getRoot<Snapshot>().getTaskletTable().getFrameCounts();
  // 2^31 more frames for two tasklets: the sum wraps to the real 8 in 32 bits.
  counts.set(0, counts[0] + (1u << 31));
  counts.set(1, counts[1] + (1u << 31));
  capnp::MallocMessageBuilder out(64);
  auto root = out.initRoot<Snapshot>();
  const std::size_t before = words_of(out);
  try {
    expand_tasklet_table(root_of(*table), root, "t.snap");
    ADD_FAILURE() << "no error";
  } catch (const SnapshotCorrupt& e) {
    EXPECT_NE(std::string(e.what()).find("taskletTable.frameTypes has 8 entries but taskletTable.frameCounts add up "
                                         "to 4294967304"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(words_of(out), before);

  // 2^31 frames for every tasklet.
  for (unsigned i = 0; i < counts.size(); ++i) counts.set(i, 1u << 31);
  EXPECT_THROW(expand_tasklet_table(root_of(*table), root, "t.snap"), SnapshotCorrupt);
  EXPECT_EQ(words_of(out), before);
}

TEST(TaskletTable, PackRefusesATable) {
  auto table = packed(root_of(*make_listed_message()));
  capnp::MallocMessageBuilder out;
  EXPECT_THROW(pack_tasklet_table(root_of(*table), out.initRoot<Snapshot>()), InvalidArgument);
}

TEST(MessageView, ListedRootExpandsATableOnce) {
  auto listed = make_listed_message();
  auto table = packed(root_of(*listed));
  MessageView view = MessageView::from_bytes(testing::encode(*table), {}, "t.snap");
  EXPECT_TRUE(has_tasklet_table(view.root()));
  auto first = view.listed_root();
  EXPECT_TRUE(same(first, root_of(*listed)));
  // Cached: the same records, also after the view moved.
  MessageView moved = std::move(view);
  auto again = moved.listed_root();
  EXPECT_EQ(again.getTasklets()[0].getName().begin(), first.getTasklets()[0].getName().begin());
}

TEST(MessageView, ListedRootOfAListFormMessageIsItsRoot) {
  auto listed = make_listed_message();
  MessageView view = MessageView::from_bytes(testing::encode(*listed), {}, "l.snap");
  EXPECT_EQ(view.listed_root().getTasklets()[0].getName().begin(), view.root().getTasklets()[0].getName().begin());
}

TEST(MessageView, ListedRootNamesTheSourceOfABadTable) {
  auto table = packed(root_of(*make_listed_message()));
  table->getRoot<Snapshot>().getTaskletTable().initPriorities(2);
  MessageView view = MessageView::from_bytes(testing::encode(*table), {}, "bad.snap");
  try {
    view.listed_root();
    ADD_FAILURE() << "no error";
  } catch (const SnapshotCorrupt& e) {
    EXPECT_EQ(std::string(e.what()), "bad.snap: taskletTable.priorities has 2 entries but taskletTable.ids has 8");
  }
}

}  // namespace
}  // namespace stasis::persist
