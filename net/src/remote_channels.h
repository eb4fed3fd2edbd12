// remote_channels.h — channels that live on one node and are used from others.
//
// Home side: a channel referenced by a tasklet that migrated away is *exported*
// (found by its id). A remote send, send_exception or receive on it runs as a
// helper soft tasklet at home, so it blocks, pairs and fails exactly like a
// local operation; the RPC completes when the helper does. A readiness query
// (Node.channelReady) completes once the operation would not block at home.
//
// Proxy side: a channel whose home is another node is represented by a relay
// Channel<T> (the proxy: ChannelBase::set_relay), so restored frames keep their
// Channel<T>* fields. A relay never pairs or buffers locally: every value goes
// through home, in order, even when both ends run on this node. The host serves
// the waiting tasklets: for the first sender and the first receiver it runs the
// same operation at home and, once that completed, completes the local one (the
// sender is released only after home took the value). While its operation is
// in flight, a waiter waits on the proxy's send or receive *limbo* channel
// (plain channels), where the completion pairs with it.
// A select's case on a proxy first asks home whether the operation is ready
// (channelReady) while the case stays queued on the relay with its siblings. If
// the case is still waiting when home answers, the select commits to it
// (SelectBase::choose: the siblings are dequeued) and the operation runs as
// above; otherwise nothing happened at home. So exactly one case of a select
// happens, as in one process; a committed case whose home partner went away in
// between waits for the next one.
// Failures are raised in the waiting tasklet as ChannelClosed /
// ChannelDestroyed / RemoteChannelError, and exceptions sent with
// send_exception as their registered type (stasis/net/exceptions.h); a select's
// receive case on a home channel found closed reports closed(), as locally.
//
// Invariants:
//   - at most one remote call (readiness or operation) per proxy and direction
//     is in flight; while it is, the waiter it serves is recorded and its
//     tasklet cannot migrate;
//   - completions are queued by kj callbacks and applied by apply() between
//     turns, never while a migration is freezing tasklets;
//   - pump() looks only at proxies marked since the last one: a waiter parked
//     on the relay, a close, a completion, or a connection still being made
//     marks its proxy, so a node with many idle proxies pays nothing for them;
//   - a waiter is dereferenced at a completion only if it is still queued where
//     it was left (a select's waiter may be gone with its frame);
//   - an exported channel is forgotten when it is destroyed (a hook in
//     ~ChannelBase): later operations on it fail with ChannelDestroyed, never
//     touch freed memory;
//   - a value received from home with no local receiver left (it was killed) is
//     kept and handed to the proxy's next receiver: never dropped.
#ifndef STASIS_NET_SRC_REMOTE_CHANNELS_H_
#define STASIS_NET_SRC_REMOTE_CHANNELS_H_

#include <kj/async.h>

#include <any>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "stasis/persist/value_codec.h"
#include "stasis/schema/node.capnp.h"

namespace stasis::net {

struct Home {
  std::string node_id;
  std::string address;
  std::uint64_t id = 0;
};

class ClientConnection;

// What RemoteChannels needs from its host.
class ChannelHost {
 public:
  virtual ~ChannelHost() = default;
  virtual Scheduler& scheduler() = 0;
  // An authenticated connection to the node at address (cached). Throws NetError.
  virtual ClientConnection& connection(const std::string& address) = 0;
  virtual void forget_connection(const std::string& address) = 0;
  // Without waiting: the live connection to `address`, or null while one is
  // being made (started here if needed; wake() follows when it is ready). After
  // a failed attempt: null with `failure` set, once (the next call retries).
  virtual ClientConnection* connection_now(const std::string& address, std::string& failure) = 0;
  virtual kj::TaskSet& tasks() = 0;
  virtual void wake() = 0;
  virtual void log(const std::string& line) const = 0;
};

class RemoteChannels {
 public:
  // One per thread (a Host's): it watches the thread's channels for the
  // destruction of exported ones.
  explicit RemoteChannels(ChannelHost& host);
  ~RemoteChannels();
  RemoteChannels(const RemoteChannels&) = delete;
  RemoteChannels& operator=(const RemoteChannels&) = delete;

  // --- Home side. ---
  void export_channel(ChannelBase* ch) { exported_[ch->id()] = ch; }
  // The exported channel `id`, or null (never exported, or destroyed since).
  ChannelBase* exported(std::uint64_t id) const;
  // Serves Node.channelSend / channelReceive / channelClose for an exported channel.
  // The returned promise completes when the helper tasklet's operation did; the
  // builders must stay valid until then (they belong to the call's context).
  // `peer` names the sending node in the message of an exception it sent.
  kj::Promise<void> home_send(schema::node::Node::ChannelSendParams::Reader params, const std::string& peer,
                              schema::node::Failure::Builder failure);
  // Serves Node.channelReady: completes once an operation in that direction
  // would not block at home (checked now and at every pump()).
  kj::Promise<void> home_ready(std::uint64_t id, bool sending, schema::node::Failure::Builder failure);
  kj::Promise<void> home_receive(std::uint64_t id, schema::node::Node::ChannelReceiveResults::Builder results);
  void home_close(std::uint64_t id, schema::node::Failure::Builder failure);

