// remote_channels.cc — home-side helper tasklets and proxy-side pumping.
#include "remote_channels.h"

#include <capnp/message.h>

#include "connection.h"
#include "net_access.h"
#include "stasis/net/errors.h"
#include "stasis/select.h"
#include "stasis/soft.h"
#include "wire.h"

namespace stasis::net {
namespace {

using ::stasis::detail::NetAccess;
using schema::node::Failure;

// One remote operation running at home.
struct HomeOp {
  ChannelBase* channel = nullptr;
  std::any value;  // to send, or received
  std::exception_ptr raise;  // to send instead of a value (send_exception)
  bool sending = false;
  OpResult result = OpResult::kDone;
  std::exception_ptr error;
};

// Performs the operation as this tasklet's own channel operation: it blocks,
// pairs and raises exactly as a local one would.
struct HomeOpStep : Frame<HomeOpStep> {
  std::shared_ptr<HomeOp> op;
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    if (op->raise) {
      STASIS_SUSPEND_IF_(__COUNTER__,
                         (op->result = op->channel->send_exception_op(&cx.tasklet(), op->raise)) != OpResult::kDone,
                         (void)0);
    } else if (op->sending) {
      STASIS_SUSPEND_IF_(__COUNTER__,
                         (op->result = op->channel->send_any(&cx.tasklet(), op->value, true)) != OpResult::kDone,
                         (void)0);
    } else {
      STASIS_SUSPEND_IF_(__COUNTER__,
                         (op->result = op->channel->receive_any(&cx.tasklet(), op->value, true)) != OpResult::kDone,
                         (void)0);
      // Blocked: the sender handed the value to this tasklet's slot.
      if (op->result == OpResult::kBlocked) op->value = NetAccess::take_slot(cx.tasklet());
    }
    STASIS_END(cx);
  }
};

// Catches what the operation raised and completes the RPC. If the tasklet is
// killed instead, `done` is destroyed unfulfilled and the RPC fails.
struct HomeOpRoot : Frame<HomeOpRoot> {
  std::shared_ptr<HomeOp> op;
  std::shared_ptr<kj::Own<kj::PromiseFulfiller<void>>> done;
  std::exception_ptr err;
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_TRY_CALL(cx, err, HomeOpStep{.op = op});
    op->error = err;
    (*done)->fulfill();
    STASIS_END(cx);
  }
};

}  // namespace

namespace {
thread_local RemoteChannels* tls_remote_channels = nullptr;
}  // namespace

RemoteChannels::RemoteChannels(ChannelHost& host) : host_(host) {
  tls_remote_channels = this;
  ::stasis::detail::tls_on_channel_destroyed = &RemoteChannels::on_channel_destroyed;
  ::stasis::detail::tls_on_relay_changed = &RemoteChannels::on_relay_changed;
}

RemoteChannels::~RemoteChannels() {
  if (tls_remote_channels == this) {  // the proxies die with this object: stop watching first
    tls_remote_channels = nullptr;
    ::stasis::detail::tls_on_channel_destroyed = nullptr;
    ::stasis::detail::tls_on_relay_changed = nullptr;
  }
}

void RemoteChannels::on_relay_changed(ChannelBase* ch) noexcept {
  RemoteChannels* self = tls_remote_channels;
  if (!self) return;
  auto it = self->by_channel_.find(ch);
  if (it != self->by_channel_.end()) self->mark(*it->second);
}

void RemoteChannels::mark(Proxy& p) noexcept {
  if (p.dirty) return;
  p.dirty = true;
  dirty_.push_back(&p);
}

void RemoteChannels::on_channel_destroyed(ChannelBase* ch) {
  RemoteChannels* self = tls_remote_channels;
  if (!self) return;
  auto it = self->exported_.find(ch->id());
  if (it == self->exported_.end() || it->second != ch) return;
  self->exported_.erase(it);
  self->destroyed_.insert(ch->id());
}

void RemoteChannels::set_missing(Failure::Builder failure, std::uint64_t id) const {
  if (destroyed_.count(id)) {
    wire::set_failure(failure, Failure::Kind::DESTROYED,
                      "channel #" + std::to_string(id) + " was destroyed at its home node");
  } else {
    wire::set_failure(failure, Failure::Kind::UNKNOWN_CHANNEL, "channel #" + std::to_string(id) + " is not exported here");
  }
}

