// io_test_support.h — loopback sockets and small helpers for the stasis::io tests.
//
// Pairs are connected outside tasklets with Asio's blocking calls (loopback
// connect completes through the listen backlog, so no tasklet is needed), then
// handed to native tasklets. Everything runs on the test thread's io context.
#ifndef STASIS_TESTS_IO_IO_TEST_SUPPORT_H_
#define STASIS_TESTS_IO_IO_TEST_SUPPORT_H_

#include <sys/resource.h>

#include <string>
#include <utility>

#include <boost/asio/write.hpp>

#include "stasis/io.h"

namespace stasis::io_test {

namespace io = stasis::io;
using io::tcp;

struct SocketPair {
  tcp::socket a;
  tcp::socket b;
};

// Two connected loopback sockets on io::context().
inline SocketPair loopback_pair() {
  tcp::acceptor acceptor(io::context(), tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket a(io::context()), b(io::context());
  a.connect(acceptor.local_endpoint());
  acceptor.accept(b);
  return {std::move(a), std::move(b)};
}

// A free loopback port nobody listens on (bound, then closed).
inline unsigned short unused_port() {
  tcp::acceptor acceptor(io::context(), tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

// A barrier for native tasklets made of stasis::io alone: the first n-1 arrivals
// wait until a loopback socket turns readable; the n-th writes one byte to it,
// which wakes them all (readiness is not consumed by waiting).
class IoBarrier {
 public:
  explicit IoBarrier(int n) : n_(n), pair_(loopback_pair()) {}
  void arrive() {
    if (++arrived_ == n_) {
      io::write_all(pair_.a, "!");
    } else {
      io::wait(pair_.b, tcp::socket::wait_read);
    }
  }

 private:
  int n_;
  int arrived_ = 0;
  SocketPair pair_;
};

inline void raise_descriptor_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

}  // namespace stasis::io_test

#endif  // STASIS_TESTS_IO_IO_TEST_SUPPORT_H_
