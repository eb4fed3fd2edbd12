// stasis/net/host.h — a node: one thread's scheduler, reachable over the network.
//
// A Host makes the calling thread's Scheduler a node (DESIGN.md, Migration): it
// listens for authenticated peers (Cap'n Proto RPC, schema/node.capnp), accepts
// tasklets migrated to it, moves tasklets to other nodes, and serves the channels
// its migrated tasklets left behind. The kj event loop and the scheduler share the
// thread: Host::run_until() alternates between network events and tasklets, so
// every channel is only ever touched from its own thread.
//
// Migration is a two-phase handoff that never loses or duplicates a tasklet:
//   1. the source pauses the tasklets (blocked ones stay parked) and freezes them;
//   2. the target restores them all-or-nothing, records the migration id as
//      committed, lets them run and acknowledges;
//   3. only then does the source drop its copy (the local tasklets are killed).
// Any failure before the acknowledgement resumes them at the source. A lost
// acknowledgement is resolved by asking the target (Node.outcome), which also
// retires the id so that a stale request can never commit later.
//
// Channels stay home: a migrated tasklet's channels become proxies on the target
// (relay Channel<T> objects whose waiting tasklets the host serves through the
// home node, remote_channels.h), so send, receive, close and their errors keep
// their semantics and values keep the home channel's order.
//
// Invariants: one Host per thread, created after the thread's Scheduler and
// destroyed before it; all calls from that thread, outside Scheduler::run().
#ifndef STASIS_NET_HOST_H_
#define STASIS_NET_HOST_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <string>
#include <vector>

#include "stasis/net/errors.h"
#include "stasis/net/key.h"
#include "stasis/scheduler.h"
#include "stasis/soft.h"

namespace stasis::net {

struct HostOptions {
  // ADDR:PORT to listen on; port 0 picks a free port. Loopback by default: give
  // an external address explicitly to accept peers from other hosts.
  std::string listen = "127.0.0.1:0";
  // How peers reach this node (stored in migrated snapshots as the home of its
  // channels). Default: the bound listen address.
  std::string advertise;
  // Default: the advertised address.
  std::string node_id;
  // Largest RPC message accepted from a peer (snapshots included).
  std::size_t max_message_bytes = 64u << 20;
  // Where the host reports refused peers and failed handoffs; stderr by default.
  std::function<void(const std::string&)> log;
  // Test hook (fault injection in real processes): called when an incoming
  // migration starts ("accept") and after it committed, before the
  // acknowledgement is sent ("committed"). Throwing at "accept" refuses it.
  std::function<void(std::string_view phase)> fault_hook;
};

// Faults a test injects into the source side of a migration (real sockets).
enum class SourceFault : std::uint8_t {
  kNone,
  kDropBeforeSend,   // the connection is dropped before the snapshot is sent
  kDropAfterSend,    // dropped right after the request is queued (it may or may not arrive)
  kDropAfterAck,     // the acknowledgement arrives, the connection is dropped, the ack is "lost"
};

struct MigrateOptions {
  std::chrono::milliseconds connect_timeout{5000};
  // How long to wait for the target's acknowledgement.
  std::chrono::milliseconds reply_timeout{30000};
  // After a lost acknowledgement: how long to keep asking the target whether it
  // committed. When it stays unreachable that long, its copy (if any) is taken
  // as lost with it and the tasklets resume at the source.
  std::chrono::milliseconds in_doubt_timeout{10000};
  SourceFault fault = SourceFault::kNone;
  int fault_turns = 0;  // kDropAfterSend: event-loop turns before the drop
};

// One hosted tasklet as Node.status reports it.
struct TaskletStatus {
  std::uint64_t id = 0;
  std::string name;
  std::string state;
  std::string wait;
  std::string result;  // finished: the result rendered by its codec, or "error: ..."
};

struct NodeStatus {
  std::string node_id;
  std::vector<TaskletStatus> tasklets;
};

class Host {
 public:
  // Listens on options.listen. ConnectionError if the address cannot be bound,
  // SchedulerError if the thread already has a Host.
  Host(Scheduler& scheduler, SharedKey key, HostOptions options = {});
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // The thread's Host, or null.
  static Host* current() noexcept;