  // --- Proxy side. ---
  // The proxy for `home` of the codec's type: an existing one, or a new one
  // (`created` set) owned by this object.
  ChannelBase* proxy_for(const Home& home, const persist::ValueCodec& codec, const ChannelOptions& record,
                         bool& created);
  // Destroys a proxy created for a thaw that failed (unused by anything).
  void discard(ChannelBase* proxy);
  // The home of `ch` if it is a proxy.
  const Home* home_of(const ChannelBase* ch) const;
  // The first of `tasklets` that a remote operation in flight serves, or null.
  // One pass over the proxies, whatever the number of tasklets.
  const Tasklet* first_served(std::span<const TaskletRef> tasklets) const;
  // Starts remote operations for proxies whose first waiter is not served yet,
  // and answers the readiness queries of remote selects that became ready.
  void pump();
  // Applies the completions that arrived; true if any did.
  bool apply();
  std::size_t proxy_count() const noexcept { return proxies_.size(); }
  // Kills the helper tasklets still running home operations (before the host's
  // event loop goes away: their completions belong to it).
  void kill_helpers() noexcept;

 private:
  // One remote operation in flight in one direction. A proxy has one per
  // direction: a send blocked at home may need the receive that only this
  // proxy's receiver can start.
  struct Slot {
    bool in_flight = false;
    bool asking = false;            // the call in flight is channelReady (for a select's case)
    Waiter* served = nullptr;       // the waiter it serves
    bool in_limbo = false;          // `served` waits on the slot's limbo channel (else on the relay)
    bool exception = false;         // `served` sends an exception (send_exception)
    TaskletRef tasklet;
  };
  struct Proxy {
    std::unique_ptr<ChannelBase> channel;
    std::unique_ptr<ChannelBase> send_limbo;     // senders whose value is in transit
    std::unique_ptr<ChannelBase> receive_limbo;  // receivers whose value is being fetched
    Home home;
    const persist::ValueCodec* codec = nullptr;
    Slot send, receive;
    bool close_sent = false;
    bool dirty = false;             // listed in dirty_: pump() looks at it
    std::optional<std::any> held;   // a received value whose receiver left
  };
  struct Completion {
    Proxy* proxy;
    bool sending;
    bool asking;                    // a channelReady answer (else an operation's)
    std::exception_ptr error;
    std::any value;                 // received value
  };
  // A remote select's readiness query waiting at home; fulfilled with whether
  // the channel is still exported.
  struct ReadyWait {
    std::uint64_t id;
    bool sending;
    kj::Own<kj::PromiseFulfiller<bool>> fulfiller;
  };

  // Serves w, the first sender (sending) or receiver of p: a select's case asks
  // home first (channelReady), any other waiter goes straight to perform().
  void start(Proxy& p, Waiter* w, bool sending);
  // Moves w to the slot's limbo and runs its operation at home.
  void perform(Proxy& p, Waiter* w, bool sending);
  // The connection to p's home, or null: the failure is then raised in t
  // (`what` names the operation), or p is marked to retry while connecting.
  ClientConnection* connection_for(Proxy& p, Tasklet* t, const std::string& what);
  // The error handler of a call for p: completes it with RemoteChannelError
  // and drops the connection.
  std::function<void(kj::Exception&&)> on_call_failed(Proxy& p, bool sending, bool asking, const std::string& what);
  void complete(Completion& c);
  // Whether w is still queued on `where` (compared by address only).
  static bool queued_on(const ChannelBase& where, const Waiter* w);
  // Fulfils the readiness queries whose channel became ready (or went away).
  void answer_ready_queries();
  // Whether a readiness query on ch is answered now (ch null: it is, unknown).
  static bool ready_now(const ChannelBase* ch, bool sending);
  void set_ready_failure(schema::node::Failure::Builder failure, std::uint64_t id, bool exported) const;
  // The failure for an operation on `id` that is not exported: ChannelDestroyed
  // for a channel destroyed since it was exported, else unknown.
  void set_missing(schema::node::Failure::Builder failure, std::uint64_t id) const;
  // ~ChannelBase's hook: forgets `ch` if exported.
  static void on_channel_destroyed(ChannelBase* ch);
  // The relay hook (a waiter parked on a proxy, or the proxy closed): marks it.
  static void on_relay_changed(ChannelBase* ch) noexcept;
  // Lists p for the next pump().
  void mark(Proxy& p) noexcept;
  // What pump() does for one proxy: forwards a close, serves the first sender
  // and the first receiver.
  void serve(Proxy& p);
  std::string label(const Proxy& p) const;
  static std::string what_of(std::exception_ptr e);

  ChannelHost& host_;
  std::unordered_map<std::uint64_t, ChannelBase*> exported_;
  std::unordered_set<std::uint64_t> destroyed_;  // exported once, destroyed since
  std::map<std::pair<std::string, std::uint64_t>, std::unique_ptr<Proxy>> proxies_;  // by (home node, home id)
  std::unordered_map<const ChannelBase*, Proxy*> by_channel_;
  std::vector<Proxy*> dirty_;  // proxies that changed since the last pump()
  std::deque<Completion> completions_;
  std::vector<ReadyWait> ready_waits_;
  std::vector<TaskletRef> helpers_;  // home-side operations, pruned as they end
};

}  // namespace stasis::net

#endif  // STASIS_NET_SRC_REMOTE_CHANNELS_H_
