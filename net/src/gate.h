// gate.h — the server side of a peer connection: the Gate (authentication) and
// the Node it hands out after a successful login.
//
// Invariants: a Gate issues one nonce and accepts one login attempt for it; a
// failed login is logged with the peer's address and closes the connection; the
// Node capability exists only after a login whose HMAC verified.
#ifndef STASIS_NET_SRC_GATE_H_
#define STASIS_NET_SRC_GATE_H_

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <string>

#include "stasis/net/host.h"

namespace stasis::net {

class ServerConnection {
 public:
  ServerConnection(Host::Impl& host, kj::Own<kj::AsyncIoStream> stream, std::string peer_address);
  kj::Promise<void> on_disconnect() { return network_.onDisconnect(); }
  // Stops reading and writing: the connection ends at the next turn.
  void shut();

 private:
  kj::Own<kj::AsyncIoStream> stream_;
  capnp::TwoPartyVatNetwork network_;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc_;
};

}  // namespace stasis::net

#endif  // STASIS_NET_SRC_GATE_H_
