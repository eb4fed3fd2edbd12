// connection.h — one authenticated Cap'n Proto RPC connection to a peer node.
//
// Client side: connect() opens TCP, bootstraps the peer's Gate, answers its
// challenge with an HMAC of the shared key and checks the peer's proof in turn;
// only then is the Node capability usable. Server side: serve() gives each
// accepted connection its own Gate (gate.h), so a nonce is good for one login.
//
// Incoming messages are limited by ReaderOptions (max_message_bytes): a larger
// message fails the connection before it is read into memory.
#ifndef STASIS_NET_SRC_CONNECTION_H_
#define STASIS_NET_SRC_CONNECTION_H_

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <chrono>
#include <string>

#include "stasis/net/key.h"
#include "stasis/schema/node.capnp.h"

namespace stasis::net {

capnp::ReaderOptions reader_options(std::size_t max_message_bytes);
// Throws the typed error (AuthenticationError or ConnectionError) for a failed
// connection attempt to `address`.
[[noreturn]] void throw_connect_error(const std::string& address, const kj::Exception& e);

class ClientConnection {
 public:
  // Connects and authenticates, waiting on `io`. ConnectionError (unreachable,
  // timeout, broken), AuthenticationError (wrong key on either side).
  static kj::Own<ClientConnection> connect(kj::AsyncIoContext& io, const std::string& address, const SharedKey& key,
                                           const std::string& self_id, std::size_t max_message_bytes,
                                           std::chrono::milliseconds timeout);

  // The same without waiting: the promise fails with a kj::Exception whose
  // description starts with "authentication:" for a key mismatch.
  static kj::Promise<kj::Own<ClientConnection>> connect_async(kj::AsyncIoContext& io, std::string address,
                                                               const SharedKey& key, std::string self_id,
                                                               std::size_t max_message_bytes,
                                                               std::chrono::milliseconds timeout);

  ClientConnection(kj::Own<kj::AsyncIoStream> stream, std::size_t max_message_bytes);
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  schema::node::Node::Client& node() { return node_; }
  const std::string& peer_id() const noexcept { return peer_id_; }
  const std::string& address() const noexcept { return address_; }
  // Resolves when the connection breaks.
  kj::Promise<void> on_disconnect() { return network_.onDisconnect(); }
  bool broken() const noexcept { return broken_; }
  void mark_broken() noexcept { broken_ = true; }

 private:
  kj::Own<kj::AsyncIoStream> stream_;
  capnp::TwoPartyVatNetwork network_;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc_;
  schema::node::Node::Client node_;
  std::string peer_id_;
  std::string address_;
  bool broken_ = false;
};

}  // namespace stasis::net

#endif  // STASIS_NET_SRC_CONNECTION_H_
