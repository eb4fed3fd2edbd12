// stasis/error.h — the typed errors every Stasis failure is reported with.
//
// Every error a user can cause derives from stasis::Error, carries a message that
// names the object involved (tasklet, channel, frame type) and says what to do.
// TaskletExit is deliberately *not* an Error: it is the kill request travelling
// through a tasklet, and `catch (const stasis::Error&)` must never swallow it.
#ifndef STASIS_ERROR_H_
#define STASIS_ERROR_H_

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace stasis {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A blocking operation (send, receive, select, sleep, switch) was attempted where
// no tasklet can block: outside any tasklet, or through a plain call inside a soft
// frame (soft frames block only through the STASIS_* macros).
class CannotBlock : public Error {
 public:
  using Error::Error;
};

// A tasklet was asked to block while its block_trap flag was set.
class BlockTrap : public Error {
 public:
  using Error::Error;
};

// Send on a closing channel with no receiver, or receive on a closed channel.
class ChannelClosed : public Error {
 public:
  using Error::Error;
};

// A channel was destroyed while tasklets were still waiting on it; those tasklets
// are woken with this error.
class ChannelDestroyed : public Error {
 public:
  using Error::Error;
};

// An operation that the tasklet's state forbids: resuming a finished tasklet,
// switching to a running one, asking an unfinished tasklet for its result...
class TaskletStateError : public Error {
 public:
  using Error::Error;
};

// Scheduler::run() was called while the same scheduler was already running, or a
// second scheduler was created on a thread that has one.
class SchedulerError : public Error {
 public:
  using Error::Error;
};

// A value of one type was delivered where another was expected (a call result, a
// switch value, a select case value).
class TypeMismatch : public Error {
 public:
  using Error::Error;
};

// Bad argument to a Stasis call (priority out of range, capacity overflow...).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// Frame type registration problems: two types under one name, an empty name, or a
// lookup of a name nobody registered.
class RegistryError : public Error {
 public:
  using Error::Error;
};

// A soft frame was resumed at a resume point its run() does not contain.
class BadResumePoint : public Error {
 public:
  using Error::Error;
};

// One blocked tasklet in a deadlock report.
struct BlockedTasklet {
  std::uint64_t id;
  std::string name;
  std::string waits_on;  // "receive on channel #3 'jobs'", "select over 2 channels", ...
};

// Scheduler::run() found nothing runnable, no timer pending, and tasklets blocked.
// The blocked tasklets stay blocked; the scheduler stays usable (kill them, or feed
// their channels from outside and run again).
class Deadlock : public Error {
 public:
  explicit Deadlock(std::vector<BlockedTasklet> blocked);
  const std::vector<BlockedTasklet>& blocked() const noexcept { return blocked_; }

 private:
  std::vector<BlockedTasklet> blocked_;
};

// A tasklet that nobody observes (no TaskletRef held outside the scheduler) ended
// with an exception; Scheduler::run() reports it instead of dropping it. The
// original exception is available as a nested exception.
class UnhandledTaskletError : public Error, public std::nested_exception {
 public:
  UnhandledTaskletError(std::uint64_t id, const std::string& what);
  std::uint64_t tasklet_id() const noexcept { return id_; }

 private:
  std::uint64_t id_;
};

// The kill request. Thrown at a tasklet's suspension point by Tasklet::kill();
// a tasklet that ends with it is in state kKilled and reports nothing.
class TaskletExit : public std::exception {
 public:
  const char* what() const noexcept override { return "stasis::TaskletExit"; }
};

}  // namespace stasis

#endif  // STASIS_ERROR_H_
