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

kj::Promise<kj::Own<ClientConnection>> ClientConnection::connect_async(kj::AsyncIoContext& io, std::string address,
                                                                       const SharedKey& key, std::string self_id,
                                                                       std::size_t max_message_bytes,
                                                                       std::chrono::milliseconds timeout) {
  auto steps =
      io.provider->getNetwork()
          .parseAddress(address)
          .then([](kj::Own<kj::NetworkAddress> a) { return a->connect().attach(kj::mv(a)); })
          .then([address, max_message_bytes](kj::Own<kj::AsyncIoStream> stream) {
            auto conn = kj::heap<ClientConnection>(kj::mv(stream), max_message_bytes);
            conn->address_ = address;
            capnp::word scratch[4];
            memset(scratch, 0, sizeof scratch);
            capnp::MallocMessageBuilder vat(scratch);
            auto server = vat.getRoot<capnp::rpc::twoparty::VatId>();
            server.setSide(capnp::rpc::twoparty::Side::SERVER);
            auto gate = conn->rpc_.bootstrap(server).castAs<schema::node::Gate>();
            auto challenge = gate.challengeRequest().send();
            return challenge.then([conn = kj::mv(conn), gate](auto&& r) mutable {
              return kj::tuple(kj::mv(conn), kj::mv(gate), kj::heapArray<capnp::byte>(r.getNonce()));
            });
          })
          .then([&key, self_id](auto&& t) mutable {
            auto conn = kj::mv(kj::get<0>(t));
            auto gate = kj::mv(kj::get<1>(t));
            auto server_nonce = kj::mv(kj::get<2>(t));
            auto client_nonce = kj::heapArray<capnp::byte>(SharedKey::kNonceBytes);
            SharedKey::random(std::span<std::uint8_t>(client_nonce.begin(), client_nonce.size()));
            auto mac = key.mac({bytes_of(kLogin), std::span<const std::uint8_t>(server_nonce.begin(), server_nonce.size()),
                                std::span<const std::uint8_t>(client_nonce.begin(), client_nonce.size()), bytes_of(self_id)});
            auto login = gate.loginRequest();
            login.setPeerId(self_id);
            login.setClientNonce(client_nonce);
            login.setMac(kj::arrayPtr(mac.data(), mac.size()));
            return login.send()
                .then(
                    [conn = kj::mv(conn), &key, client_nonce = kj::mv(client_nonce),
                     server_nonce = kj::mv(server_nonce)](auto&& reply) mutable {
                      std::string peer_id = reply.getNodeId();
                      if (!key.verify(bytes_of(reply.getProof()),
                                      {bytes_of(kProof), std::span<const std::uint8_t>(client_nonce.begin(), client_nonce.size()),
                                       std::span<const std::uint8_t>(server_nonce.begin(), server_nonce.size()),
                                       bytes_of(peer_id)})) {
                        kj::throwFatalException(KJ_EXCEPTION(FAILED, "authentication: the node accepted our login but could not prove it holds the shared key; refusing to talk to it"));
                      }
                      conn->peer_id_ = peer_id;
                      conn->node_ = reply.getNode();
                      return kj::mv(conn);
                    },
                    [](kj::Exception&& e) -> kj::Own<ClientConnection> {
                      kj::throwFatalException(KJ_EXCEPTION(FAILED, "authentication: the node refused our login",
                                                           e.getDescription()));
                    });
          });
  return io.provider->getTimer().timeoutAfter(timeout.count() * kj::MILLISECONDS, kj::mv(steps));
}

kj::Own<ClientConnection> ClientConnection::connect(kj::AsyncIoContext& io, const std::string& address,
                                                    const SharedKey& key, const std::string& self_id,
                                                    std::size_t max_message_bytes, std::chrono::milliseconds timeout) {
  try {
    return connect_async(io, address, key, self_id, max_message_bytes, timeout).wait(io.waitScope);
  } catch (const kj::Exception& e) {
    throw_connect_error(address, e);
  }
}

void throw_connect_error(const std::string& address, const kj::Exception& e) {
  std::string d = e.getDescription().cStr();
  if (d.find("authentication:") != std::string::npos) {
    throw AuthenticationError("node " + address + ": " + d + "; both nodes must use the same key file (--key-file)");
  }
  throw ConnectionError("cannot connect to node " + address + ": " + d +
                        " (is a node running there, and listening on that address?)");
}

}  // namespace stasis::net