void RemoteChannels::kill_helpers() noexcept {
  for (TaskletRef& t : helpers_) {
    if (t->alive()) t->kill();
  }
  helpers_.clear();
}

ChannelBase* RemoteChannels::exported(std::uint64_t id) const {
  auto it = exported_.find(id);
  return it == exported_.end() ? nullptr : it->second;
}

kj::Promise<void> RemoteChannels::home_send(schema::node::Node::ChannelSendParams::Reader params,
                                            const std::string& peer, Failure::Builder failure) {
  const std::uint64_t id = params.getChannel();
  ChannelBase* ch = exported(id);
  if (!ch) {
    set_missing(failure, id);
    return kj::READY_NOW;
  }
  auto op = std::make_shared<HomeOp>();
  op->channel = ch;
  op->sending = true;
  if (params.hasRaised()) {
    op->raise = wire::raised_exception(params.getRaised(), "by a tasklet on node " + peer + " and sent on " + ch->label());
  } else {
    const persist::ValueCodec* codec = persist::ValueCodecs::instance().find(ch->value_type());
    try {
      if (!codec) throw RemoteChannelError(ch->label() + " carries a type without a codec");
      op->value = wire::decode_value(*codec, params.getValue(), "send on " + ch->label());
    } catch (const RemoteChannelError& e) {
      wire::set_failure(failure, Failure::Kind::BAD_VALUE, e.what());
      return kj::READY_NOW;
    }
  }
  auto paf = kj::newPromiseAndFulfiller<void>();
  helpers_.push_back(host_.scheduler().spawn(
      HomeOpRoot{.op = op, .done = std::make_shared<kj::Own<kj::PromiseFulfiller<void>>>(kj::mv(paf.fulfiller))},
      {.name = "stasis.net.send#" + std::to_string(id)}));
  host_.wake();
  return paf.promise.then([op, failure]() mutable { wire::set_failure(failure, op->error); });
}

bool RemoteChannels::ready_now(const ChannelBase* ch, bool sending) {
  return !ch || ch->closing() || (sending ? ch->can_send_now() : ch->can_receive_now());
}

void RemoteChannels::set_ready_failure(Failure::Builder failure, std::uint64_t id, bool exported) const {
  if (exported) {
    wire::set_failure(failure, nullptr);
  } else {
    set_missing(failure, id);
  }
}

kj::Promise<void> RemoteChannels::home_ready(std::uint64_t id, bool sending, Failure::Builder failure) {
  ChannelBase* ch = exported(id);
  if (ready_now(ch, sending)) {
    set_ready_failure(failure, id, ch != nullptr);
    return kj::READY_NOW;
  }
  auto paf = kj::newPromiseAndFulfiller<bool>();
  ready_waits_.push_back({id, sending, kj::mv(paf.fulfiller)});
  return paf.promise.then([this, failure, id](bool found) mutable { set_ready_failure(failure, id, found); });
}

void RemoteChannels::answer_ready_queries() {
  std::erase_if(ready_waits_, [this](ReadyWait& r) {
    if (!r.fulfiller->isWaiting()) return true;  // the caller went away
    ChannelBase* ch = exported(r.id);
    if (!ready_now(ch, r.sending)) return false;
    r.fulfiller->fulfill(ch != nullptr);
    return true;
  });
}

kj::Promise<void> RemoteChannels::home_receive(std::uint64_t id,
                                               schema::node::Node::ChannelReceiveResults::Builder results) {
  ChannelBase* ch = exported(id);
  if (!ch) {
    set_missing(results.initFailure(), id);
    return kj::READY_NOW;
  }
  const persist::ValueCodec* codec = persist::ValueCodecs::instance().find(ch->value_type());
  if (!codec) {
    wire::set_failure(results.initFailure(), Failure::Kind::BAD_VALUE, ch->label() + " carries a type without a codec");
    return kj::READY_NOW;
  }
  auto op = std::make_shared<HomeOp>();
  op->channel = ch;
  auto paf = kj::newPromiseAndFulfiller<void>();
  helpers_.push_back(host_.scheduler().spawn(
      HomeOpRoot{.op = op, .done = std::make_shared<kj::Own<kj::PromiseFulfiller<void>>>(kj::mv(paf.fulfiller))},
      {.name = "stasis.net.receive#" + std::to_string(id)}));
  host_.wake();
  return paf.promise.then([op, codec, results]() mutable {
    wire::set_failure(results.initFailure(), op->error);
    if (!op->error) wire::encode_value(*codec, op->value, results.initValue());
  });
}

