// frame_test.cc — soft frames: STASIS_FIELDS, fields_equal, the frame registry,
// resume points.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <typeinfo>
#include <vector>

#include "stasis/stasis.h"
#include "test_support.h"

using namespace stasis;
using stasis_test::contains;
using stasis_test::Tracker;

namespace {

struct NoEq {  // neither comparable nor printable
  int x = 0;
};

struct Fielded : Frame<Fielded> {
  int a = 0;
  std::string s;
  bool flag = false;
  double d = 0;
  int* p = nullptr;
  NoEq ne;
  STASIS_FIELDS(a, s, flag, d, p, ne)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_END(cx);
  }
};

struct Comparable : Frame<Comparable> {
  int a = 0;
  std::string s;
  std::vector<int> v;
  STASIS_FIELDS(a, s, v)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_END(cx);
  }
};

struct Wide : Frame<Wide> {
  int f0 = 0, f1 = 1, f2 = 2, f3 = 3, f4 = 4, f5 = 5, f6 = 6, f7 = 7, f8 = 8, f9 = 9;
  int f10 = 10, f11 = 11, f12 = 12, f13 = 13, f14 = 14, f15 = 15, f16 = 16, f17 = 17, f18 = 18, f19 = 19;
  STASIS_FIELDS(f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_END(cx);
  }
};

struct Unregistered : Frame<Unregistered> {
  int x = 0;
  STASIS_FIELDS(x)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_RETURN(cx, x * 2);
    STASIS_END(cx);
  }
};

struct Registered : Frame<Registered> {
  int x = 0;
  STASIS_FIELDS(x)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_RETURN(cx, x + 1);
    STASIS_END(cx);
  }
};
STASIS_REGISTER_FRAME(Registered, "stasis.test.frame.Registered", 3);

struct AlsoRegistered : Frame<AlsoRegistered> {
  int y = 0;
  STASIS_FIELDS(y)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_END(cx);
  }
};
STASIS_REGISTER_FRAME(AlsoRegistered, "stasis.test.frame.AlsoRegistered", 1);

// Frames that do nothing, one distinct type per Tag: registered only inside forked
// children (death tests), so the conflicts they create never reach the registry of
// the test process itself.
template <int Tag>
struct Blank : Frame<Blank<Tag>> {
  int x = 0;
  STASIS_FIELDS(x)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_END(cx);
  }
};
using DupA = Blank<1>;
using DupB = Blank<2>;
using TwoNames = Blank<3>;
using EmptyName = Blank<4>;
using VersionZero = Blank<5>;

std::vector<std::string> field_names(const FrameBase& f) {
  std::vector<std::string> out;
  for (const FieldValue& v : f.fields()) out.emplace_back(v.name);
  return out;
}

// --- Resume points. ---

// Returns its caller's resume point: the call site's ordinal.
struct PeekCaller : Frame<PeekCaller> {
  int seen = -1;
  STASIS_FIELDS(seen)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    seen = cx.tasklet().top_frame()->caller()->resume_point();
    STASIS_RETURN(cx, seen);
    STASIS_END(cx);
  }
};

// Three suspension points: receive (1), call (2), receive (3).
struct ThreePoints : Frame<ThreePoints> {
  Channel<int>* ch = nullptr;
  int a = 0, b = 0, c = 0;
  STASIS_FIELDS(ch, a, b, c)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_RECEIVE(cx, *ch, a);
    STASIS_CALL(cx, b, PeekCaller{});
    STASIS_RECEIVE(cx, *ch, c);
    STASIS_RETURN(cx, a * 100 + b * 10 + c);
    STASIS_END(cx);
  }
};
STASIS_REGISTER_FRAME(ThreePoints, "stasis.test.frame.ThreePoints", 1);

