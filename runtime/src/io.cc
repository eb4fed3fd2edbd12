// io.cc — the blocking helpers of stasis::io: line reads, writes, accept, connect,
// readiness waits and timers for native tasklets.
//
// Every helper does its system call from the running tasklet on a non-blocking
// descriptor and parks (use_tasklet on async_wait) only when the call would
// block, like Go's netpoller. Asio therefore never holds a buffer, a string or
// the socket object across a switch — only the descriptor — which is what makes
// the helpers safe on sliced stacks (the sliced-stack rule in stasis/io.h).
#include <charconv>
#include <memory>
#include <string>

#include "stasis/io.h"

namespace stasis::io {
namespace {

constexpr std::size_t kReadChunk = 4096;

char* read_scratch() {
  static thread_local std::unique_ptr<char[]> scratch;
  if (!scratch) scratch = std::make_unique<char[]>(kReadChunk);
  return scratch.get();
}

bool would_block(const error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

std::string endpoint_text(const tcp::endpoint& ep) {
  std::string addr = ep.address().to_string();
  if (ep.address().is_v6()) addr = "[" + addr + "]";
  return addr + ":" + std::to_string(ep.port());
}

template <class IoObject, class WaitType>
void wait_on(IoObject& object, WaitType what, const std::string& (*describe_for_error)(const IoObject&, std::string&)) {
  for (;;) {
    error_code ec;
    try {
      object.async_wait(what, use_tasklet[ec]);
    } catch (...) {
      // Unwinding (kill, throw): cancel the wait so Asio drops it now. Other
      // tasklets' waits on this object see operation_aborted and wait again.
      error_code ignored;
      object.cancel(ignored);
      throw;
    }
    if (!ec) return;
    if (ec == asio::error::operation_aborted && object.is_open()) continue;  // someone else's cancel
    std::string scratch;
    throw IoError("stasis::io: waiting on " + describe_for_error(object, scratch), ec);
  }
}

const std::string& describe_socket(const tcp::socket& s, std::string& out) { return out = "connection " + describe(s); }
const std::string& describe_acceptor(const tcp::acceptor& a, std::string& out) {
  error_code ec;
  tcp::endpoint ep = a.local_endpoint(ec);
  return out = ec ? std::string("a closed acceptor") : "acceptor " + endpoint_text(ep);
}

void make_connection_socket(tcp::socket& s) {
  error_code ignored;
  s.non_blocking(true, ignored);
  s.set_option(tcp::no_delay(true), ignored);
}

}  // namespace

std::string describe(const tcp::socket& socket) {
  error_code e1, e2;
  tcp::endpoint local = socket.local_endpoint(e1);
  tcp::endpoint remote = socket.remote_endpoint(e2);
  if (e1) return socket.is_open() ? "(socket without an address)" : "(closed socket)";
  return endpoint_text(local) + " <- " + (e2 ? std::string("(not connected)") : endpoint_text(remote));
}

void wait(tcp::socket& socket, tcp::socket::wait_type what) { wait_on(socket, what, &describe_socket); }
void wait(tcp::acceptor& acceptor, tcp::acceptor::wait_type what) { wait_on(acceptor, what, &describe_acceptor); }

std::size_t read_some(tcp::socket& socket, asio::mutable_buffer buffer) {
  if (!socket.non_blocking()) socket.non_blocking(true);
  for (;;) {
    error_code ec;
    std::size_t n = socket.read_some(buffer, ec);
    if (!ec) return n;
    if (ec == asio::error::eof) return 0;
    if (would_block(ec)) {
      wait(socket, tcp::socket::wait_read);
      continue;
    }
    if (ec == asio::error::interrupted) continue;
    throw IoError("stasis::io: reading from connection " + describe(socket), ec);
  }
}

void write_all(tcp::socket& socket, std::string_view data) {
  if (!socket.non_blocking()) socket.non_blocking(true);
  while (!data.empty()) {
    error_code ec;
    std::size_t n = socket.write_some(asio::buffer(data.data(), data.size()), ec);
    if (!ec) {
      data.remove_prefix(n);
    } else if (would_block(ec)) {
      wait(socket, tcp::socket::wait_write);
    } else if (ec != asio::error::interrupted) {
      throw IoError("stasis::io: writing " + std::to_string(data.size()) + " bytes to connection " + describe(socket), ec);
    }
  }
}

std::optional<std::string> read_line(tcp::socket& socket, std::string& buffer, std::size_t max_line) {
  std::size_t scanned = 0;  // bytes of `buffer` known to hold no '\n'
  for (;;) {
    std::size_t nl = buffer.find('\n', scanned);
    if (nl != std::string::npos) {
      std::size_t end = (nl > 0 && buffer[nl - 1] == '\r') ? nl - 1 : nl;
      if (end > max_line) {
        throw LineTooLong("stasis::io: read_line on connection " + describe(socket) + ": a line of " +
                              std::to_string(end) + " bytes exceeds the limit of " + std::to_string(max_line),
                          asio::error::message_size);
      }
      std::string line = buffer.substr(0, end);
      buffer.erase(0, nl + 1);
      return line;
    }
    scanned = buffer.size();
    if (scanned > max_line + 1) {  // + 1: a '\r' may still be followed by the '\n'
      throw LineTooLong("stasis::io: read_line on connection " + describe(socket) + ": " + std::to_string(scanned) +
                            " bytes without a line end exceed the limit of " + std::to_string(max_line),
                        asio::error::message_size);
    }
    // Received into the thread's scratch area, then appended: read_some fills it
    // while this tasklet runs and nothing switches before the append, so one
    // area serves every tasklet of the thread (and no chunk is zero-filled, nor
    // kept on a sliced stack across the wait).
    char* scratch = read_scratch();
    std::size_t n = read_some(socket, asio::buffer(scratch, kReadChunk));
    buffer.append(scratch, n);
    if (n == 0) {
      if (buffer.empty()) return std::nullopt;
      throw PeerClosed("stasis::io: read_line on connection " + describe(socket) +
                           ": the peer closed the connection in the middle of a line (" + std::to_string(buffer.size()) +
                           " bytes after the last line end)",
                       asio::error::eof);
    }
  }
}

tcp::socket accept(tcp::acceptor& acceptor) {
  if (!acceptor.non_blocking()) acceptor.non_blocking(true);
  for (;;) {
    error_code ec;
    tcp::socket s(context());
    acceptor.accept(s, ec);
    if (!ec) {
      make_connection_socket(s);
      return s;
    }
    if (would_block(ec)) {
      wait(acceptor, tcp::acceptor::wait_read);
      continue;
    }
    if (ec == asio::error::connection_aborted || ec == asio::error::interrupted) continue;
    std::string what;
    throw IoError("stasis::io: accept on " + describe_acceptor(acceptor, what), ec);
  }
}

tcp::socket connect(const tcp::endpoint& endpoint) {
  tcp::socket s(context());
  error_code ec;
  s.async_connect(endpoint, use_tasklet[ec]);  // a single operation: Asio keeps only the descriptor
  if (ec) throw IoError("stasis::io: connecting to " + endpoint_text(endpoint), ec);
  make_connection_socket(s);
  return s;
}

void sleep_for(std::chrono::steady_clock::duration d) {
  // On the heap: Asio links the timer object into its queue while it waits.
  auto timer = std::make_unique<asio::steady_timer>(context(), d);
  error_code ec;
  timer->async_wait(use_tasklet[ec]);  // unwinding destroys (cancels) the timer
  if (ec) throw IoError("stasis::io: sleep_for", ec);
}

tcp::endpoint parse_endpoint(std::string_view text) {
  auto bad = [&](const char* why) {
    return InvalidArgument("stasis::io: bad endpoint '" + std::string(text) + "': " + why +
                           " (expected ADDRESS:PORT, e.g. 127.0.0.1:2525 or [::1]:2525)");
  };
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) throw bad("no port");
  std::string_view host = text.substr(0, colon), port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto [end, err] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (err != std::errc() || end != port_text.data() + port_text.size() || port > 65535) throw bad("the port is not a number in 0..65535");
  if (host == "localhost") host = "127.0.0.1";
  error_code ec;
  asio::ip::address addr = asio::ip::make_address(std::string(host), ec);
  if (ec) throw bad("the address is not numeric (no name lookup is done)");
  return tcp::endpoint(addr, static_cast<unsigned short>(port));
}

}  // namespace stasis::io