void RemoteChannels::home_close(std::uint64_t id, Failure::Builder failure) {
  ChannelBase* ch = exported(id);
  if (!ch) {
    set_missing(failure, id);
    return;
  }
  ch->close();
  wire::set_failure(failure, nullptr);
  host_.wake();  // a select woken by close must run
}

ChannelBase* RemoteChannels::proxy_for(const Home& home, const persist::ValueCodec& codec,
                                       const ChannelOptions& record, bool& created) {
  created = false;
  auto key = std::make_pair(home.node_id, home.id);
  if (auto it = proxies_.find(key); it != proxies_.end()) return it->second->channel.get();
  auto p = std::make_unique<Proxy>();
  std::string name = "proxy of #" + std::to_string(home.id) + "@" + home.node_id;
  if (!record.name.empty()) name += " '" + record.name + "'";
  // Capacity is the home's business: a relay never buffers.
  p->channel.reset(codec.make_channel({.name = name, .preference = record.preference, .schedule_all = record.schedule_all}));
  p->channel->set_relay(true);
  p->send_limbo.reset(codec.make_channel({.name = name + " (sending home)"}));
  p->receive_limbo.reset(codec.make_channel({.name = name + " (receiving from home)"}));
  p->home = home;
  p->codec = &codec;
  ChannelBase* ch = p->channel.get();
  by_channel_[ch] = p.get();
  proxies_.emplace(key, std::move(p));
  created = true;
  return ch;
}

void RemoteChannels::discard(ChannelBase* proxy) {
  auto it = by_channel_.find(proxy);
  if (it == by_channel_.end()) return;
  Proxy* p = it->second;
  by_channel_.erase(it);
  std::erase(dirty_, p);
  proxies_.erase(std::make_pair(p->home.node_id, p->home.id));
}

const Home* RemoteChannels::home_of(const ChannelBase* ch) const {
  auto it = by_channel_.find(ch);
  return it == by_channel_.end() ? nullptr : &it->second->home;
}

const Tasklet* RemoteChannels::first_served(std::span<const TaskletRef> tasklets) const {
  std::unordered_set<const Tasklet*> served;
  for (const auto& [key, p] : proxies_) {
    if (p->send.in_flight) served.insert(p->send.tasklet.get());
    if (p->receive.in_flight) served.insert(p->receive.tasklet.get());
  }
  if (served.empty()) return nullptr;
  for (const TaskletRef& t : tasklets) {
    if (t && served.contains(t.get())) return t.get();
  }
  return nullptr;
}

std::string RemoteChannels::what_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "an unknown error";
  }
}

std::string RemoteChannels::label(const Proxy& p) const {
  return "channel #" + std::to_string(p.home.id) + " at node " + p.home.node_id + " (" + p.home.address + ")";
}

void RemoteChannels::pump() {
  // Prune helpers that ended.
  std::erase_if(helpers_, [](const TaskletRef& t) { return !t->alive(); });
  if (!ready_waits_.empty()) answer_ready_queries();
  std::vector<Proxy*> todo;
  todo.swap(dirty_);
  for (Proxy* p : todo) p->dirty = false;
  for (Proxy* p : todo) serve(*p);
}