// Feeds `n` values to `subject`, recording the subject's state and resume point
// right before each send.
struct Inspector : Frame<Inspector> {
  Channel<int>* ch = nullptr;
  Tasklet* subject = nullptr;
  int n = 0;
  int i = 0;
  std::vector<int>* points = nullptr;
  std::vector<TaskletState>* states = nullptr;
  int corrupt_to = -1;  // >= 0: overwrite the subject's resume point before the first send
  STASIS_FIELDS(ch, subject, n, i, corrupt_to)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < n; ++i) {
      points->push_back(subject->top_frame()->resume_point());
      states->push_back(subject->state());
      if (corrupt_to >= 0) {
        const_cast<FrameBase*>(subject->top_frame())->stasis_rp_ = static_cast<std::uint16_t>(corrupt_to);
      }
      STASIS_SEND(cx, *ch, i + 1);
    }
    STASIS_END(cx);
  }
};

// Three STASIS_SCHEDULEs in a row.
struct Yielder : Frame<Yielder> {
  int unused = 0;
  STASIS_FIELDS(unused)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SCHEDULE(cx);
    STASIS_SCHEDULE(cx);
    STASIS_SCHEDULE(cx);
    STASIS_END(cx);
  }
};

// Records the subject's resume point each time it gets to run.
struct RoundWatcher : Frame<RoundWatcher> {
  Tasklet* subject = nullptr;
  std::vector<int>* points = nullptr;
  STASIS_FIELDS(subject)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    while (subject->alive()) {
      points->push_back(subject->top_frame()->resume_point());
      STASIS_SCHEDULE(cx);
    }
    STASIS_END(cx);
  }
};

}  // namespace

// --- STASIS_FIELDS. ---

TEST(FrameFields, VisitsNamesInDeclarationOrder) {
  static_assert(HasFields<Fielded>);
  static_assert(HasFields<Wide>);
  static_assert(!HasFields<int>);
  static_assert(!HasFields<NoEq>);

  Fielded f;
  std::vector<std::string> names;
  f.stasis_visit_fields([&](std::string_view name, const auto&) { names.emplace_back(name); });
  EXPECT_EQ(names, (std::vector<std::string>{"a", "s", "flag", "d", "p", "ne"}));

  // The const overload visits the same list.
  const Fielded& cf = f;
  std::vector<std::string> cnames;
  cf.stasis_visit_fields([&](std::string_view name, const auto&) { cnames.emplace_back(name); });
  EXPECT_EQ(cnames, names);
}

TEST(FrameFields, VisitorSeesTheFieldsThemselves) {
  Fielded f;
  f.a = 5;
  f.s = "abc";
  // A mutable visit writes through to the frame (what a loader needs).
  f.stasis_visit_fields([](std::string_view name, auto& v) {
    using V = std::remove_cvref_t<decltype(v)>;
    if constexpr (std::is_same_v<V, int>) {
      if (name == "a") v = 42;
    } else if constexpr (std::is_same_v<V, std::string>) {
      v += "def";
    } else if constexpr (std::is_same_v<V, bool>) {
      v = true;
    }
  });
  EXPECT_EQ(f.a, 42);
  EXPECT_EQ(f.s, "abcdef");
  EXPECT_TRUE(f.flag);

  // Addresses visited are the members' addresses.
  std::vector<const void*> addrs;
  f.stasis_visit_fields([&](std::string_view, const auto& v) { addrs.push_back(&v); });
  ASSERT_EQ(addrs.size(), 6u);
  EXPECT_EQ(addrs[0], &f.a);
  EXPECT_EQ(addrs[1], &f.s);
  EXPECT_EQ(addrs[2], &f.flag);
  EXPECT_EQ(addrs[3], &f.d);
  EXPECT_EQ(addrs[4], &f.p);
  EXPECT_EQ(addrs[5], &f.ne);
}

