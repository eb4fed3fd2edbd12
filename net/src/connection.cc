// connection.cc — client connections: TCP connect, Gate login, proof check.
#include "connection.h"

#include <capnp/message.h>

#include "stasis/net/errors.h"

namespace stasis::net {
namespace {

std::span<const std::uint8_t> bytes_of(capnp::Data::Reader d) { return {d.begin(), d.size()}; }
std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
constexpr std::string_view kLogin = "stasis-login";
constexpr std::string_view kProof = "stasis-proof";
std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

template <class T>
T wait_for(kj::AsyncIoContext& io, kj::Promise<T> p, std::chrono::milliseconds timeout, const std::string& what) {
  auto limited = io.provider->getTimer().timeoutAfter(timeout.count() * kj::MILLISECONDS, kj::mv(p));
  try {
    return limited.wait(io.waitScope);
  } catch (const kj::Exception& e) {
    throw ConnectionError(what + ": " + std::string(e.getDescription().cStr()));
  }
}

}  // namespace

capnp::ReaderOptions reader_options(std::size_t max_message_bytes) {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = max_message_bytes / sizeof(capnp::word);
  o.nestingLimit = 64;
  return o;
}

ClientConnection::ClientConnection(kj::Own<kj::AsyncIoStream> stream, std::size_t max_message_bytes)
    : stream_(kj::mv(stream)),
      network_(*stream_, capnp::rpc::twoparty::Side::CLIENT, reader_options(max_message_bytes)),
      rpc_(capnp::makeRpcClient(network_)),
      node_(nullptr) {}

kj::Own<ClientConnection> ClientConnection::connect(kj::AsyncIoContext& io, const std::string& address,
                                                    const SharedKey& key, const std::string& self_id,
                                                    std::size_t max_message_bytes, std::chrono::milliseconds timeout) {
  const std::string where = "node " + address;
  auto stream = wait_for(
      io,
      io.provider->getNetwork().parseAddress(address).then(
          [](kj::Own<kj::NetworkAddress> a) { return a->connect().attach(kj::mv(a)); }),
      timeout, "cannot connect to " + where + " (is stasis-node running there, and listening on that address?)");
  auto conn = kj::heap<ClientConnection>(kj::mv(stream), max_message_bytes);
  conn->address_ = address;

  capnp::word scratch[4];
  memset(scratch, 0, sizeof scratch);
  capnp::MallocMessageBuilder vat(scratch);
  auto server = vat.getRoot<capnp::rpc::twoparty::VatId>();
  server.setSide(capnp::rpc::twoparty::Side::SERVER);
  auto gate = conn->rpc_.bootstrap(server).castAs<schema::node::Gate>();

  auto challenge = wait_for(io, gate.challengeRequest().send(), timeout, where + ": the authentication challenge failed");
  auto server_nonce = challenge.getNonce();
  std::uint8_t client_nonce[SharedKey::kNonceBytes];
  SharedKey::random(client_nonce);
  auto mac = key.mac({bytes_of(kLogin), bytes_of(server_nonce), std::span<const std::uint8_t>(client_nonce), bytes_of(self_id)});

  auto login = gate.loginRequest();
  login.setPeerId(self_id);
  login.setClientNonce(kj::arrayPtr(client_nonce, sizeof client_nonce));
  login.setMac(kj::arrayPtr(mac.data(), mac.size()));
  auto reply = [&] {
    try {
      return login.send().wait(io.waitScope);
    } catch (const kj::Exception& e) {
      throw AuthenticationError(where + " refused our login: " + std::string(e.getDescription().cStr()) +
                                "; both nodes must use the same key file (--key-file)");
    }
  }();
  std::string peer_id = reply.getNodeId();
  if (!key.verify(bytes_of(reply.getProof()), {bytes_of(kProof), std::span<const std::uint8_t>(client_nonce),
                                                bytes_of(server_nonce), bytes_of(peer_id)})) {
    throw AuthenticationError(where + " accepted our login but could not prove it holds the shared key; "
                              "refusing to talk to it (check that it is the node you meant)");
  }
  conn->peer_id_ = peer_id;
  conn->node_ = reply.getNode();
  return conn;
}

}  // namespace stasis::net
