// host.cc — Host: the loop that shares a thread between kj and the scheduler,
// connections to peers, and both sides of the migration handoff.
#include "host_impl.h"
#include "stasis/native_image.h"

#include <kj/async-unix.h>

#include <csignal>
#include <iostream>

#include "gate.h"
#include "net_access.h"
#include "stasis/persist/snapshot.h"
#include "wire.h"

namespace stasis::net {
namespace {

thread_local Host* tls_host = nullptr;

using schema::node::Failure;

std::string hex(std::uint64_t v) {
  char buf[17];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// "host:port" with the port replaced.
std::string with_port(const std::string& address, unsigned port) {
  auto colon = address.rfind(':');
  std::string host = colon == std::string::npos ? address : address.substr(0, colon);
  return host + ":" + std::to_string(port);
}

}  // namespace

Host::Impl::Impl(Scheduler& s, SharedKey k, HostOptions o)
    : sched(s), key(std::move(k)), options(std::move(o)), io(kj::setupAsyncIo()) {
  task_set = kj::heap<kj::TaskSet>(*this);
  if (options.listen.find(':') == std::string::npos) options.listen += ":0";
  try {
    auto addr = io.provider->getNetwork().parseAddress(options.listen).wait(io.waitScope);
    listener = addr->listen();
  } catch (const kj::Exception& e) {
    throw ConnectionError("cannot listen on '" + options.listen + "': " + std::string(e.getDescription().cStr()) +
                          "; give a free ADDR:PORT (port 0 picks one)");
  }
  address = options.advertise.empty() ? with_port(options.listen, listener->getPort()) : options.advertise;
  node_id = options.node_id.empty() ? address : options.node_id;
  // The accept loop: every peer socket gets its own Gate.
  struct Loop {
    static kj::Promise<void> accept(Impl* self) {
      return self->listener->accept().then([self](kj::Own<kj::AsyncIoStream> stream) {
        self->serve(kj::mv(stream));
        return accept(self);
      });
    }
  };
  task_set->add(Loop::accept(this));
}

Host::Impl::~Impl() noexcept {
  channels.kill_helpers();
}

void Host::Impl::log(const std::string& line) const {
  if (options.log) options.log(line); else std::cerr << line << std::endl;
}

void Host::Impl::taskFailed(kj::Exception&& exception) {
  // Background work (a close forwarded to a home that went away, a peer socket
  // that broke) fails without anyone waiting for it: report it.
  if (exception.getType() == kj::Exception::Type::DISCONNECTED) return;
  log("stasis-node " + node_id + ": background task failed: " + std::string(exception.getDescription().cStr()));
}

void Host::Impl::wake() {
  if (waker) {
    waker->fulfill();
    waker = nullptr;
  }
}

ClientConnection& Host::Impl::connection(const std::string& addr, std::chrono::milliseconds timeout) {
  auto it = connections.find(addr);
  if (it != connections.end() && !it->second->broken()) return *it->second;
  if (it != connections.end()) forget_connection(addr);
  auto conn = ClientConnection::connect(io, addr, key, node_id, options.max_message_bytes, timeout);
  ClientConnection& ref = *conn;
  connections[addr] = kj::mv(conn);
  return ref;
}

ClientConnection* Host::Impl::connection_now(const std::string& addr, std::string& failure) {
  auto it = connections.find(addr);
  if (it != connections.end() && !it->second->broken()) return it->second.get();
  if (auto f = connect_failures.find(addr); f != connect_failures.end()) {
    failure = f->second;
    connect_failures.erase(f);
    return nullptr;
  }
  if (connecting.insert(addr).second) {
    task_set->add(ClientConnection::connect_async(io, addr, key, node_id, options.max_message_bytes, kConnectTimeout)
                      .then(
                          [this, addr](kj::Own<ClientConnection> c) {
                            connecting.erase(addr);
                            if (connections.count(addr)) forget_connection(addr);
                            connections[addr] = kj::mv(c);
                            wake();
                          },
                          [this, addr](kj::Exception&& e) {
                            connecting.erase(addr);
                            try {
                              throw_connect_error(addr, e);
                            } catch (const NetError& err) {
                              connect_failures[addr] = err.what();
                            }
                            wake();
                          }));
  }
  return nullptr;
}

void Host::Impl::forget_connection(const std::string& addr) {
  auto it = connections.find(addr);
  if (it == connections.end()) return;
  it->second->mark_broken();
  graveyard.push_back(kj::mv(it->second));
  connections.erase(it);
}

void Host::Impl::turn(std::chrono::milliseconds wait) {
  io.waitScope.poll();
  graveyard.clear();
  if (!dead_servers.empty()) {
    std::erase_if(servers, [&](const kj::Own<ServerConnection>& s) {
      return std::find(dead_servers.begin(), dead_servers.end(), s.get()) != dead_servers.end();
    });
    dead_servers.clear();
  }
  channels.apply();
  if (!self_moves.empty()) {
    std::vector<SelfMove> moves;
    moves.swap(self_moves);
    for (SelfMove& m : moves) {
      if (!m.tasklet->alive()) continue;
      *m.failed = false;
      try {
        migrate(std::span<const TaskletRef>(&m.tasklet, 1), m.address, {}, {m.tasklet.get()});
      } catch (const std::exception& e) {
        log("stasis-node " + node_id + ": " + m.tasklet->label() + " could not migrate itself to " + m.address + ": " +
            e.what() + "; it continues here");
        *m.failed = true;
        if (m.tasklet->alive() && m.tasklet->state() == TaskletState::kPaused) m.tasklet->insert();
      }
    }
  }
  channels.pump();
  if (stop_requested) return;
  if (sched.runnable_count() > 0 || sched.pending_timers() > 0) {
    std::uint64_t slice = 0;
    sched.run_until([&] { return sched.runnable_count() == 0 || ++slice >= 4096 || !self_moves.empty(); });
    // Tasklets that just blocked on proxies are served before the loop sleeps.
    channels.pump();
    if (sched.runnable_count() > 0 || !self_moves.empty()) return;
    if (sched.pending_timers() > 0) wait = std::min(wait, std::chrono::milliseconds(1));
  }
  if (wait.count() <= 0) return;
  // Nothing runnable: sleep until a network event wakes us (or the wait ends).
  auto paf = kj::newPromiseAndFulfiller<void>();
  waker = kj::mv(paf.fulfiller);
  kj::Promise<void> p = kj::mv(paf.promise);
  if (wait != std::chrono::milliseconds::max()) {
    p = p.exclusiveJoin(io.provider->getTimer().afterDelay(wait.count() * kj::MILLISECONDS));
  }
  p.wait(io.waitScope);
  waker = nullptr;
}

// --- The source side of the handoff. ---

void Host::Impl::migrate(std::span<const TaskletRef> tasklets, const std::string& target,
                         const MigrateOptions& options, const std::vector<Tasklet*>& resume_also) {
  if (sched.running()) {
    throw MigrationError("migrate: the scheduler is running; migrate from outside Scheduler::run() (use "
                         "STASIS_MIGRATE inside a tasklet)");
  }
  if (target == address) throw MigrationError("migrate: " + target + " is this node itself");
  if (const Tasklet* t = channels.first_served(tasklets)) {
    throw MigrationError("migrate: " + t->label() + " is in a channel operation that is crossing to another node; "
                         "migrate it after that completed (after the next turn)");
  }
  ClientConnection* conn = &connection(target);  // ConnectionError / AuthenticationError: nothing changed

  // 1. Hold: runnable tasklets are paused so that nothing runs them meanwhile
  // (blocked ones stay parked: completions are only applied between turns).
  std::vector<TaskletRef> paused;
  for (const TaskletRef& t : tasklets) {
    if (t && t->alive() && (t->state() == TaskletState::kRunnable || t->state() == TaskletState::kNew)) {
      t->remove();
      paused.push_back(t);
    }
  }
  auto resume_here = [&] {
    for (const TaskletRef& t : paused) {
      if (t->alive() && t->state() == TaskletState::kPaused) t->insert();
    }
  };
  // 2. Freeze (reads only; a failure leaves everything as it was).
  std::vector<const ChannelBase*> snapshot_channels;
  persist::Snapshot snapshot;
  try {
    persist::FreezeOptions fo;
    fo.channels_out = &snapshot_channels;
    snapshot = persist::freeze(tasklets, fo);
  } catch (...) {
    resume_here();
    throw;
  }
  const std::uint64_t id = SharedKey::random_u64();
  auto request = conn->node().acceptRequest();
  request.setMigrationId(id);
  request.setSnapshot(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(snapshot.bytes().data()), snapshot.bytes().size()));
  auto homes = request.initHomes(static_cast<unsigned>(snapshot_channels.size()));
  for (unsigned i = 0; i < homes.size(); ++i) {
    ChannelBase* ch = const_cast<ChannelBase*>(snapshot_channels[i]);
    if (const Home* h = channels.home_of(ch)) {  // a proxy: the channel lives elsewhere
      homes[i].setNodeId(h->node_id);
      homes[i].setAddress(h->address);
      homes[i].setHomeId(h->id);
    } else {
      channels.export_channel(ch);
      homes[i].setNodeId(node_id);
      homes[i].setAddress(address);
      homes[i].setHomeId(ch->id());
    }
  }
  std::vector<std::uint64_t> resume_ids;
  for (const TaskletRef& t : paused) resume_ids.push_back(t->id());
  for (Tasklet* t : resume_also) resume_ids.push_back(t->id());
  auto resume = request.initResume(static_cast<unsigned>(resume_ids.size()));
  for (unsigned i = 0; i < resume.size(); ++i) resume.set(i, resume_ids[i]);