TEST(FrameFields, FieldsRendersNamedValuesThroughFrameBase) {
  int target = 3;
  Fielded f;
  f.a = 7;
  f.s = "hi";
  f.flag = true;
  f.d = 2.5;
  f.p = &target;
  const FrameBase& base = f;
  std::vector<FieldValue> fv = base.fields();
  ASSERT_EQ(fv.size(), 6u);
  EXPECT_EQ(fv[0].name, "a");
  EXPECT_EQ(fv[0].text, "7");
  EXPECT_EQ(fv[1].name, "s");
  EXPECT_EQ(fv[1].text, "\"hi\"");
  EXPECT_EQ(fv[2].name, "flag");
  EXPECT_EQ(fv[2].text, "true");
  EXPECT_EQ(fv[3].name, "d");
  EXPECT_EQ(fv[3].text, "2.5");
  EXPECT_EQ(fv[4].name, "p");
  char addr[32];
  std::snprintf(addr, sizeof addr, "%p", static_cast<void*>(&target));
  EXPECT_EQ(fv[4].text, addr);
  EXPECT_EQ(fv[5].name, "ne");
  EXPECT_EQ(fv[5].text, std::string("<") + typeid(NoEq).name() + ">");

  f.p = nullptr;
  f.flag = false;
  fv = base.fields();
  EXPECT_EQ(fv[4].text, "null");
  EXPECT_EQ(fv[2].text, "false");
}

TEST(FrameFields, ManyFieldsAllVisitedInOrder) {
  Wide w;
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) expected.push_back("f" + std::to_string(i));
  EXPECT_EQ(field_names(w), expected);
  std::vector<FieldValue> fv = static_cast<const FrameBase&>(w).fields();
  ASSERT_EQ(fv.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(fv[i].text, std::to_string(i)) << "field " << i;
}

TEST(FrameFields, FieldsOfALiveTaskletsFrame) {
  Scheduler s;
  Channel<int> ch;
  auto t = s.spawn(ThreePoints{.ch = &ch});
  // Before running: the root frame, with its initial fields.
  ASSERT_NE(t->top_frame(), nullptr);
  EXPECT_EQ(field_names(*t->top_frame()), (std::vector<std::string>{"ch", "a", "b", "c"}));
  EXPECT_EQ(t->top_frame()->fields()[1].text, "0");
  t->kill();
}

TEST(FrameFields, FieldsEqualComparesFieldByField) {
  Comparable a{.a = 1, .s = "x", .v = {1, 2, 3}};
  Comparable b{.a = 1, .s = "x", .v = {1, 2, 3}};
  EXPECT_TRUE(fields_equal(a, b));
  EXPECT_TRUE(fields_equal(b, a));
  b.v.push_back(4);
  EXPECT_FALSE(fields_equal(a, b));
  b.v = a.v;
  b.s = "y";
  EXPECT_FALSE(fields_equal(a, b));
  b.s = "x";
  b.a = 2;
  EXPECT_FALSE(fields_equal(a, b));
  b.a = 1;
  EXPECT_TRUE(fields_equal(a, b));

  // The frame header (resume point) is not a field.
  b.stasis_rp_ = 5;
  EXPECT_TRUE(fields_equal(a, b));
}

TEST(FrameFields, FieldsEqualWithoutOperatorEqualsIsIdentity) {
  Fielded a, b;
  // Every comparable field equal, but NoEq has no operator==: two distinct objects
  // are never equal, an object is equal to itself.
  EXPECT_FALSE(fields_equal(a, b));
  EXPECT_TRUE(fields_equal(a, a));
  EXPECT_TRUE(fields_equal(b, b));
}

// --- The registry. ---

TEST(Registry, StableNameAndVersion) {
  FrameRegistry& reg = FrameRegistry::instance();
  const FrameOps& ops = reg.find("stasis.test.frame.Registered");
  EXPECT_STREQ(ops.name, "stasis.test.frame.Registered");
  EXPECT_EQ(ops.version, 3u);

  Registered r;
  const FrameBase& base = r;
  EXPECT_TRUE(base.registered());
  EXPECT_STREQ(base.type_name(), "stasis.test.frame.Registered");
  EXPECT_EQ(&base.ops(), &ops);
  EXPECT_EQ(ops.size, sizeof(Registered));

  EXPECT_EQ(reg.find_or_null("stasis.test.frame.Registered"), &ops);
  EXPECT_EQ(&reg.find("stasis.test.frame.AlsoRegistered"), &static_cast<const FrameBase&>(AlsoRegistered{}).ops());
  EXPECT_NE(&reg.find("stasis.test.frame.AlsoRegistered"), &ops);
}