void RemoteChannels::serve(Proxy& p) {
  ChannelBase& ch = *p.channel;
  if (ch.closing() && !p.close_sent) {
    p.close_sent = true;
    std::string failure;
    if (ClientConnection* c = host_.connection_now(p.home.address, failure)) {
      auto req = c->node().channelCloseRequest();
      req.setChannel(p.home.id);
      host_.tasks().add(req.send().ignoreResult());
    } else if (failure.empty()) {
      p.close_sent = false;  // connecting: forward it at a later turn
      mark(p);
    }
  }
  // The first sender and the first receiver (a relay's queue holds both).
  Waiter* first_sender = nullptr;
  Waiter* first_receiver = nullptr;
  for (Waiter* w = NetAccess::head(ch); w && !(first_sender && first_receiver); w = w->next) {
    if (w->sending()) {
      if (!first_sender) first_sender = w;
    } else if (!first_receiver) {
      first_receiver = w;
    }
  }
  if (first_receiver && p.held) {
    // A value fetched for a receiver that left: the next receiver's (a select
    // commits to this case: its value is here).
    if (first_receiver->in_select()) static_cast<SelectWaiter*>(first_receiver)->select->choose(first_receiver);
    ch.unpark(first_receiver);
    p.receive_limbo->park(first_receiver, false);
    p.receive_limbo->send_any(nullptr, *p.held, false);
    p.held.reset();
    first_receiver = nullptr;
  }
  if (first_sender && !p.send.in_flight) start(p, first_sender, true);
  if (first_receiver && !p.receive.in_flight) start(p, first_receiver, false);
}

void RemoteChannels::start(Proxy& p, Waiter* w, bool sending) {
  if (!w->in_select()) {
    perform(p, w, sending);
    return;
  }
  Tasklet* t = NetAccess::tasklet(w);
  const std::string what = std::string(sending ? "select's send on " : "select's receive from ") + label(p);
  ClientConnection* conn = connection_for(p, t, what);
  if (!conn) return;
  Slot& slot = sending ? p.send : p.receive;
  slot = Slot{.in_flight = true, .asking = true, .served = w, .in_limbo = false, .tasklet = TaskletRef(t)};
  Proxy* pp = &p;
  auto req = conn->node().channelReadyRequest();
  req.setChannel(p.home.id);
  req.setSending(sending);
  host_.tasks().add(req.send().then(
      [this, pp, sending, what](capnp::Response<schema::node::Node::ChannelReadyResults>&& r) {
        completions_.push_back({pp, sending, true, wire::failure_exception(r.getFailure(), what), {}});
        host_.wake();
      },
      on_call_failed(p, sending, true, what)));
}

ClientConnection* RemoteChannels::connection_for(Proxy& p, Tasklet* t, const std::string& what) {
  std::string failure;
  ClientConnection* conn = host_.connection_now(p.home.address, failure);
  if (conn) return conn;
  if (!failure.empty()) {
    t->throw_exception(std::make_exception_ptr(RemoteChannelError(what + ": " + failure)));
  } else {
    mark(p);  // connecting: served at a later turn (the waiter is still on the relay)
  }
  return nullptr;
}

std::function<void(kj::Exception&&)> RemoteChannels::on_call_failed(Proxy& p, bool sending, bool asking,
                                                                     const std::string& what) {
  return [this, pp = &p, sending, asking, what, address = p.home.address](kj::Exception&& e) {
    completions_.push_back({pp, sending, asking,
                            std::make_exception_ptr(RemoteChannelError(
                                what + ": the home node failed: " + std::string(e.getDescription().cStr()))),
                            {}});
    host_.forget_connection(address);
    host_.wake();
  };
}