  // 3. Send and wait for the acknowledgement.
  enum class Outcome { kCommitted, kRefused, kInDoubt } outcome = Outcome::kInDoubt;
  std::string refusal, lost_because;
  if (options.fault == SourceFault::kDropBeforeSend) {
    forget_connection(target);
    lost_because = "connection dropped before sending (injected)";
  } else {
    auto reply = request.send();
    if (options.fault == SourceFault::kDropAfterSend) {
      for (int i = 0; i < options.fault_turns; ++i) io.waitScope.poll();
      forget_connection(target);
      lost_because = "connection dropped after sending (injected)";
    } else {
      try {
        auto limited = io.provider->getTimer().timeoutAfter(options.reply_timeout.count() * kj::MILLISECONDS, kj::mv(reply));
        auto r = limited.wait(io.waitScope);
        auto f = r.getFailure();
        if (f.getKind() == Failure::Kind::NONE) {
          outcome = Outcome::kCommitted;
          if (options.fault == SourceFault::kDropAfterAck) {
            forget_connection(target);
            outcome = Outcome::kInDoubt;
            lost_because = "acknowledgement dropped (injected)";
          }
        } else {
          outcome = Outcome::kRefused;
          refusal = f.getMessage();
        }
      } catch (const kj::Exception& e) {
        forget_connection(target);
        lost_because = e.getDescription().cStr();
      }
    }
  }
  // 4. A lost acknowledgement: ask the target until it answers or the in-doubt
  // time is over (then it is taken as dead, and its copy with it).
  if (outcome == Outcome::kInDoubt) {
    auto deadline = std::chrono::steady_clock::now() + options.in_doubt_timeout;
    bool answered = false;
    while (!answered) {
      try {
        auto q = connection(target).node().outcomeRequest();
        q.setMigrationId(id);
        auto limited = io.provider->getTimer().timeoutAfter(1000 * kj::MILLISECONDS, q.send());
        bool committed = limited.wait(io.waitScope).getCommitted();
        answered = true;
        outcome = committed ? Outcome::kCommitted : Outcome::kInDoubt;
      } catch (const kj::Exception&) {
        forget_connection(target);
      } catch (const NetError&) {
      }
      if (answered || std::chrono::steady_clock::now() >= deadline) break;
      io.provider->getTimer().afterDelay(20 * kj::MILLISECONDS).wait(io.waitScope);
    }
    if (outcome != Outcome::kCommitted) {
      resume_here();
      throw MigrationError("migrate to " + target + ": " + lost_because + "; " +
                           (answered ? "the target did not commit" : "the target stayed unreachable, so its copy (if any) is lost with it") +
                           "; the tasklets run on here");
    }
  }
  if (outcome == Outcome::kRefused) {
    resume_here();
    throw MigrationRefused("migrate to " + target + ": the target refused the tasklets: " + refusal +
                           "; they run on here");
  }
  // 5. Committed at the target: drop the local copies. A native tasklet's copy
  // ends without running any of its code (its destructors' effects belong to the
  // copy that goes on at the target).
  for (const TaskletRef& t : tasklets) {
    std::erase(hosted, t);
    if (t->alive() && t->native()) ::stasis::detail::abandon_native(*t);
    if (t->alive()) t->kill();
  }
}

// --- The target side. ---

void Host::Impl::accept(std::uint64_t id, capnp::Data::Reader bytes,
                        capnp::List<schema::node::ChannelHome>::Reader homes, capnp::List<std::uint64_t>::Reader resume,
                        const std::string& peer, Failure::Builder failure) {
  const std::string what = "migration " + hex(id) + " from " + peer;
  if (committed.contains(id)) {  // a retry of a committed handoff
    wire::set_failure(failure, nullptr);
    return;
  }
  if (retired.contains(id)) {
    wire::set_failure(failure, Failure::Kind::REFUSED, what + " was already resolved as not committed");
    return;
  }
  if (sched.running()) {
    wire::set_failure(failure, Failure::Kind::REFUSED, what + ": this node is busy; retry");
    return;
  }
  std::vector<ChannelBase*> created;
  try {
    if (options.fault_hook) options.fault_hook("accept");
    persist::Snapshot snapshot(std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size()));
    persist::ThawOptions o;
    o.keep_ids = false;
    o.source_name = what;
    // Native tasklets are machine state: this peer passed the shared-key
    // challenge (Gate), and thaw refuses another build or layout by itself.
    o.allow_native = true;
    o.limits.max_file_bytes = options.max_message_bytes;
    o.limits.max_message_bytes = options.max_message_bytes;
    unsigned next = 0;
    o.resolve_channel = [&](std::uint64_t snapshot_id, const persist::ValueCodec& codec,
                            const ChannelOptions& record) -> ChannelBase* {
      if (next >= homes.size()) {
        throw SnapshotCorrupt(what + ": channel #" + std::to_string(snapshot_id) + " has no home record");
      }
      auto h = homes[next++];
      std::string home_node = h.getNodeId();
      if (home_node == node_id) {
        ChannelBase* ch = channels.exported(h.getHomeId());
        if (!ch) {
          throw SnapshotIncompatible(what + ": channel #" + std::to_string(h.getHomeId()) +
                                     " is said to be at home here but this node does not export it");
        }
        return ch;
      }
      bool made = false;
      ChannelBase* p = channels.proxy_for({home_node, h.getAddress(), h.getHomeId()}, codec, record, made);
      if (made) created.push_back(p);
      return p;
    };
    persist::Thawed thawed = persist::thaw(snapshot, sched, o);
    if (next != homes.size()) {
      // Cannot fail any more after thaw: the count is checked for the record only.
      log("stasis-node " + node_id + ": " + what + " listed more channel homes than channels");
    }
    for (auto& ch : thawed.release_channels()) owned_channels.push_back(std::move(ch));
    for (const TaskletRef& t : thawed.tasklets()) hosted.push_back(t);
    for (std::uint64_t rid : resume) {
      TaskletRef t = thawed.by_snapshot_id(rid);
      if (t && t->state() == TaskletState::kPaused) t->insert();
    }
    committed.insert(id);
    wire::set_failure(failure, nullptr);
    if (options.fault_hook) options.fault_hook("committed");
    wake();
  } catch (const std::exception& e) {
    for (ChannelBase* p : created) channels.discard(p);
    log("stasis-node " + node_id + ": refused " + what + ": " + e.what());
    wire::set_failure(failure, Failure::Kind::REFUSED, e.what());
  }
}