TEST(Registry, UnregisteredTypeIsNamedByItsCxxName) {
  Unregistered u;
  const FrameBase& base = u;
  EXPECT_FALSE(base.registered());
  EXPECT_STREQ(base.type_name(), typeid(Unregistered).name());
  EXPECT_EQ(base.ops().version, 0u);
  // An unregistered frame still runs.
  Scheduler s;
  auto t = s.spawn(Unregistered{.x = 21});
  s.run();
  EXPECT_EQ(t->result<int>(), 42);
}

TEST(Registry, NamesAreSortedAndIncludeRegisteredFrames) {
  std::vector<std::string> names = FrameRegistry::instance().names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_NE(std::find(names.begin(), names.end(), "stasis.test.frame.Registered"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "stasis.test.frame.AlsoRegistered"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "stasis.test.frame.ThreePoints"), names.end());
}

TEST(Registry, FindOfUnknownNameThrowsNamingIt) {
  FrameRegistry& reg = FrameRegistry::instance();
  EXPECT_EQ(reg.find_or_null("stasis.test.frame.NoSuchFrame"), nullptr);
  try {
    reg.find("stasis.test.frame.NoSuchFrame");
    FAIL() << "find() of an unknown name did not throw";
  } catch (const RegistryError& e) {
    EXPECT_NE(std::string(e.what()).find("stasis.test.frame.NoSuchFrame"), std::string::npos) << e.what();
  }
  EXPECT_THROW(reg.find(""), RegistryError);
}

TEST(Registry, ReRegisteringTheSameTypeUnderItsNameIsHarmless) {
  EXPECT_TRUE(register_frame<Registered>("stasis.test.frame.Registered", 3));
  EXPECT_NO_THROW(FrameRegistry::instance().find("stasis.test.frame.Registered"));
  EXPECT_STREQ(Registered{}.type_name(), "stasis.test.frame.Registered");
}

namespace {

template <class F>
std::string registry_error_of(F&& f) {
  try {
    f();
  } catch (const RegistryError& e) {
    return e.what();
  } catch (...) {
    return "<other exception>";
  }
  return "<no exception>";
}

[[noreturn]] void duplicate_name_child() {
  FrameRegistry& reg = FrameRegistry::instance();
  CHILD_CHECK(registry_error_of([&] { reg.check(); }) == "<no exception>");
  CHILD_CHECK(register_frame<DupA>("stasis.test.dup", 1));
  CHILD_CHECK(!register_frame<DupB>("stasis.test.dup", 2));  // conflict: recorded, not fatal
  // The first registration keeps the name...
  CHILD_CHECK(reg.find_or_null("stasis.test.dup") == &static_cast<const FrameBase&>(DupA{}).ops());
  CHILD_CHECK(!DupB{}.registered());
  // ...but find() and check() report the conflict with both type names.
  std::string found = registry_error_of([&] { reg.find("stasis.test.dup"); });
  CHILD_CHECK(contains(found, "stasis.test.dup"));
  CHILD_CHECK(contains(found, typeid(DupA).name()));
  CHILD_CHECK(contains(found, typeid(DupB).name()));
  std::string checked = registry_error_of([&] { reg.check(); });
  CHILD_CHECK(contains(checked, "stasis.test.dup"));
  CHILD_CHECK(contains(checked, typeid(DupB).name()));
  // Other names are unaffected.
  CHILD_CHECK(registry_error_of([&] { reg.find("stasis.test.frame.Registered"); }) == "<no exception>");
  std::exit(0);
}

[[noreturn]] void bad_registrations_child() {
  FrameRegistry& reg = FrameRegistry::instance();
  CHILD_CHECK(register_frame<TwoNames>("stasis.test.two.first", 1));
  CHILD_CHECK(!register_frame<TwoNames>("stasis.test.two.second", 1));  // one type, one name
  CHILD_CHECK(std::string(TwoNames{}.type_name()) == "stasis.test.two.first");
  CHILD_CHECK(reg.find_or_null("stasis.test.two.second") == nullptr);
  CHILD_CHECK(contains(registry_error_of([&] { reg.check(); }), "stasis.test.two.second"));
  CHILD_CHECK(!register_frame<EmptyName>("", 1));
  CHILD_CHECK(!register_frame<VersionZero>("stasis.test.version.zero", 0));
  CHILD_CHECK(!VersionZero{}.registered());
  std::string all = registry_error_of([&] { reg.check(); });
  CHILD_CHECK(contains(all, typeid(EmptyName).name()));
  CHILD_CHECK(contains(all, "stasis.test.version.zero"));
  std::exit(0);
}

}  // namespace

