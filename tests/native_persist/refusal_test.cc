// refusal_test.cc — pointers a native tasklet may not hold across a freeze: each
// is refused with the frame and function that hold it and the target region
// named, and the tasklet then finishes normally.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "stasis/native.h"
#include "stasis/persist/container.h"
#include "stasis/persist/native.h"
#include "stasis/schema/snapshot.capnp.h"
#include <capnp/message.h>
#include "stasis/persist/snapshot.h"
#include "stasis/stasis.h"

namespace stasis::test {
namespace {

using persist::NativeFreezeError;

thread_local std::int64_t tls_counter = 0;

// Each keeps `p` in a volatile slot of its own frame across the receive.
[[gnu::noinline]] std::int64_t holds_malloc_block(Channel<std::int64_t>& in) {
  auto* block = static_cast<std::int64_t*>(std::malloc(64));
  block[0] = 5;
  std::int64_t* volatile slot = block;
  std::int64_t v = in.receive();
  std::int64_t r = *slot + v;
  std::free(slot);
  return r;
}

[[gnu::noinline]] std::int64_t holds_main_stack(Channel<std::int64_t>& in, std::int64_t* on_main_stack) {
  std::int64_t* volatile slot = on_main_stack;
  std::int64_t v = in.receive();
  return *slot + v;
}

[[gnu::noinline]] std::int64_t holds_thread_local(Channel<std::int64_t>& in) {
  tls_counter = 11;
  std::int64_t* volatile slot = &tls_counter;
  std::int64_t v = in.receive();
  return *slot + v;
}

struct Case {
  const char* function;
  const char* target;
};

// Freezes the parked tasklet t, expects a refusal naming `c`, then finishes t.
void expect_refusal_then_finish(Scheduler& s, Channel<std::int64_t>& in, TaskletRef t, const Case& c,
                                std::int64_t expected) {
  EXPECT_THROW(s.run(), Deadlock);
  try {
    persist::freeze(t);
    ADD_FAILURE() << "freeze accepted a tasklet holding a pointer into " << c.target;
  } catch (const NativeFreezeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(c.target), std::string::npos) << msg;
    bool named = false;
    for (const NativeFreezeError::Problem& p : e.problems()) {
      if (p.function.find(c.function) != std::string::npos && p.target.find(c.target) != std::string::npos) {
        named = true;
        EXPECT_GE(p.frame, 0);
        EXPECT_EQ(p.tasklet_id, t->id());
        EXPECT_NE(p.where.find("frame #" + std::to_string(p.frame)), std::string::npos) << p.where;
      }
    }
    EXPECT_TRUE(named) << "no problem names " << c.function << " and " << c.target << ":\n" << msg;
  }
  // Nothing was changed: the tasklet goes on and finishes with its result.
  ASSERT_EQ(t->state(), TaskletState::kBlocked);
  spawn_native(s, [&in] { in.send(100); }, {.name = "sender"});
  s.run();
  EXPECT_EQ(t->result<std::int64_t>(), expected);
}

TEST(NativeRefusal, PointerToMallocHeapOutsideTheArena) {
  Scheduler s;
  Channel<std::int64_t> in({.name = "in"});
  TaskletRef t = spawn_native(s, [&in] { return holds_malloc_block(in); }, {.name = "malloc-holder"});
  expect_refusal_then_finish(s, in, t, {"holds_malloc_block", "malloc heap"}, 105);
}

TEST(NativeRefusal, PointerToTheMainThreadsStack) {
  Scheduler s;
  Channel<std::int64_t> in({.name = "in"});
  std::int64_t on_main_stack = 9;
  TaskletRef t = spawn_native(s, [&in, &on_main_stack] { return holds_main_stack(in, &on_main_stack); },
                              {.name = "stack-holder"});
  expect_refusal_then_finish(s, in, t, {"holds_main_stack", "main thread's stack"}, 109);
}

TEST(NativeRefusal, PointerToAThreadLocal) {
  Scheduler s;
  Channel<std::int64_t> in({.name = "in"});
  TaskletRef t = spawn_native(s, [&in] { return holds_thread_local(in); }, {.name = "tls-holder"});
  expect_refusal_then_finish(s, in, t, {"holds_thread_local", "thread-local storage"}, 111);
}

TEST(NativeRefusal, DedicatedStacksAreRefusedByName) {
  Scheduler s;
  Channel<std::int64_t> in({.name = "in"});
  TaskletRef t = spawn_native(s, [&in] { return in.receive(); }, {.name = "dedicated", .stack = StackKind::kDedicated});
  EXPECT_THROW(s.run(), Deadlock);
  try {
    persist::freeze(t);
    ADD_FAILURE() << "a dedicated-stack tasklet was frozen";
  } catch (const FreezeError& e) {
    EXPECT_NE(std::string(e.what()).find("'dedicated'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("StackKind::kSliced"), std::string::npos) << e.what();
  }
  spawn_native(s, [&in] { in.send(3); });
  s.run();
  EXPECT_EQ(t->result<std::int64_t>(), 3);
}

TEST(NativeRefusal, SnapshotWithNativeTaskletsNeedsAllowNative) {
  Scheduler s;
  Channel<std::int64_t> in({.name = "in"});
  TaskletRef t = spawn_native(s, [&in] { return in.receive(); }, {.name = "plain"});
  EXPECT_THROW(s.run(), Deadlock);
  persist::Snapshot snap = persist::freeze(s);
  std::string refusal;
  std::thread([&] {  // one scheduler per thread
    Scheduler s2;
    try {
      persist::thaw(snap, s2);
    } catch (const SnapshotIncompatible& e) {
      refusal = e.what();
    }
  }).join();
  EXPECT_NE(refusal.find("allow_native"), std::string::npos) << refusal;
  spawn_native(s, [&in] { in.send(1); });
  s.run();
  EXPECT_EQ(t->result<std::int64_t>(), 1);
}

// A native snapshot claims another architecture: refused naming both, before
// anything is restored.
TEST(NativeRefusal, SnapshotFromAnotherArchitectureIsRefused) {
  Scheduler s;
  Channel<std::int64_t> in({.name = "in"});
  TaskletRef t = spawn_native(s, [&in] { return in.receive(); }, {.name = "plain"});
  EXPECT_THROW(s.run(), Deadlock);
  persist::Snapshot snap = persist::freeze(s);
  persist::MessageView view = persist::MessageView::from_bytes(snap.bytes());
  capnp::MallocMessageBuilder message;
  message.setRoot(view.root());
  auto root = message.getRoot<schema::Snapshot>();
  const std::string other = std::string(root.getProducer().getArch().cStr()) == "aarch64" ? "x86_64" : "aarch64";
  root.getProducer().setArch(other);
  persist::Snapshot foreign(persist::encode_container(message));
  std::string refusal;
  std::thread([&] {
    Scheduler s2;
    try {
      persist::thaw(foreign, s2, {.allow_native = true});
    } catch (const persist::NativeLayoutMismatch& e) {
      refusal = e.what();
    }
  }).join();
  EXPECT_NE(refusal.find("frozen on " + other), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("architecture"), std::string::npos) << refusal;
  spawn_native(s, [&in] { in.send(1); });
  s.run();
  EXPECT_EQ(t->result<std::int64_t>(), 1);
}

}  // namespace
}  // namespace stasis::test