bool Host::Impl::outcome(std::uint64_t id) {
  if (committed.contains(id)) return true;
  retired.insert(id);  // a late accept of this id must never commit now
  return false;
}

NodeStatus Host::Impl::status() const {
  NodeStatus s;
  s.node_id = node_id;
  for (const TaskletRef& t : hosted) {
    TaskletStatus ts;
    ts.id = t->id();
    ts.name = std::string(t->name());
    ts.state = to_string(t->state());
    ts.wait = t->describe_wait();
    if (t->state() == TaskletState::kFinished) {
      if (t->failed()) {
        try {
          t->rethrow_if_failed();
        } catch (const std::exception& e) {
          ts.result = std::string("error: ") + e.what();
        }
      } else {
        const std::any& v = ::stasis::detail::NetAccess::slot(*t);
        const persist::ValueCodec* c = v.has_value() ? persist::ValueCodecs::instance().find(v.type()) : nullptr;
        ts.result = c ? c->text(v) : "";
      }
    }
    s.tasklets.push_back(std::move(ts));
  }
  return s;
}

// --- Host ---

Host::Host(Scheduler& scheduler, SharedKey key, HostOptions options) {
  if (tls_host) throw SchedulerError("stasis::net::Host: this thread already has a Host (one node per thread)");
  impl_ = std::make_unique<Impl>(scheduler, std::move(key), std::move(options));
  tls_host = this;
}