TEST(Registry, DuplicateNameByTwoTypesIsReportedByFindAndCheck) {
  stasis_test::UseCleanDeathTestChild();
  EXPECT_EXIT(duplicate_name_child(), ::testing::ExitedWithCode(0), "");
}

TEST(Registry, TypeUnderTwoNamesEmptyNameAndVersionZeroAreReported) {
  stasis_test::UseCleanDeathTestChild();
  EXPECT_EXIT(bad_registrations_child(), ::testing::ExitedWithCode(0), "");
}

TEST(Registry, ProcessRegistryHasNoConflicts) {
  // The static registrations of this binary are consistent.
  EXPECT_NO_THROW(FrameRegistry::instance().check());
}

// --- Resume points. ---

TEST(FrameResumePoint, OrdinalsOfABlockedTaskletsTopFrame) {
  Scheduler s;
  Channel<int> ch;
  std::vector<int> points;
  std::vector<TaskletState> states;
  auto subject = s.spawn(ThreePoints{.ch = &ch});
  EXPECT_EQ(subject->top_frame()->resume_point(), 0);  // the entry
  s.spawn(Inspector{.ch = &ch, .subject = subject.get(), .n = 2, .points = &points, .states = &states});
  s.run();
  // Blocked in the first receive (1), then — after the call (2) — in the second
  // receive (3).
  EXPECT_EQ(points, (std::vector<int>{1, 3}));
  EXPECT_EQ(states, (std::vector<TaskletState>{TaskletState::kBlocked, TaskletState::kBlocked}));
  // a = 1, b = the call site's ordinal seen by the callee, c = 2.
  EXPECT_EQ(subject->result<int>(), 1 * 100 + 2 * 10 + 2);
  EXPECT_EQ(subject->top_frame(), nullptr);
}

TEST(FrameResumePoint, ScheduleSitesAreNumberedOneTwoThree) {
  Scheduler s;
  std::vector<int> points;
  auto subject = s.spawn(Yielder{});
  s.spawn(RoundWatcher{.subject = subject.get(), .points = &points});
  s.run();
  EXPECT_EQ(points, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(subject->state(), TaskletState::kFinished);
}

TEST(FrameResumePoint, BlockedFrameIsTheRegisteredTopFrame) {
  Scheduler s;
  Channel<int> ch;
  auto subject = s.spawn(ThreePoints{.ch = &ch});
  EXPECT_THROW(s.run(), Deadlock);
  ASSERT_TRUE(subject->blocked());
  EXPECT_STREQ(subject->top_frame()->type_name(), "stasis.test.frame.ThreePoints");
  EXPECT_EQ(subject->top_frame()->resume_point(), 1);
  EXPECT_EQ(subject->frame_depth(), 1u);
  subject->kill();
}

TEST(FrameResumePoint, BadResumePointEndsTheTaskletWithBadResumePoint) {
  Scheduler s;
  Channel<int> ch;
  std::vector<int> points;
  std::vector<TaskletState> states;
  auto subject = s.spawn(ThreePoints{.ch = &ch});
  s.spawn(Inspector{.ch = &ch, .subject = subject.get(), .n = 1, .points = &points, .states = &states,
                    .corrupt_to = 77});
  s.run();
  EXPECT_EQ(points, (std::vector<int>{1}));
  EXPECT_EQ(subject->state(), TaskletState::kFinished);
  EXPECT_TRUE(subject->failed());
  try {
    subject->result<int>();
    FAIL() << "result() of a frame resumed at a bad resume point did not throw";
  } catch (const BadResumePoint& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("stasis.test.frame.ThreePoints"), std::string::npos) << m;
    EXPECT_NE(m.find("77"), std::string::npos) << m;
  }
  EXPECT_EQ(ch.balance(), 0);
}
