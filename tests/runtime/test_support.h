// test_support.h — small helpers shared by the runtime test suites.
#ifndef STASIS_TESTS_RUNTIME_TEST_SUPPORT_H_
#define STASIS_TESTS_RUNTIME_TEST_SUPPORT_H_

#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace stasis_test {

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

// The message of an exception_ptr's exception ("" if it is not a std::exception).
inline std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "";
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

}  // namespace stasis_test

#endif  // STASIS_TESTS_RUNTIME_TEST_SUPPORT_H_
