// gate.cc — Gate and Node servers of one peer connection.
#include "gate.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "host_impl.h"
#include "wire.h"

namespace stasis::net {
namespace {

using schema::node::Failure;
using schema::node::Gate;
using schema::node::Node;

constexpr std::string_view kLogin = "stasis-login";
constexpr std::string_view kProof = "stasis-proof";
std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::span<const std::uint8_t> bytes_of(capnp::Data::Reader d) { return {d.begin(), d.size()}; }

class NodeServer final : public Node::Server {
 public:
  NodeServer(Host::Impl& host, std::string peer) : host_(host), peer_(std::move(peer)) {}

  kj::Promise<void> accept(AcceptContext context) override {
    auto p = context.getParams();
    host_.accept(p.getMigrationId(), p.getSnapshot(), p.getHomes(), p.getResume(), peer_,
                 context.getResults().initFailure());
    return kj::READY_NOW;
  }
  kj::Promise<void> outcome(OutcomeContext context) override {
    context.getResults().setCommitted(host_.outcome(context.getParams().getMigrationId()));
    return kj::READY_NOW;
  }
  kj::Promise<void> channelSend(ChannelSendContext context) override {
    auto p = context.getParams();
    return host_.channels.home_send(p, peer_, context.getResults().initFailure());
  }
  kj::Promise<void> channelReady(ChannelReadyContext context) override {
    auto p = context.getParams();
    return host_.channels.home_ready(p.getChannel(), p.getSending(), context.getResults().initFailure());
  }
  kj::Promise<void> channelReceive(ChannelReceiveContext context) override {
    return host_.channels.home_receive(context.getParams().getChannel(), context.getResults());
  }
  kj::Promise<void> channelClose(ChannelCloseContext context) override {
    host_.channels.home_close(context.getParams().getChannel(), context.getResults().initFailure());
    return kj::READY_NOW;
  }
  kj::Promise<void> status(StatusContext context) override {
    NodeStatus s = host_.status();
    auto r = context.getResults();
    r.setNodeId(s.node_id);
    auto list = r.initTasklets(static_cast<unsigned>(s.tasklets.size()));
    for (unsigned i = 0; i < list.size(); ++i) {
      const TaskletStatus& t = s.tasklets[i];
      list[i].setId(t.id);
      list[i].setName(t.name);
      list[i].setState(t.state);
      list[i].setWait(t.wait);
      list[i].setResult(t.result);
    }
    return kj::READY_NOW;
  }
  kj::Promise<void> echo(EchoContext context) override {
    context.getResults().setPayload(context.getParams().getPayload());
    return kj::READY_NOW;
  }

 private:
  Host::Impl& host_;
  std::string peer_;
};

class GateServer final : public Gate::Server {
 public:
  GateServer(Host::Impl& host, ServerConnection& conn, std::string peer_address)
      : host_(host), conn_(conn), peer_address_(std::move(peer_address)) {}

  kj::Promise<void> challenge(ChallengeContext context) override {
    if (issued_) {
      refuse("asked for a second challenge");
      return KJ_EXCEPTION(FAILED, "one challenge per connection; reconnect");
    }
    issued_ = true;
    SharedKey::random(nonce_);
    context.getResults().setNonce(kj::arrayPtr(nonce_, sizeof nonce_));
    return kj::READY_NOW;
  }

  kj::Promise<void> login(LoginContext context) override {
    auto p = context.getParams();
    std::string peer_id = p.getPeerId();
    if (!issued_ || used_) {
      refuse("tried to log in without a fresh challenge");
      return KJ_EXCEPTION(FAILED, "log in once, after a challenge");
    }
    used_ = true;
    auto client_nonce = p.getClientNonce();
    if (client_nonce.size() != SharedKey::kNonceBytes ||
        !host_.key.verify(bytes_of(p.getMac()), {bytes_of(kLogin), std::span<const std::uint8_t>(nonce_),
                                                 bytes_of(client_nonce), bytes_of(peer_id)})) {
      refuse("failed authentication (wrong or missing shared key) claiming to be node '" + peer_id + "'");
      return KJ_EXCEPTION(FAILED, "authentication failed: this node uses another shared key");
    }
    auto mac = host_.key.mac({bytes_of(kProof), bytes_of(client_nonce), std::span<const std::uint8_t>(nonce_),
                              bytes_of(host_.node_id)});
    auto r = context.getResults();
    r.setNode(kj::heap<NodeServer>(host_, peer_id + " (" + peer_address_ + ")"));
    r.setNodeId(host_.node_id);
    r.setProof(kj::arrayPtr(mac.data(), mac.size()));
    return kj::READY_NOW;
  }

 private:
  void refuse(const std::string& why) {
    host_.log("stasis-node " + host_.node_id + ": rejected connection from " + peer_address_ + ": " + why +
              "; nothing from it is restored or run");
    host_.close_server_connection(&conn_);
  }

  Host::Impl& host_;
  ServerConnection& conn_;
  std::string peer_address_;
  std::uint8_t nonce_[SharedKey::kNonceBytes] = {};
  bool issued_ = false;
  bool used_ = false;
};

}  // namespace

ServerConnection::ServerConnection(Host::Impl& host, kj::Own<kj::AsyncIoStream> stream, std::string peer_address)
    : stream_(kj::mv(stream)),
      network_(*stream_, capnp::rpc::twoparty::Side::SERVER, reader_options(host.options.max_message_bytes)),
      rpc_(capnp::makeRpcServer(network_, kj::heap<GateServer>(host, *this, std::move(peer_address)))) {}

void ServerConnection::shut() {
  stream_->shutdownWrite();
  stream_->abortRead();
}

void Host::Impl::serve(kj::Own<kj::AsyncIoStream> stream) {
  std::string peer = "an unknown address";
  sockaddr_storage sa{};
  kj::uint len = sizeof sa;
  try {
    stream->getpeername(reinterpret_cast<sockaddr*>(&sa), &len);
    char buf[INET6_ADDRSTRLEN] = {};
    if (sa.ss_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&sa);
      inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
      peer = std::string(buf) + ":" + std::to_string(ntohs(in->sin_port));
    } else if (sa.ss_family == AF_INET6) {
      auto* in = reinterpret_cast<sockaddr_in6*>(&sa);
      inet_ntop(AF_INET6, &in->sin6_addr, buf, sizeof buf);
      peer = "[" + std::string(buf) + "]:" + std::to_string(ntohs(in->sin6_port));
    }
  } catch (const kj::Exception&) {
  }
  auto conn = kj::heap<ServerConnection>(*this, kj::mv(stream), peer);
  ServerConnection* raw = conn.get();
  servers.push_back(kj::mv(conn));
  // Freed at the next turn, not inside its own callback.
  task_set->add(raw->on_disconnect().then([this, raw] { dead_servers.push_back(raw); }));
}

void Host::Impl::close_server_connection(ServerConnection* c) {
  // After the refusal's reply is on its way: shut the socket a moment later.
  task_set->add(io.provider->getTimer().afterDelay(20 * kj::MILLISECONDS).then([this, c] {
    for (auto& s : servers) {
      if (s.get() == c) c->shut();
    }
  }));
}

}  // namespace stasis::net
