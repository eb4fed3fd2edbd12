// hostile_peer_test.cc — an authenticated peer that sends bad input: snapshots
// that are garbage or bit-flipped are refused by the hardened loader, a message
// over the node's size limit ends the connection, and nothing is restored or
// run. Speaks the node protocol directly (schema/node.capnp) to send what a
// well-behaved Host never would.
#include <gtest/gtest.h>

#include <random>
#include <thread>
#include <string>

#include "connection.h"
#include "net_frames.h"
#include "node_process.h"
#include "stasis/net.h"
#include "stasis/persist/snapshot.h"

namespace stasis::test {
namespace {

using net::ClientConnection;
using net::SharedKey;
using schema::node::Failure;

struct Peer {
  kj::AsyncIoContext io = kj::setupAsyncIo();
  kj::Own<ClientConnection> conn;
  Peer(const std::string& address, const std::string& key_file)
      : conn(ClientConnection::connect(io, address, SharedKey::from_file(key_file), "hostile", 64u << 20,
                                       std::chrono::milliseconds(5000))) {}
  // Node.accept of `bytes` (no channels); the failure kind and message.
  std::pair<Failure::Kind, std::string> accept(const std::string& bytes) {
    auto req = conn->node().acceptRequest();
    req.setMigrationId(net::SharedKey::random_u64());
    req.setSnapshot(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(bytes.data()), bytes.size()));
    auto r = req.send().wait(io.waitScope);
    return {r.getFailure().getKind(), r.getFailure().getMessage()};
  }
  std::size_t hosted() {
    return conn->node().statusRequest().send().wait(io.waitScope).getTasklets().size();
  }
};

std::string valid_snapshot() {
  Scheduler sched;
  TaskletRef t = sched.spawn(Counter{.n = 10}, {.name = "victim"});
  return std::string(persist::freeze(t).bytes());
}

TEST(HostilePeer, GarbageAndBitFlippedSnapshotsAreRefused) {
  const std::string key = make_key_file("hostile");
  NodeProcess node(STASIS_NET_TEST_NODE, key);
  const std::string good = valid_snapshot();
  std::thread([&] {  // a thread of its own: one kj event loop per thread
    Peer peer(node.address(), key);
    std::mt19937 rng(7);
    std::string garbage(good.size(), '\0');
    for (char& c : garbage) c = static_cast<char>(rng());
    auto [kind, message] = peer.accept(garbage);
    EXPECT_EQ(kind, Failure::Kind::REFUSED);
    EXPECT_NE(message.find("migration"), std::string::npos) << message;
    for (int i = 0; i < 40; ++i) {
      std::string flipped = good;
      flipped[rng() % flipped.size()] ^= static_cast<char>(1u << (rng() % 8));
      EXPECT_EQ(peer.accept(flipped).first, Failure::Kind::REFUSED) << "flip " << i;
    }
    EXPECT_EQ(peer.accept(good.substr(0, good.size() / 2)).first, Failure::Kind::REFUSED);
    EXPECT_EQ(peer.hosted(), 0u);  // nothing restored
  }).join();
}

TEST(HostilePeer, OversizedMessageEndsTheConnectionAndNothingIsRestored) {
  const std::string key = make_key_file("oversize");
  NodeProcess node(STASIS_NET_TEST_NODE, key, {"--max-message-bytes", "65536"});
  std::thread([&] {
    {
      Peer peer(node.address(), key);
      std::string big(256 * 1024, 'x');
      EXPECT_THROW(peer.accept(big), kj::Exception);
    }
    Peer again(node.address(), key);
    EXPECT_EQ(again.hosted(), 0u);
  }).join();
}

}  // namespace
}  // namespace stasis::test
