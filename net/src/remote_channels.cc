// remote_channels.cc — home-side helper tasklets and proxy-side pumping.
#include "remote_channels.h"

#include <capnp/message.h>

#include "connection.h"
#include "net_access.h"
#include "stasis/net/errors.h"
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
    if (op->sending) {
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

RemoteChannels::~RemoteChannels() = default;

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

kj::Promise<void> RemoteChannels::home_send(std::uint64_t id, schema::node::Value::Reader value,
                                            Failure::Builder failure) {
  ChannelBase* ch = exported(id);
  if (!ch) {
    wire::set_failure(failure, Failure::Kind::UNKNOWN_CHANNEL, "channel #" + std::to_string(id) + " is not exported here");
    return kj::READY_NOW;
  }
  const persist::ValueCodec* codec = persist::ValueCodecs::instance().find(ch->value_type());
  auto op = std::make_shared<HomeOp>();
  op->channel = ch;
  op->sending = true;
  try {
    if (!codec) throw RemoteChannelError(ch->label() + " carries a type without a codec");
    op->value = wire::decode_value(*codec, value, "send on " + ch->label());
  } catch (const RemoteChannelError& e) {
    wire::set_failure(failure, Failure::Kind::BAD_VALUE, e.what());
    return kj::READY_NOW;
  }
  auto paf = kj::newPromiseAndFulfiller<void>();
  helpers_.push_back(host_.scheduler().spawn(
      HomeOpRoot{.op = op, .done = std::make_shared<kj::Own<kj::PromiseFulfiller<void>>>(kj::mv(paf.fulfiller))},
      {.name = "stasis.net.send#" + std::to_string(id)}));
  host_.wake();
  return paf.promise.then([op, failure]() mutable { wire::set_failure(failure, op->error); });
}

kj::Promise<void> RemoteChannels::home_receive(std::uint64_t id,
                                               schema::node::Node::ChannelReceiveResults::Builder results) {
  ChannelBase* ch = exported(id);
  if (!ch) {
    wire::set_failure(results.initFailure(), Failure::Kind::UNKNOWN_CHANNEL,
                      "channel #" + std::to_string(id) + " is not exported here");
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
    wire::set_failure(failure, Failure::Kind::UNKNOWN_CHANNEL, "channel #" + std::to_string(id) + " is not exported here");
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
  proxies_.erase(std::make_pair(p->home.node_id, p->home.id));
}

const Home* RemoteChannels::home_of(const ChannelBase* ch) const {
  auto it = by_channel_.find(ch);
  return it == by_channel_.end() ? nullptr : &it->second->home;
}

bool RemoteChannels::serving(const Tasklet* t) const {
  for (const auto& [key, p] : proxies_) {
    if ((p->send.in_flight && p->send.tasklet.get() == t) || (p->receive.in_flight && p->receive.tasklet.get() == t)) {
      return true;
    }
  }
  return false;
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
  for (auto& [key, pp] : proxies_) {
    Proxy& p = *pp;
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
    if (first_receiver && p.held && !first_receiver->in_select()) {
      // A value fetched for a receiver that left: the next receiver's.
      ch.unpark(first_receiver);
      p.receive_limbo->park(first_receiver, false);
      p.receive_limbo->send_any(nullptr, *p.held, false);
      p.held.reset();
      first_receiver = nullptr;
    }
    if (first_sender && !p.send.in_flight) start(p, first_sender, NetAccess::payload(first_sender));
    if (first_receiver && !p.receive.in_flight) start(p, first_receiver, nullptr);
  }
}

void RemoteChannels::start(Proxy& p, Waiter* w, const std::any* value) {
  Tasklet* t = NetAccess::tasklet(w);
  const bool sending = value != nullptr;
  const std::string what = std::string(sending ? "send on " : "receive from ") + label(p);
  if (sending && (w->bits & Waiter::kException)) {
    t->throw_exception(std::make_exception_ptr(
        RemoteChannelError(what + ": send_exception cannot cross nodes; send a value that describes the error")));
    return;
  }
  std::string failure;
  ClientConnection* conn = host_.connection_now(p.home.address, failure);
  if (!conn) {
    if (!failure.empty()) t->throw_exception(std::make_exception_ptr(RemoteChannelError(what + ": " + failure)));
    return;  // connecting: served at a later turn
  }
  Slot& slot = sending ? p.send : p.receive;
  slot.in_flight = true;
  slot.served = w;
  slot.tasklet = TaskletRef(t);
  slot.in_limbo = false;
  Proxy* pp = &p;
  std::string address = p.home.address;
  auto on_error = [this, pp, sending, what, address](kj::Exception&& e) {
    completions_.push_back({pp, sending, {},
                            std::make_exception_ptr(RemoteChannelError(
                                what + ": the home node failed: " + std::string(e.getDescription().cStr())))});
    host_.forget_connection(address);
    host_.wake();
  };
  if (sending) {
    auto req = conn->node().channelSendRequest();
    req.setChannel(p.home.id);
    wire::encode_value(*p.codec, *value, req.initValue());
    if (!w->in_select()) {  // a select's case stays on the relay (its siblings may fire)
      p.channel->unpark(w);
      p.send_limbo->park(w, true);
      slot.in_limbo = true;
    }
    host_.tasks().add(req.send().then(
        [this, pp, what](capnp::Response<schema::node::Node::ChannelSendResults>&& r) {
          completions_.push_back({pp, true, {}, wire::failure_exception(r.getFailure(), what)});
          host_.wake();
        },
        kj::mv(on_error)));
  } else {
    if (!w->in_select()) {
      p.channel->unpark(w);
      p.receive_limbo->park(w, false);
      slot.in_limbo = true;
    }
    auto req = conn->node().channelReceiveRequest();
    req.setChannel(p.home.id);
    host_.tasks().add(req.send().then(
        [this, pp, what](capnp::Response<schema::node::Node::ChannelReceiveResults>&& r) {
          Completion c{pp, false, {}, wire::failure_exception(r.getFailure(), what)};
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

void RemoteChannels::complete(Completion& c) {
  Proxy& p = *c.proxy;
  Slot& slot = c.sending ? p.send : p.receive;
  slot.in_flight = false;
  Waiter* w = std::exchange(slot.served, nullptr);
  TaskletRef t = std::move(slot.tasklet);
  ChannelBase& limbo = c.sending ? *p.send_limbo : *p.receive_limbo;
  ChannelBase& where = slot.in_limbo ? limbo : *p.channel;
  // Is the served waiter still queued? Found by address only (a select's waiter
  // may be gone with its frame): never dereferenced unless queued.
  bool queued = false;
  for (Waiter* q = NetAccess::head(where); q; q = q->next) {
    if (q == w) {
      queued = true;
      break;
    }
  }
  queued = queued && t && t->alive() && NetAccess::tasklet(w) == t.get();
  if (c.error) {
    if (queued) t->throw_exception(c.error);
    return;
  }
  if (queued && !slot.in_limbo) {  // a select's case: finish it through the limbo
    where.unpark(w);
    limbo.park(w, c.sending);
  }
  if (c.sending) {
    // Home took the value: complete the local send.
    if (queued) {
      std::any taken;
      limbo.receive_any(nullptr, taken, false);
    }
    return;
  }
  if (queued) {
    limbo.send_any(nullptr, c.value, false);
  } else {
    p.held = std::move(c.value);  // the next receiver's
  }
}

}  // namespace stasis::net
