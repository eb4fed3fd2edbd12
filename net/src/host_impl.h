// host_impl.h — the state behind stasis::net::Host.
//
// Member order is destruction order reversed: the kj event loop (io) outlives
// everything that holds promises (listener, connections, tasks), and the helper
// tasklets of remote channels are killed in ~Impl before any of it goes.
#ifndef STASIS_NET_SRC_HOST_IMPL_H_
#define STASIS_NET_SRC_HOST_IMPL_H_

#include <kj/async-io.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "connection.h"
#include "remote_channels.h"
#include "stasis/net/host.h"

namespace stasis::net {

class ServerConnection;

struct Host::Impl final : ChannelHost, kj::TaskSet::ErrorHandler {
  Impl(Scheduler& s, SharedKey k, HostOptions o);
  ~Impl() noexcept override;

  // --- ChannelHost ---
  Scheduler& scheduler() override { return sched; }
  ClientConnection& connection(const std::string& address) override { return connection(address, kConnectTimeout); }
  // The same, waiting at most `timeout` for a new connection to be made.
  ClientConnection& connection(const std::string& address, std::chrono::milliseconds timeout);
  static constexpr std::chrono::milliseconds kConnectTimeout{5000};
  void forget_connection(const std::string& address) override;
  ClientConnection* connection_now(const std::string& address, std::string& failure) override;
  kj::TaskSet& tasks() override { return *task_set; }
  void wake() override;
  // --- kj::TaskSet::ErrorHandler ---
  void taskFailed(kj::Exception&& exception) override;

  void log(const std::string& line) const override;
  // One turn: network events, completions, queued self-migrations, proxies, then
  // tasklets until none is runnable (or a slice ran). With `wait` > 0 and nothing
  // to do, waits up to that long for a network event.
  void turn(std::chrono::milliseconds wait);

  // Source side of a handoff (host.h); `resume_also` are paused tasklets the
  // target must insert too (self-migrations).
  void migrate(std::span<const TaskletRef> tasklets, const std::string& address, const MigrateOptions& options,
               const std::vector<Tasklet*>& resume_also);
  // Target side: Node.accept. Fills `failure`.
  void accept(std::uint64_t id, capnp::Data::Reader snapshot, capnp::List<schema::node::ChannelHome>::Reader homes,
              capnp::List<std::uint64_t>::Reader resume, const std::string& peer, schema::node::Failure::Builder failure);
  // Node.outcome: whether `id` committed here; a not-committed id is retired.
  bool outcome(std::uint64_t id);
  NodeStatus status() const;
  // The connection for a new peer socket (gate.cc).
  void serve(kj::Own<kj::AsyncIoStream> stream);
  void close_server_connection(ServerConnection* c);

  Scheduler& sched;
  SharedKey key;
  HostOptions options;
  kj::AsyncIoContext io;
  std::string address;
  std::string node_id;
  kj::Own<kj::TaskSet> task_set;
  kj::Own<kj::ConnectionReceiver> listener;
  std::map<std::string, kj::Own<ClientConnection>> connections;
  std::vector<kj::Own<ClientConnection>> graveyard;
  std::unordered_set<std::string> connecting;                // async attempts under way
  std::map<std::string, std::string> connect_failures;       // failed attempts, reported once  // dropped connections, freed at the next turn
  std::vector<kj::Own<ServerConnection>> servers;
  std::vector<ServerConnection*> dead_servers;  // disconnected, freed at the next turn
  RemoteChannels channels{*this};
  std::vector<TaskletRef> hosted;
  std::unordered_set<std::uint64_t> committed;
  std::unordered_set<std::uint64_t> retired;
  struct SelfMove {
    TaskletRef tasklet;
    std::string address;
    bool* failed;
  };
  std::vector<SelfMove> self_moves;
  kj::Own<kj::PromiseFulfiller<void>> waker;
  bool stop_requested = false;
  std::vector<std::unique_ptr<ChannelBase>> owned_channels;  // restored channels no resolver supplied
};

}  // namespace stasis::net

#endif  // STASIS_NET_SRC_HOST_IMPL_H_
