// server.h — the mail server's tasklets: one accept loop, one native tasklet per
// connection, all on the calling thread's scheduler and stasis::io context.
//
// Invariants:
//   - connections_ holds exactly the connection tasklets that are alive; each
//     removes itself when it ends (normally, by error, or killed);
//   - after stop() no connection is accepted and every connection tasklet has
//     been killed (its socket closed by its destructor).
#ifndef STASIS_SAMPLES_MAILSERVER_SERVER_H_
#define STASIS_SAMPLES_MAILSERVER_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "mailbox.h"
#include "stasis/io.h"
#include "stasis/native.h"

namespace mailserver {

struct ServerOptions {
  stasis::StackKind stack = stasis::StackKind::kSliced;  // of the connection tasklets
  std::size_t max_connections = 10000;                   // more get "421" and are closed
  bool verbose = false;                                  // log connection errors on stderr
};

struct ServerCounts {
  std::uint64_t connections = 0;  // accepted and served
  std::uint64_t refused = 0;      // turned away by max_connections
  std::uint64_t errors = 0;       // connections that ended with an I/O or protocol error
};

class Server {
 public:
  // Listens on `endpoint` (port 0: any free port). *mailbox must outlive the server.
  Server(const stasis::io::tcp::endpoint& endpoint, Mailbox* mailbox, ServerOptions options);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  stasis::io::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

  // Spawns the accept loop tasklet; connections get their tasklets as they come.
  void start();
  // Closes the listening socket and kills every connection tasklet. Idempotent.
  void stop();

  const ServerCounts& counts() const noexcept { return counts_; }
  std::size_t active() const noexcept { return connections_.size(); }

 private:
  void accept_loop();
  void serve(stasis::io::tcp::socket socket);

  stasis::io::tcp::acceptor acceptor_;
  Mailbox* mailbox_;
  ServerOptions options_;
  ServerCounts counts_;
  bool stopping_ = false;
  std::uint64_t next_connection_ = 1;
  std::unordered_map<std::uint64_t, stasis::TaskletRef> connections_;
};

}  // namespace mailserver

#endif  // STASIS_SAMPLES_MAILSERVER_SERVER_H_
