// test_support.h — small helpers shared by the runtime test suites:
//   - Tracker and Probe, frame members that record their own destruction;
//   - what_of, holds and contains, for checking exceptions and messages;
//   - Log, the event log the frames in test_frames.h append to;
//   - RunExpectingDeadlock, which runs a scheduler that must deadlock;
//   - CHILD_CHECK, the assertion of death-test children (EXPECT_EXIT bodies);
//   - UnderQemu and UseCleanDeathTestChild, for running under qemu-user.
// The frame types several suites share (senders, receivers, a producer/summer
// pipeline, ...) are in test_frames.h.
#ifndef STASIS_TESTS_RUNTIME_TEST_SUPPORT_H_
#define STASIS_TESTS_RUNTIME_TEST_SUPPORT_H_

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "stasis/stasis.h"

// Checks `cond` inside a forked death-test child: on failure prints it and exits 1
// (gtest assertions do not reach the parent from there; the parent expects exit 0).
#define CHILD_CHECK(cond)                                                          \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "child check failed: %s (line %d)\n", #cond, __LINE__); \
      std::exit(1);                                                                \
    }                                                                              \
  } while (0)

namespace stasis_test {

// True when the suite runs under qemu-user: the aarch64 cross build's emulator
// (cmake/toolchains/aarch64-linux-gnu.cmake) sets STASIS_UNDER_QEMU=1 in the guest.
// Only for what qemu-user cannot do; docs/platforms.md lists each use and why.
inline bool UnderQemu() {
  const char* v = std::getenv("STASIS_UNDER_QEMU");
  return v != nullptr && std::string(v) == "1";
}

// Death tests run their child in a fresh exec of the test binary ("threadsafe"
// style). A qemu-user guest cannot exec an aarch64 binary (no binfmt_misc in a
// container), so under qemu the child is a plain fork ("fast" style) instead;
// ctest runs one test per process, so the forked child starts as clean.
inline void UseCleanDeathTestChild() {
  GTEST_FLAG_SET(death_test_style, UnderQemu() ? "fast" : "threadsafe");
}

// A frame member that counts its own destruction: only the live copy counts (a
// moved-from Tracker is disarmed), so moving a frame into a tasklet on spawn does
// not count as a destruction.
struct Tracker {
  int* count = nullptr;
  Tracker() = default;
  explicit Tracker(int* c) noexcept : count(c) {}
  Tracker(Tracker&& o) noexcept : count(std::exchange(o.count, nullptr)) {}
  Tracker& operator=(Tracker&& o) noexcept {
    count = std::exchange(o.count, nullptr);
    return *this;
  }
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;
  ~Tracker() {
    if (count) ++*count;
  }
};

// A frame member that logs its tag when destroyed (again only the live copy), to
// check the order in which frames are unwound.
struct Probe {
  std::vector<int>* log = nullptr;
  int tag = 0;
  Probe() = default;
  Probe(std::vector<int>* l, int t) noexcept : log(l), tag(t) {}
  Probe(Probe&& o) noexcept : log(std::exchange(o.log, nullptr)), tag(o.tag) {}
  Probe& operator=(Probe&& o) noexcept {
    log = std::exchange(o.log, nullptr);
    tag = o.tag;
    return *this;
  }
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;
  ~Probe() {
    if (log) log->push_back(tag);
  }
};

// The message of an exception_ptr's exception ("<not a std::exception>" if it is
// not one).
inline std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "<not a std::exception>";
  }
}

// True if `e` holds an exception of type E (or derived).
template <class E>
bool holds(const std::exception_ptr& e) {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

// True if `needle` occurs in `haystack`.
inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// An event log: frames append what they did, a test compares the whole sequence.
using Log = std::vector<std::string>;

// Runs `s` expecting a deadlock; returns the report (empty, and a failure, if
// run() returned instead).
inline std::vector<stasis::BlockedTasklet> RunExpectingDeadlock(stasis::Scheduler& s) {
  try {
    s.run();
  } catch (const stasis::Deadlock& d) {
    return d.blocked();
  }
  ADD_FAILURE() << "run() did not report a deadlock";
  return {};
}

}  // namespace stasis_test

#endif  // STASIS_TESTS_RUNTIME_TEST_SUPPORT_H_
