// remote_channels.h — channels that live on one node and are used from others.
//
// Home side: a channel referenced by a tasklet that migrated away is *exported*
// (found by its id). A remote send or receive on it runs as a helper soft tasklet
// at home, so it blocks, pairs and fails exactly like a local operation; the RPC
// completes when the helper does.
//
// Proxy side: a channel whose home is another node is represented by a relay
// Channel<T> (the proxy: ChannelBase::set_relay), so restored frames keep their
// Channel<T>* fields. A relay never pairs or buffers locally: every value goes
// through home, in order, even when both ends run on this node. The host serves
// the waiting tasklets: for the first sender and the first receiver it runs the
// same operation at home and, once that completed, completes the local one (the
// sender is released only after home took the value). While served, a waiter
// waits on the proxy's send or receive *limbo* channel (plain channels), where
// the completion pairs with it.
// Failures are raised in the waiting tasklet as ChannelClosed /
// ChannelDestroyed / RemoteChannelError.
//
// Invariants:
//   - at most one remote operation per proxy and direction is in flight; while
//     it is, the waiter it serves is recorded and its tasklet cannot migrate;
//   - completions are queued by kj callbacks and applied by apply() between
//     turns, never while a migration is freezing tasklets;
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
#include <string>
#include <unordered_map>
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
  explicit RemoteChannels(ChannelHost& host) : host_(host) {}
  ~RemoteChannels();
  RemoteChannels(const RemoteChannels&) = delete;
  RemoteChannels& operator=(const RemoteChannels&) = delete;

  // --- Home side. ---
  void export_channel(ChannelBase* ch) { exported_[ch->id()] = ch; }
  ChannelBase* exported(std::uint64_t id) const;
  // Serves Node.channelSend / channelReceive / channelClose for an exported channel.
  // The returned promise completes when the helper tasklet's operation did; the
  // builders must stay valid until then (they belong to the call's context).
  kj::Promise<void> home_send(std::uint64_t id, schema::node::Value::Reader value,
                              schema::node::Failure::Builder failure);
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
  // Whether a remote operation in flight serves `t`.
  bool serving(const Tasklet* t) const;
  // Starts remote operations for proxies whose first waiter is not served yet.
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
    Waiter* served = nullptr;       // the waiter it serves
    bool in_limbo = false;          // `served` waits on the slot's limbo channel
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
    std::optional<std::any> held;   // a received value whose receiver left
  };
  struct Completion {
    Proxy* proxy;
    bool sending;
    std::any value;                 // received value
    std::exception_ptr error;
  };

  // Sends w's `value` home or, for a null value, receives for w.
  void start(Proxy& p, Waiter* w, const std::any* value);
  void complete(Completion& c);
  std::string label(const Proxy& p) const;
  static std::string what_of(std::exception_ptr e);

  ChannelHost& host_;
  std::unordered_map<std::uint64_t, ChannelBase*> exported_;
  std::map<std::pair<std::string, std::uint64_t>, std::unique_ptr<Proxy>> proxies_;  // by (home node, home id)
  std::unordered_map<const ChannelBase*, Proxy*> by_channel_;
  std::deque<Completion> completions_;
  std::vector<TaskletRef> helpers_;  // home-side operations, pruned as they end
};

}  // namespace stasis::net

#endif  // STASIS_NET_SRC_REMOTE_CHANNELS_H_