  const std::string& address() const noexcept;
  const std::string& node_id() const noexcept;
  Scheduler& scheduler() noexcept;

  // Moves `tasklets` (alive, soft, not running, of this thread's scheduler) to
  // the node at `address` as one all-or-nothing handoff (see the file comment).
  // On success the local tasklets are killed (their handles show kKilled) and
  // forgotten by this host. Throws, with the tasklets running on here unchanged:
  // FreezeError (cannot be frozen), ConnectionError / AuthenticationError (target
  // unreachable or wrong key), MigrationRefused (the target would not restore
  // them), MigrationError (anything else). The channels they reference stay here
  // (a channel destroyed while other nodes use it raises ChannelDestroyed there).
  void migrate(std::span<const TaskletRef> tasklets, const std::string& address, const MigrateOptions& options = {});
  void migrate(const TaskletRef& tasklet, const std::string& address, const MigrateOptions& options = {}) {
    migrate(std::span<const TaskletRef>(&tasklet, 1), address, options);
  }

  // The status of the node at `address` (this node's own when it is ours).
  // ConnectionError if the node cannot be reached or does not answer within
  // `timeout` (a stopped or overloaded process); the connection is then dropped
  // and the next call makes a new one.
  NodeStatus status(const std::string& address, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  NodeStatus local_status() const;
  // Round trip of `payload` to the node at `address` (Node.echo); fails like status().
  std::string echo(const std::string& address, std::string_view payload,
                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Hosted tasklets: those migrated here, plus adopted ones. They are what
  // status reports and checkpoint() freezes.
  void adopt(const TaskletRef& tasklet);
  std::vector<TaskletRef> hosted() const;
  // Freezes the alive hosted tasklets into `path` (crash-safe write). Their
  // remote channels are written as plain channels. FreezeError/CheckpointError.
  std::size_t checkpoint(const std::string& path);

  // Runs network events and tasklets until done() is true or stop() was called;
  // false if `limit` passed first. Exceptions from Scheduler::run propagate.
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds limit = std::chrono::milliseconds::max());
  // Runs until stop().
  void run() { run_until([] { return false; }); }
  // Makes run()/run_until() return after the current turn.
  void stop() noexcept;
  // Calls `handler` (on this thread, from run()) when the process gets `signal`
  // (SIGTERM, SIGINT). Call before the first run.
  void on_signal(int signal, std::function<void()> handler);

  // Self-migration from inside a tasklet (STASIS_MIGRATE): pauses the running
  // tasklet and queues its move to `address`; run() performs it between turns.
  // If it fails the tasklet resumes here and `failed` (if given) is set to true.
  bool request_self_migration(Tasklet& self, std::string address, bool* failed);

  struct Impl;
  Impl& impl() noexcept { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace stasis::net

// Moves the running soft tasklet to the node at `address` and continues there,
// right after this statement. The thread must have a Host. If the move fails the
// tasklet continues here and `failed` (a bool field) is true.
#define STASIS_MIGRATE(cx, address, failed) STASIS_MIGRATE_AT_(cx, address, failed, __COUNTER__)
#define STASIS_MIGRATE_AT_(cx, address, failed, K)                                                     \
  STASIS_SUSPEND_IF_(K, ::stasis::net::detail::migrate_self((cx).tasklet(), (address), &(failed)), (void)0)

namespace stasis::net::detail {
// Queues the running tasklet's migration with the thread's Host (SchedulerError
// if none); true: it is paused and must suspend.
bool migrate_self(Tasklet& self, const std::string& address, bool* failed);
}  // namespace stasis::net::detail

#endif  // STASIS_NET_HOST_H_
