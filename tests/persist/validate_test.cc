// tests/persist/validate_test.cc — each invariant of schema/snapshot.capnp broken
// once on the fixture gives SnapshotCorrupt naming the record path, in the list
// layout (formats 1, 2) and in the columnar table (format 3) alike; the table's own
// invariants (column lengths, sparse keys) each give theirs; the fixture itself
// passes; check_snapshot collects and caps; large snapshots check fast.
#include <gtest/gtest.h>

#include <capnp/any.h>
#include <capnp/serialize.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <typeinfo>

#include "snapshot_fixture.h"
#include "stasis/persist/tasklet_table.h"
#include "stasis/persist/validate.h"

namespace stasis::persist {
namespace {

using schema::Snapshot;
using schema::Tasklet;
using testing::fixture_root;
using testing::make_fixture_message;

struct Case {
  const char* name;
  std::function<void(Snapshot::Builder)> breakIt;
  const char* expected;  // substring of the first problem
  // In the format-3 table, if it reads differently there (waiters are table
  // indexes); "" if the table cannot express the break at all.
  const char* expected_in_table = nullptr;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

const Case kCases[] = {
    {"FrameTypeOutOfRange", [](Snapshot::Builder s) { s.getTasklets()[1].getFrames()[0].setType(9); },
     "tasklets[1].frames[0].type = 9 is out of range: 4 frame types"},
    {"FieldCountDiffersFromType", [](Snapshot::Builder s) {
       auto f = s.getTasklets()[0].getFrames()[0];
       f.initFields(2);
     },
     "tasklets[0].frames[0].fields has 2 values but its frame type (frameTypes[0]) lists 3 fields"},
    {"FieldChannelOutOfRange", [](Snapshot::Builder s) { s.getTasklets()[0].getFrames()[0].getFields()[0].setChannel(7); },
     "tasklets[0].frames[0].fields[0].channel = 7 is out of range: 3 channels"},
    {"WaitChannelOutOfRange", [](Snapshot::Builder s) { s.getTasklets()[1].getWait().setSend(5); },
     "tasklets[1].wait.send = 5 is out of range: 3 channels"},
    {"DuplicateTaskletId", [](Snapshot::Builder s) { s.getTasklets()[3].setId(1); },
     "tasklets[3].id = 1 repeats tasklets[0].id"},
    {"DuplicateChannelId", [](Snapshot::Builder s) { s.getChannels()[2].setId(12); },
     "channels[2].id = 12 repeats channels[0].id"},
    {"WaiterNamesUnknownTasklet", [](Snapshot::Builder s) { s.getChannels()[0].getWaiters()[0].setTasklet(99); },
     "channels[0].waiters[0].tasklet = 99 names no tasklet of this snapshot",
     "channels[0].waiterTasklets[0] = 4 is out of range: 4 tasklets"},
    {"TaskletNamedTwiceAcrossChannels", [](Snapshot::Builder s) { s.getChannels()[2].getWaiters()[0].setTasklet(2); },
     "channels[2].waiters[0] names tasklet 2 (tasklets[1]) again (already channels[0].waiters[0])",
     "channels[2].waiterTasklets[0] names tasklets[1] again (already channels[0].waiterTasklets[0])"},
    {"WaiterDirectionDiffersFromWait", [](Snapshot::Builder s) { s.getChannels()[0].getWaiters()[0].setSending(false); },
     "channels[0].waiters[0].sending is false but tasklet 2 (tasklets[1]) waits to send",
     ""},
    {"WaiterOnAnotherChannelThanItsWait", [](Snapshot::Builder s) { s.getTasklets()[1].getWait().setSend(2); },
     "channels[0].waiters[0] names tasklet 2 (tasklets[1]), which waits on channels[2]",
     "channels[0].waiterTasklets[0] names tasklets[1], which waits on channels[2]"},
    {"WaiterThatDoesNotWait", [](Snapshot::Builder s) {
       s.getChannels()[1].initWaiters(1)[0].setTasklet(1);
       s.getChannels()[1].setBalance(-1);
     },
     "channels[1].waiters[0] names tasklet 1 (tasklets[0]), which does not wait on a channel",
     "channels[1].waiterTasklets[0] names tasklets[0], which does not wait on a channel"},
    {"WaitingTaskletMissingFromWaiters", [](Snapshot::Builder s) {
       s.getChannels()[0].initWaiters(0);
       s.getChannels()[0].setBalance(0);
     },
     "tasklets[1] waits to send on channels[0] but is not among its waiters"},
    {"BalanceDisagreesWithWaiters", [](Snapshot::Builder s) { s.getChannels()[0].setBalance(3); },
     "channels[0].balance = 3 but its waiters are 1 sender and 0 receivers (balance = senders - receivers = 1)"},
    {"WaitersMixDirections", [](Snapshot::Builder s) {
       s.getTasklets()[2].getWait().setReceive(0);
       auto w = s.getChannels()[0].initWaiters(2);
       w[0].setTasklet(2);
       w[0].setSending(true);
       w[1].setTasklet(3);
       w[1].setSending(false);
       s.getChannels()[0].setBalance(0);
       s.getChannels()[2].initWaiters(0);
       s.getChannels()[2].setBalance(0);
     },
     "channels[0].waiters mixes 1 sender and 1 receiver"},
    {"BlockedWithoutWait", [](Snapshot::Builder s) { s.getTasklets()[3].getWait().setNone(); },
     "tasklets[3] is blocked but its wait is none"},
    {"WaitWhileRunnable", [](Snapshot::Builder s) { s.getTasklets()[0].getWait().setSleep(5); },
     "tasklets[0].wait is sleep but the state is runnable (only blocked tasklets wait)"},
    {"NegativeSleep", [](Snapshot::Builder s) { s.getTasklets()[3].getWait().setSleep(-1); },
     "tasklets[3].wait.sleep = -1 is negative"},
    {"NoFrames", [](Snapshot::Builder s) { s.getTasklets()[0].initFrames(0); },
     "tasklets[0].frames is empty"},
    {"PriorityTooHigh", [](Snapshot::Builder s) { s.getTasklets()[0].setPriority(16); },
     "tasklets[0].priority = 16 is outside -16..15"},
    {"PriorityTooLow", [](Snapshot::Builder s) { s.getTasklets()[2].setPriority(-17); },
     "tasklets[2].priority = -17 is outside -16..15"},
    {"UnknownState", [](Snapshot::Builder s) { s.getTasklets()[0].setState(static_cast<Tasklet::State>(9)); },
     "tasklets[0].state = 9 is not a known state"},
    {"RunnableAfterBlocked", [](Snapshot::Builder s) {
       s.getTasklets()[3].setState(Tasklet::State::RUNNABLE);
       s.getTasklets()[3].getWait().setNone();
     },
     "tasklets[3] is runnable but follows tasklets[1], which is not (run-queue tasklets come first)"},
    {"NewButStarted", [](Snapshot::Builder s) { s.getTasklets()[0].setState(Tasklet::State::NEW); },
     "tasklets[0].started is set but the state is new"},
    {"BlockedButNotStarted", [](Snapshot::Builder s) { s.getTasklets()[3].setStarted(false); },
     "tasklets[3] is blocked but has not started"},
    {"NotStartedWithAFrameChain", [](Snapshot::Builder s) {
       auto t = s.getTasklets()[2];
       t.setState(Tasklet::State::PAUSED);
       t.setStarted(false);
       t.getWait().setNone();
     },
     "tasklets[2].frames has 2 frames but the tasklet has not started"},
    {"NotStartedPastTheEntry", [](Snapshot::Builder s) {
       s.getTasklets()[0].setState(Tasklet::State::NEW);
       s.getTasklets()[0].setStarted(false);
     },
     "tasklets[0].frames[0].resumePoint = 1 but the tasklet has not started (expected 0)"},
    {"OuterFrameAtEntry", [](Snapshot::Builder s) { s.getTasklets()[2].getFrames()[1].setResumePoint(0); },
     "tasklets[2].frames[1].resumePoint = 0 but an outer frame waits for its callee"},
    {"InnermostFrameCatchesChild", [](Snapshot::Builder s) { s.getTasklets()[0].getFrames()[0].setCatchesChild(true); },
     "tasklets[0].frames[0].catchesChild is set on the innermost frame"},
    {"InterruptedButNotPaused", [](Snapshot::Builder s) { s.getTasklets()[0].setInterrupted(true); },
     "tasklets[0].interrupted is set but the state is runnable"},
    {"ArchiveSizesDisagree", [](Snapshot::Builder s) { s.getTasklets()[0].getFrames()[0].setArchiveBytes(25); },
     "archive has 140 bytes but frames, slots and buffered values account for 141 bytes"},
    {"SlotBytesWithoutHasSlot", [](Snapshot::Builder s) { s.getTasklets()[1].setHasSlot(false); },
     "tasklets[1].slot.archiveBytes = 8 but hasSlot is false"},
    {"SlotValueTypeOutOfRange", [](Snapshot::Builder s) { s.getTasklets()[1].getSlot().setType(5); },
     "tasklets[1].slot.type = 5 is out of range: 2 value types"},
    {"ChannelValueTypeOutOfRange", [](Snapshot::Builder s) { s.getChannels()[1].setValueType(2); },
     "channels[1].valueType = 2 is out of range: 2 value types"},
    {"BufferedValueOfAnotherType", [](Snapshot::Builder s) { s.getChannels()[1].getBuffer()[0].setType(0); },
     "channels[1].buffer[0].type = 0 but the channel carries value type 1"},
    {"BufferOverCapacity", [](Snapshot::Builder s) { s.getChannels()[1].setCapacity(1); },
     "channels[1].buffer holds 2 values but the capacity is 1"},
    {"BufferWhileReceiversWait", [](Snapshot::Builder s) {
       auto ch = s.getChannels()[2];
       ch.setCapacity(4);
       auto v = ch.initBuffer(1)[0];
       v.setType(0);
       v.setText("7");
     },
     "channels[2].buffer holds values while receivers wait"},
    {"PreferenceOutOfRange", [](Snapshot::Builder s) { s.getChannels()[0].setPreference(2); },
     "channels[0].preference = 2 is not -1, 0 or 1"},
    {"DuplicateFrameTypeName", [](Snapshot::Builder s) { s.getFrameTypes()[3].setName("demo.Main"); },
     "frameTypes[3].name 'demo.Main' repeats an earlier frame type"},
    {"EmptyFrameTypeName", [](Snapshot::Builder s) { s.getFrameTypes()[0].setName(""); },
     "frameTypes[0].name is empty"},
    {"DuplicateFieldName", [](Snapshot::Builder s) { s.getFrameTypes()[1].getFields()[1].setName("out"); },
     "frameTypes[1].fields[1].name 'out' repeats an earlier field of the type"},
    {"EmptyFieldName", [](Snapshot::Builder s) { s.getFrameTypes()[2].getFields()[3].setName(""); },
     "frameTypes[2].fields[3].name is empty"},
    {"DuplicateValueTypeName", [](Snapshot::Builder s) { s.getValueTypes()[1].setName("i64"); },
     "valueTypes[1].name 'i64' repeats an earlier value type"},
    {"NameTooLong", [](Snapshot::Builder s) { s.getTasklets()[0].setName(std::string(5000, 'n')); },
     "tasklets[0].name has 5000 bytes, more than the limit of 4096"},
    {"ChannelNameTooLong", [](Snapshot::Builder s) { s.getChannels()[1].setName(std::string(4097, 'n')); },
     "channels[1].name has 4097 bytes, more than the limit of 4096"},
    {"FieldTextTooLong", [](Snapshot::Builder s) {
       s.getTasklets()[1].getFrames()[0].getFields()[2].setText(std::string((1 << 20) + 1, 't'));
     },
     "tasklets[1].frames[0].fields[2].text has 1048577 bytes, more than the limit of 1048576"},
    {"PointerBits", [](Snapshot::Builder s) { s.getProducer().setPointerBits(16); },
     "producer.pointerBits = 16 is not 32 or 64"},
    {"LongBits", [](Snapshot::Builder s) { s.getProducer().setLongBits(48); },
     "producer.longBits = 48 is not 32 or 64"},
    {"UnknownScope", [](Snapshot::Builder s) { s.setScope(static_cast<Snapshot::Scope>(5)); },
     "scope = 5 is not a known scope"},
};

class BrokenInvariant : public ::testing::TestWithParam<Case> {};

TEST_P(BrokenInvariant, IsSnapshotCorruptWithItsPath) {
  auto m = make_fixture_message();
  GetParam().breakIt(m->getRoot<Snapshot>());
  try {
    validate_snapshot(fixture_root(*m), "broken.snap");
    FAIL() << "no error";
  } catch (const SnapshotCorrupt& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind("broken.snap: ", 0), 0u) << msg;
    EXPECT_NE(msg.find(GetParam().expected), std::string::npos) << msg;
  }
  auto problems = check_snapshot(fixture_root(*m));
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems.front().find(GetParam().expected), std::string::npos) << problems.front();
}

INSTANTIATE_TEST_SUITE_P(Validate, BrokenInvariant, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

// The fixture with its tasklets packed into the format-3 table.
std::unique_ptr<capnp::MallocMessageBuilder> packed(capnp::MallocMessageBuilder& list) {
  auto m = std::make_unique<capnp::MallocMessageBuilder>();
  pack_tasklet_table(fixture_root(list), m->initRoot<Snapshot>());
  return m;
}

void expect_corrupt(Snapshot::Reader root, const std::string& expected) {
  try {
    validate_snapshot(root, "broken.snap");
    FAIL() << "no error, expected: " << expected;
  } catch (const SnapshotCorrupt& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
  auto problems = check_snapshot(root);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems.front().find(expected), std::string::npos) << problems.front();
}

// Every broken invariant above, broken in the list and then packed into the
// table: the validator reads the columns and reports the same path (channel
// waiters, which the table names by index, read as expected_in_table).
class BrokenInvariantInTable : public ::testing::TestWithParam<Case> {};

TEST_P(BrokenInvariantInTable, IsSnapshotCorruptWithTheSamePath) {
  const char* expected = GetParam().expected_in_table ? GetParam().expected_in_table : GetParam().expected;
  if (*expected == '\0') GTEST_SKIP() << "the table cannot express this break (a waiter's direction is its tasklet's wait)";
  auto m = make_fixture_message();
  GetParam().breakIt(m->getRoot<Snapshot>());
  auto table = packed(*m);
  auto root = table->getRoot<Snapshot>().asReader();
  ASSERT_TRUE(has_tasklet_table(root));
  ASSERT_EQ(root.getTasklets().size(), 0u);
  expect_corrupt(root, expected);
}

INSTANTIATE_TEST_SUITE_P(Validate, BrokenInvariantInTable, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

// The table's own invariants, broken on the packed fixture (4 tasklets; 5 frames:
// 1, 1, 2, 1; extras for all four, which have names).
const Case kTableCases[] = {
    {"TaskletColumnShort", [](Snapshot::Builder s) { s.getTaskletTable().initPriorities(3); },
     "taskletTable.priorities has 3 entries but taskletTable.ids has 4"},
    {"FrameColumnShort", [](Snapshot::Builder s) { s.getTaskletTable().initArchiveBytes(2); },
     "taskletTable.archiveBytes has 2 entries but taskletTable.frameTypes has 5"},
    {"FrameCountsRunPastTheColumns", [](Snapshot::Builder s) { s.getTaskletTable().getFrameCounts().set(3, 9); },
     "taskletTable.frameTypes has 5 entries but taskletTable.frameCounts add up to 13"},
    {"FrameCountsFallShort", [](Snapshot::Builder s) {
       auto t = s.getTaskletTable();
       t.getFrameCounts().set(2, 1);  // tasklets[3] then takes the consumer's outer frame
     },
     "taskletTable.frameTypes has 5 entries but taskletTable.frameCounts add up to 4"},
    {"UnknownFlagBits", [](Snapshot::Builder s) {
       auto flags = s.getTaskletTable().getFlags();
       flags.set(0, static_cast<std::uint8_t>(flags[0] | 0x40));
     },
     "taskletTable.flags[0] = 68 has unknown bits"},
    {"ExtrasOutOfOrder", [](Snapshot::Builder s) {
       auto x = s.getTaskletTable().getExtras();
       x[0].setTasklet(1);
       x[1].setTasklet(0);
     },
     "taskletTable.extras[1].tasklet = 0 is not after the previous entry's"},
    {"ExtraKeyOutOfRange", [](Snapshot::Builder s) { s.getTaskletTable().getExtras()[3].setTasklet(4); },
     "taskletTable.extras[3].tasklet = 4 is out of range: 4 tasklets"},
    {"SleepWithoutAnExtra", [](Snapshot::Builder s) {
       auto t = s.getTaskletTable();
       auto old = t.disownExtras();
       auto kept = t.initExtras(3);
       for (unsigned k = 0; k < 3; ++k) kept.setWithCaveats(k, old.getReader()[k]);
     },
     "tasklets[3] sleeps but taskletTable.extras has no entry for it"},
    {"SleepOnAnExtraOfATaskletThatDoesNotSleep", [](Snapshot::Builder s) { s.getTaskletTable().getExtras()[0].setSleep(5); },
     "tasklets[0]: its taskletTable.extras entry has sleep = 5 but it does not sleep"},
    {"FrameFieldsKeyOutOfRange", [](Snapshot::Builder s) {
       auto f = s.getTaskletTable().getFrameFields();
       f[f.size() - 1].setFrame(99);
     },
     ".frame = 99 is out of range: 5 frames"},
    {"FrameFieldsOutOfOrder", [](Snapshot::Builder s) {
       auto f = s.getTaskletTable().getFrameFields();
       f[1].setFrame(f[0].getFrame());
     },
     "taskletTable.frameFields[1].frame = 0 is not after the previous entry's"},
    {"BothLayouts", [](Snapshot::Builder s) { s.initTasklets(1); },
     "the message has both tasklets and taskletTable"},
    {"ColumnNotAPlainList", [](Snapshot::Builder s) {
       // A struct list Cap'n Proto would also let a reader see as List(UInt64).
       capnp::AnyStruct::Builder table = s.getTaskletTable();
       auto ids = table.getPointerSection()[0].initAs<capnp::List<schema::Waiter>>(4);
       for (unsigned i = 0; i < 4; ++i) ids[i].setTasklet(i + 1);
     },
     "taskletTable.ids is not a plain list of 8-byte values"},
};

class BrokenTable : public ::testing::TestWithParam<Case> {};

TEST_P(BrokenTable, IsSnapshotCorruptNamingTheColumn) {
  auto list = make_fixture_message();
  auto m = packed(*list);
  GetParam().breakIt(m->getRoot<Snapshot>());
  expect_corrupt(m->getRoot<Snapshot>().asReader(), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(Validate, BrokenTable, ::testing::ValuesIn(kTableCases),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(Validate, TheFixtureIsValidInTheTable) {
  auto list = make_fixture_message();
  auto m = packed(*list);
  EXPECT_NO_THROW(validate_snapshot(m->getRoot<Snapshot>().asReader(), "packed fixture"));
  EXPECT_TRUE(check_snapshot(m->getRoot<Snapshot>().asReader()).empty());
}

TEST(Validate, TheFixtureIsValid) {
  auto m = make_fixture_message();
  EXPECT_NO_THROW(validate_snapshot(fixture_root(*m), "fixture"));
  EXPECT_TRUE(check_snapshot(fixture_root(*m)).empty());
}

TEST(Validate, EmptySnapshotIsValid) {
  capnp::MallocMessageBuilder m;
  auto s = m.initRoot<Snapshot>();
  s.initProducer().setPointerBits(64);
  s.getProducer().setLongBits(64);
  EXPECT_NO_THROW(validate_snapshot(s.asReader()));
}

TEST(Validate, CheckCollectsEveryProblemInWalkOrder) {
  auto m = make_fixture_message();
  auto s = m->getRoot<Snapshot>();
  s.getProducer().setPointerBits(8);
  s.getTasklets()[0].setPriority(99);
  s.getChannels()[0].setBalance(5);
  auto problems = check_snapshot(s.asReader());
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_NE(problems[0].find("producer.pointerBits"), std::string::npos);
  EXPECT_NE(problems[1].find("tasklets[0].priority"), std::string::npos);
  EXPECT_NE(problems[2].find("channels[0].balance"), std::string::npos);
}

TEST(Validate, CheckStopsAtTheLimitAndSaysSo) {
  auto m = make_fixture_message();
  auto s = m->getRoot<Snapshot>();
  for (auto t : s.getTasklets()) t.setPriority(50);
  auto problems = check_snapshot(s.asReader(), 2);
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[2], "(stopped after 2 problems)");
}

// 100k tasklets, each blocked on its own channel: one linear pass (a quadratic one
// would take minutes; the bound is loose for sanitizer builds).
// Linear work, checked without clocks: the reader's traversal budget (8 words per
// message word by default) runs out — SnapshotCorrupt — if the validator walks the
// message more than a few times.
TEST(Validate, LargeSnapshotChecksWithinTheTraversalBudget) {
  constexpr unsigned kN = 100'000;
  capnp::MallocMessageBuilder m(1 << 20);
  auto s = m.initRoot<Snapshot>();
  s.initProducer().setPointerBits(64);
  s.getProducer().setLongBits(64);
  auto ft = s.initFrameTypes(1)[0];
  ft.setName("bulk.Worker");
  ft.initFields(1)[0].setName("in");
  s.initValueTypes(1)[0].setName("i64");
  auto ts = s.initTasklets(kN);
  auto cs = s.initChannels(kN);
  for (unsigned i = 0; i < kN; ++i) {
    auto t = ts[i];
    t.setId(i + 1);
    t.setState(Tasklet::State::BLOCKED);
    t.setStarted(true);
    t.initWait().setReceive(i);
    auto f = t.initFrames(1)[0];
    f.setResumePoint(1);
    f.initFields(1)[0].setChannel(i);
    auto c = cs[i];
    c.setId(i + 1);
    c.setBalance(-1);
    c.initWaiters(1)[0].setTasklet(i + 1);
  }
  MessageView view = MessageView::from_bytes(encode_container(m), {}, "bulk");
  EXPECT_NO_THROW(validate_snapshot(view.root(), "bulk"));
  capnp::MallocMessageBuilder table(1 << 20);
  pack_tasklet_table(m.getRoot<Snapshot>().asReader(), table.initRoot<Snapshot>());
  MessageView table_view = MessageView::from_bytes(encode_container(table), {}, "bulk table");
  EXPECT_NO_THROW(validate_snapshot(table_view.root(), "bulk table"));
}

// Random damage to the message words (with a valid container around them) never
// crashes the reader or the checker: every outcome is valid or a SnapshotError.
// In both layouts.
class RandomDamage : public ::testing::TestWithParam<bool> {};

TEST_P(RandomDamage, GivesTypedErrorsOnly) {
  auto list = make_fixture_message();
  auto table = packed(*list);
  kj::Array<capnp::word> clean = capnp::messageToFlatArray(GetParam() ? *table : *list);
  std::mt19937_64 rng(20240501);
  int rejected = 0;
  for (int round = 0; round < 3000; ++round) {
    auto words = kj::heapArray<capnp::word>(clean.size());
    std::memcpy(static_cast<void*>(words.begin()), clean.begin(), clean.size() * 8);
    auto* bytes = reinterpret_cast<unsigned char*>(words.begin());
    int damage = 1 + static_cast<int>(rng() % 4);
    for (int d = 0; d < damage; ++d) {
      std::size_t at = rng() % (words.size() * 8);
      if (rng() % 2) bytes[at] ^= static_cast<unsigned char>(1u << (rng() % 8));
      else bytes[at] = static_cast<unsigned char>(rng());
    }
    std::string file = encode_container(words.asPtr(), {Compression::kNone});
    try {
      MessageView v = MessageView::from_bytes(file, {}, "fuzz");
      auto problems = check_snapshot(v.root());
      if (!problems.empty()) {
        ++rejected;
        EXPECT_THROW(validate_snapshot(v.root(), "fuzz"), SnapshotCorrupt);
      }
    } catch (const SnapshotError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 1000);  // most damage is noticed
}

INSTANTIATE_TEST_SUITE_P(Validate, RandomDamage, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Table" : "List"; });

}  // namespace
}  // namespace stasis::persist