Host::~Host() {
  if (tls_host == this) tls_host = nullptr;
}

Host* Host::current() noexcept { return tls_host; }
const std::string& Host::address() const noexcept { return impl_->address; }
const std::string& Host::node_id() const noexcept { return impl_->node_id; }
Scheduler& Host::scheduler() noexcept { return impl_->sched; }

void Host::migrate(std::span<const TaskletRef> tasklets, const std::string& address, const MigrateOptions& options) {
  impl_->migrate(tasklets, address, options, {});
}

NodeStatus Host::status(const std::string& address, std::chrono::milliseconds timeout) {
  if (address == impl_->address) return impl_->status();
  try {
    auto r = impl_->io.provider->getTimer()
                 .timeoutAfter(timeout.count() * kj::MILLISECONDS,
                               impl_->connection(address, std::min(timeout, Impl::kConnectTimeout)).node().statusRequest().send())
                 .wait(impl_->io.waitScope);
    NodeStatus s;
    s.node_id = r.getNodeId();
    for (auto t : r.getTasklets()) {
      s.tasklets.push_back({t.getId(), t.getName(), t.getState(), t.getWait(), t.getResult()});
    }
    return s;
  } catch (const kj::Exception& e) {
    impl_->forget_connection(address);
    throw ConnectionError("status of node " + address + ": " + std::string(e.getDescription().cStr()));
  }
}

