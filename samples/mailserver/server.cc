// server.cc — the accept loop and the per-connection tasklet: read a line, let the
// Session answer, write the reply, until QUIT, the peer leaves, or an error.
//
// A connection's failure (reset, a peer closing mid-line, a line too long) ends
// that connection's tasklet only: the helpers raise typed stasis::io errors in
// it, and nothing is shared but the mailbox.
#include "server.h"

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "session.h"

namespace mailserver {

namespace io = stasis::io;
using io::tcp;

namespace {
constexpr std::size_t kMaxLine = io::kDefaultMaxLine;  // SMTP's limit
constexpr std::size_t kLingerBytes = 1 << 20;

// Closing a socket with unread input sends a reset, which may destroy the reply
// just written before the peer reads it. So: end our side, then read and drop what
// the peer still sends (up to a bound) until it closes too.
void linger_close(tcp::socket& socket) {
  boost::system::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return;
  char scrap[512];
  for (std::size_t total = 0; total < kLingerBytes;) {
    std::size_t n = io::read_some(socket, boost::asio::buffer(scrap));
    if (n == 0) break;
    total += n;
  }
}
}

Server::Server(const tcp::endpoint& endpoint, Mailbox* mailbox, ServerOptions options)
    : acceptor_(io::context(), endpoint), mailbox_(mailbox), options_(options) {}

void Server::start() {
  stasis::spawn_native([this] { accept_loop(); }, {.name = "accept", .stack = stasis::StackKind::kDedicated});
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);  // the accept loop's wait ends with operation_aborted
  std::vector<stasis::TaskletRef> live;
  for (auto& [id, t] : connections_) live.push_back(t);
  for (auto& t : live) t->kill();  // each one's destructors close its socket
}

void Server::accept_loop() {
  while (!stopping_) {
    tcp::socket socket(io::context());
    try {
      socket = io::accept(acceptor_);
    } catch (const io::IoError& e) {
      if (stopping_) break;
      if (e.code() == boost::asio::error::no_descriptors || e.code() == boost::asio::error::no_buffer_space) {
        std::fprintf(stderr, "mailserver: %s; pausing accepts\n", e.what());
        io::sleep_for(std::chrono::milliseconds(50));  // out of descriptors: let connections finish
        continue;
      }
      throw;
    }
    if (connections_.size() >= options_.max_connections) {
      ++counts_.refused;
      boost::system::error_code ignored;
      // A fresh socket's send buffer is empty: this small write does not block.
      socket.write_some(boost::asio::buffer(std::string_view("421 4.3.2 Too many connections, try again later\r\n")), ignored);
      continue;  // closed by the socket's destructor
    }
    ++counts_.connections;
    std::uint64_t id = next_connection_++;
    stasis::TaskletRef t = stasis::spawn_native(
        [this, id, s = std::move(socket)]() mutable {
          struct Deregister {  // runs however the tasklet ends, kill included
            Server* server;
            std::uint64_t id;
            ~Deregister() { server->connections_.erase(id); }
          } deregister{this, id};
          serve(std::move(s));
        },
        {.name = "conn-" + std::to_string(id), .stack = options_.stack});
    connections_.emplace(id, std::move(t));
  }
}

void Server::serve(tcp::socket socket) {
  Session session(mailbox_);
  std::string input;  // bytes received past the last line, kept by read_line
  try {
    io::write_all(socket, kGreeting);
    while (std::optional<std::string> line = io::read_line(socket, input, kMaxLine)) {
      Reply reply = session.on_line(*line);
      if (!reply.text.empty()) io::write_all(socket, reply.text);
      if (reply.close) return;
    }
    // The peer closed at a line boundary without QUIT: an ordinary end.
  } catch (const io::LineTooLong& e) {
    ++counts_.errors;
    if (options_.verbose) std::fprintf(stderr, "mailserver: %s\n", e.what());
    try {
      io::write_all(socket, "500 5.5.2 Line too long\r\n");
      linger_close(socket);
    } catch (const io::IoError&) {
      // The peer is gone too; nothing more to say.
    }
  } catch (const io::IoError& e) {
    ++counts_.errors;
    if (options_.verbose) std::fprintf(stderr, "mailserver: %s\n", e.what());
  }
}

}  // namespace mailserver