void RemoteChannels::perform(Proxy& p, Waiter* w, bool sending) {
  Tasklet* t = NetAccess::tasklet(w);
  const std::string what = std::string(sending ? "send on " : "receive from ") + label(p);
  ClientConnection* conn = connection_for(p, t, what);
  if (!conn) return;
  Slot& slot = sending ? p.send : p.receive;
  ChannelBase& limbo = sending ? *p.send_limbo : *p.receive_limbo;
  const bool exception = sending && (w->bits & Waiter::kException);  // park() clears the bit
  // The waiter leaves the relay before its request goes out: the relay's next
  // waiter must not be served ahead of it.
  p.channel->unpark(w);
  limbo.park(w, sending);
  slot = Slot{.in_flight = true,
              .asking = false,
              .served = w,
              .in_limbo = true,
              .exception = exception,
              .tasklet = TaskletRef(t)};
  Proxy* pp = &p;
  auto on_error = on_call_failed(p, sending, false, what);
  if (sending) {
    auto req = conn->node().channelSendRequest();
    req.setChannel(p.home.id);
    const std::any* value = NetAccess::payload(w);
    if (exception) {
      wire::set_raised(req.initRaised(), std::any_cast<std::exception_ptr>(*value));
    } else {
      wire::encode_value(*p.codec, *value, req.initValue());
    }
    host_.tasks().add(req.send().then(
        [this, pp, what](capnp::Response<schema::node::Node::ChannelSendResults>&& r) {
          completions_.push_back({pp, true, false, wire::failure_exception(r.getFailure(), what), {}});
          host_.wake();
        },
        kj::mv(on_error)));
  } else {
    auto req = conn->node().channelReceiveRequest();
    req.setChannel(p.home.id);
    host_.tasks().add(req.send().then(
        [this, pp, what](capnp::Response<schema::node::Node::ChannelReceiveResults>&& r) {
          Completion c{pp, false, false, wire::failure_exception(r.getFailure(), what), {}};
          if (!c.error) {
            try {
              c.value = wire::decode_value(*pp->codec, r.getValue(), what);
            } catch (const RemoteChannelError&) {
              c.error = std::current_exception();
            }
          }
          completions_.push_back(std::move(c));
          host_.wake();
        },
        kj::mv(on_error)));
  }
}

bool RemoteChannels::apply() {
  if (completions_.empty()) return false;
  std::deque<Completion> ready;
  ready.swap(completions_);
  for (Completion& c : ready) complete(c);
  return true;
}

bool RemoteChannels::queued_on(const ChannelBase& where, const Waiter* w) {
  for (Waiter* q = NetAccess::head(where); q; q = q->next) {
    if (q == w) return true;
  }
  return false;
}

void RemoteChannels::complete(Completion& c) {
  Proxy& p = *c.proxy;
  mark(p);  // its slot is free again: the next waiter (or a held value) is served
  Slot& slot = c.sending ? p.send : p.receive;
  Waiter* w = slot.served;
  TaskletRef t = std::move(slot.tasklet);
  ChannelBase& limbo = c.sending ? *p.send_limbo : *p.receive_limbo;
  ChannelBase& where = slot.in_limbo ? limbo : *p.channel;
  const bool exception = slot.exception;
  slot = Slot{};
  const bool queued = queued_on(where, w) && t && t->alive() && NetAccess::tasklet(w) == t.get();
  if (c.asking) {
    // Home was ready for a select's case. If the select still waits in it, it
    // commits to this case now; if a sibling fired meanwhile, nothing happened.
    if (!queued) return;
    if (c.error) {
      t->throw_exception(c.error);
      return;
    }
    static_cast<SelectWaiter*>(w)->select->choose(w);
    perform(p, w, c.sending);
    return;
  }
  if (c.error) {
    if (!queued) return;
    bool closed = false;
    try {
      std::rethrow_exception(c.error);
    } catch (const ChannelClosed&) {
      closed = true;
    } catch (...) {
    }
    if (closed && !c.sending && w->in_select()) {
      // As in one process: a select's receive case on a closed channel is chosen
      // and reports closed().
      static_cast<SelectWaiter*>(w)->select->fired(w, true);
      host_.scheduler().unblock(t.get());
      host_.scheduler().make_runnable(t.get(), false);
      return;
    }
    t->throw_exception(c.error);
    return;
  }
  if (c.sending) {
    // Home took the value: complete the local send.
    if (!queued) return;
    if (exception) {  // a limbo receive would raise it here: release the sender by hand
      limbo.unpark(w);
      NetAccess::payload(w)->reset();
      host_.scheduler().unblock(t.get());
      host_.scheduler().make_runnable(t.get(), false);
      return;
    }
    std::any taken;
    limbo.receive_any(nullptr, taken, false);
    return;
  }
  if (queued) {
    limbo.send_any(nullptr, c.value, false);
  } else {
    p.held = std::move(c.value);  // the next receiver's
  }
}

}  // namespace stasis::net