NodeStatus Host::local_status() const { return impl_->status(); }

std::string Host::echo(const std::string& address, std::string_view payload, std::chrono::milliseconds timeout) {
  try {
    auto req = impl_->connection(address, std::min(timeout, Impl::kConnectTimeout)).node().echoRequest();
    req.setPayload(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(payload.data()), payload.size()));
    auto r = impl_->io.provider->getTimer()
                 .timeoutAfter(timeout.count() * kj::MILLISECONDS, req.send())
                 .wait(impl_->io.waitScope);
    auto p = r.getPayload();
    return std::string(reinterpret_cast<const char*>(p.begin()), p.size());
  } catch (const kj::Exception& e) {
    impl_->forget_connection(address);
    throw ConnectionError("echo to node " + address + ": " + std::string(e.getDescription().cStr()));
  }
}

void Host::adopt(const TaskletRef& tasklet) {
  if (tasklet && std::find(impl_->hosted.begin(), impl_->hosted.end(), tasklet) == impl_->hosted.end()) {
    impl_->hosted.push_back(tasklet);
  }
}

std::vector<TaskletRef> Host::hosted() const { return impl_->hosted; }

std::size_t Host::checkpoint(const std::string& path) {
  std::vector<TaskletRef> alive;
  for (const TaskletRef& t : impl_->hosted) {
    if (t->alive()) alive.push_back(t);
  }
  persist::FreezeOptions fo;
  fo.note = "stasis-node " + impl_->node_id + " checkpoint";
  persist::freeze(alive, fo).write(path);
  return alive.size();
}

bool Host::run_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = limit == std::chrono::milliseconds::max() ? Clock::time_point::max() : Clock::now() + limit;
  for (;;) {
    if (done()) return true;
    if (impl_->stop_requested) {
      impl_->stop_requested = false;
      return true;
    }
    auto now = Clock::now();
    if (now >= deadline) return false;
    auto wait = deadline == Clock::time_point::max()
                    ? std::chrono::milliseconds::max()
                    : std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) + std::chrono::milliseconds(1);
    // done() may turn true without a network event (a tasklet finishing does
    // not wake anyone): check it at least every 50 ms while idle.
    impl_->turn(std::min(wait, std::chrono::milliseconds(50)));
  }
}

void Host::stop() noexcept {
  impl_->stop_requested = true;
  impl_->wake();
}

void Host::on_signal(int signal, std::function<void()> handler) {
  kj::UnixEventPort::captureSignal(signal);
  impl_->task_set->add(impl_->io.unixEventPort.onSignal(signal).then(
      [this, handler = std::move(handler)](siginfo_t) {
        handler();
        impl_->wake();
      }));
}

bool Host::request_self_migration(Tasklet& self, std::string address, bool* failed) {
  impl_->sched.pause(&self);
  impl_->self_moves.push_back({TaskletRef(&self), std::move(address), failed});
  return true;
}

namespace detail {
bool migrate_self(Tasklet& self, const std::string& address, bool* failed) {
  Host* h = Host::current();
  if (!h) {
    throw SchedulerError("STASIS_MIGRATE in " + self.label() +
                         ": this thread has no stasis::net::Host; create one to make the thread a node");
  }
  return h->request_self_migration(self, address, failed);
}
}  // namespace detail

}  // namespace stasis::net
