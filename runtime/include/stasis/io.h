// stasis/io.h — native tasklets blocking on sockets and timers through Boost.Asio.
//
// Each thread's scheduler gets one boost::asio::io_context (context()), wrapped as
// the scheduler's IoDriver: the run loop polls it between tasklets and waits on it
// (epoll here, kqueue/IOCP elsewhere) when every tasklet waits for I/O. A native
// tasklet that waits costs no OS thread: it parks in WaitKind::kIo and the
// completion handler wakes it with the park's ticket.
//
// Two ways in:
//   - the helpers below (read_line, write_all, accept, connect, wait, sleep_for):
//     they do the system calls from the running tasklet, non-blocking, and park
//     only to wait for readiness; errors are typed (IoError and subclasses) and
//     name the connection. Prefer them.
//   - the completion token use_tasklet for any Asio operation:
//       std::size_t n = sock.async_read_some(asio::buffer(*heap_buf), io::use_tasklet);
//       sock.async_wait(tcp::socket::wait_read, io::use_tasklet[ec]);   // ec, no throw
//     It blocks the calling native tasklet only and returns the handler's values
//     (nothing, one value, or a tuple), throwing boost::system::system_error (or
//     filling the error_code given with []). Outside native tasklets it raises
//     CannotBlock. An I/O object of another io_context raises InvalidArgument.
//
// THE SLICED-STACK RULE. While a sliced tasklet is switched out its stack lives
// somewhere else (stasis/native.h), so nothing Asio holds during an operation may
// point into it:
//   - buffers handed to an Asio operation must be on the heap (a std::string's or
//     std::vector's storage, a unique_ptr'd array), never a local array; use_tasklet
//     refuses buffer sequences that point into the thread's slice region
//     (InvalidArgument);
//   - composed operations (async_read_until, async_write, async_read) keep a
//     reference to the stream and the dynamic buffer object and touch them between
//     steps: on a sliced tasklet the stream and the buffer object must be on the heap
//     too. Single operations (async_read_some, async_write_some, async_wait,
//     async_connect, async_accept) keep only the descriptor;
//   - timers and signal_sets link their own object into Asio's queues: keep them on
//     the heap (io::sleep_for does).
// The helpers follow the rule by construction: Asio only ever waits for readiness
// on their behalf; reads and writes happen in the running tasklet, so the
// sockets, buffers and strings passed to them may live anywhere, sliced stacks
// included. Dedicated stacks have no such rule.
//
// Kill / throw while waiting: the exception is raised at the park; the operation
// may still be pending in Asio. Its result lives in a small heap state shared with
// the handler (so a late completion touches no freed memory) and the ticket makes
// its wake a no-op. The helpers also cancel the pending wait on unwinding
// (socket.cancel(): other tasklets' waits on the same socket see a spurious
// cancellation, which the helpers absorb by waiting again); to interrupt a tasklet
// blocked in a helper, kill it, throw into it, or close the socket.
//
// Every object here belongs to the thread that created it, like tasklets.
#ifndef STASIS_IO_H_
#define STASIS_IO_H_

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "stasis/error.h"
#include "stasis/native.h"
#include "stasis/scheduler.h"

namespace stasis::io {

namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;

// The calling thread's io_context. The first call on a thread creates it; every
// call (and every wait) installs it as the IoDriver of the thread's scheduler, if
// there is one yet, when that scheduler has none (a scheduler created after an
// earlier one died gets it on its first I/O). It never creates a scheduler. The context lives until the thread exits; a scheduler that dies
// first simply stops using it, and one that outlives it is uninstalled from.
// I/O objects must be created on this context and destroyed before the thread exits.
asio::io_context& context();

// An I/O failure reported by the helpers: what was done on which connection, and
// the system error (code()).
class IoError : public Error {
 public:
  IoError(const std::string& what, error_code code);
  const error_code& code() const noexcept { return code_; }

 private:
  error_code code_;
};

// The peer closed the connection in the middle of a line (code() is asio::error::eof).
class PeerClosed : public IoError {
 public:
  using IoError::IoError;
};

// A line longer than the limit given to read_line (code() is asio::error::message_size).
// The connection's buffered input is unspecified afterwards: reply and close.
class LineTooLong : public IoError {
 public:
  using IoError::IoError;
};

// The default line limit: SMTP's 1000 octets including CRLF (RFC 5321 4.5.3.1.6).
inline constexpr std::size_t kDefaultMaxLine = 998;

// --- Helpers (any native tasklet, sliced or dedicated; CannotBlock elsewhere). ---

// Returns the next line of `socket` without its "\n" (and a "\r" before it).
// `buffer` holds bytes received past the line end between calls: pass the same
// string for every call on one connection. Returns std::nullopt when the peer
// closed the connection at a line boundary; throws PeerClosed if it closed in the
// middle of a line, LineTooLong if a line exceeds `max_line` bytes (line end not
// counted), IoError for any other failure.
std::optional<std::string> read_line(tcp::socket& socket, std::string& buffer,
                                     std::size_t max_line = kDefaultMaxLine);

// Writes all of `data`, blocking the tasklet while the socket's send buffer is
// full. IoError on failure (a peer that reset the connection: connection_reset or
// broken_pipe). `data` is read only while the call runs in the tasklet.
void write_all(tcp::socket& socket, std::string_view data);

// Reads at least one byte into `buffer`; returns the count, 0 when the peer closed.
// IoError on failure. `buffer` may be anywhere (it is filled by the tasklet).
std::size_t read_some(tcp::socket& socket, asio::mutable_buffer buffer);

// Accepts one connection on `acceptor` (opened and listening on context()). The
// socket returned is non-blocking with TCP_NODELAY set. IoError on failure,
// including operation_aborted when the acceptor was closed meanwhile.
tcp::socket accept(tcp::acceptor& acceptor);

// Connects to `endpoint`; IoError naming it on failure (connection_refused...).
// The socket returned is non-blocking with TCP_NODELAY set.
tcp::socket connect(const tcp::endpoint& endpoint);

// Blocks the tasklet until `socket` is ready for `what` (read, write or error).
// A cancellation by another tasklet (socket.cancel() on an open socket) is
// absorbed: the wait starts again. IoError on failure (operation_aborted once the
// socket is closed).
void wait(tcp::socket& socket, tcp::socket::wait_type what);
void wait(tcp::acceptor& acceptor, tcp::acceptor::wait_type what);

// Blocks the tasklet for `d` on an Asio steady_timer (kept on the heap, cancelled
// if the tasklet is killed or thrown into meanwhile). The scheduler's own
// this_tasklet::sleep_for does the same without Asio.
void sleep_for(std::chrono::steady_clock::duration d);

// "127.0.0.1:25", "[::1]:2525", "localhost:25" (localhost only: no name lookup)
// -> endpoint. InvalidArgument naming the text otherwise.
tcp::endpoint parse_endpoint(std::string_view text);

// "127.0.0.1:25 <- 127.0.0.1:40112" (local <- remote) — how errors name a connection.
std::string describe(const tcp::socket& socket);

// --- The completion token. ---

struct use_tasklet_t {
  // use_tasklet[ec]: failures are stored in ec instead of thrown.
  struct with_error {
    error_code* ec;
  };
  constexpr with_error operator[](error_code& ec) const noexcept { return {&ec}; }
};
inline constexpr use_tasklet_t use_tasklet{};

namespace detail {

// One operation's completion, on the heap: shared by the parked tasklet and the
// handler, so a handler that runs after the tasklet was unwound writes only here.
struct OpBase {
  TaskletRef tasklet;
  std::uint32_t ticket = 0;
  bool done = false;
  error_code ec;
};
template <class... Ts>
struct OpState : OpBase {
  std::optional<std::tuple<Ts...>> values;
};

// Throws CannotBlock unless the caller is a native tasklet that may block;
// installs the driver; fills op's tasklet and ticket. `what` names the operation.
void begin_op(OpBase& op, const char* what);
// Parks until the handler completed op (rethrows a kill or throw on the way).
void park_until_done(OpBase& op);
// Records completion and wakes the tasklet if that park is still on.
void complete(OpBase& op) noexcept;
// InvalidArgument if [data, data+size) overlaps the thread's slice region.
void check_not_on_slice(const void* data, std::size_t size);
// InvalidArgument: an I/O object of another io_context.
[[noreturn]] void throw_foreign_executor();

template <class A>
void check_argument(const A& a) {
  if constexpr (asio::is_mutable_buffer_sequence<A>::value || asio::is_const_buffer_sequence<A>::value) {
    for (auto it = asio::buffer_sequence_begin(a); it != asio::buffer_sequence_end(a); ++it) {
      auto b = *it;
      check_not_on_slice(b.data(), b.size());
    }
  }
}

template <class Initiation>
void check_executor(const Initiation& init) {
  if constexpr (requires { init.get_executor(); }) {
    auto ex = init.get_executor();
    if constexpr (requires { asio::query(ex, asio::execution::context); }) {
      asio::execution_context& c = asio::query(ex, asio::execution::context);
      if (&c != static_cast<asio::execution_context*>(&context())) throw_foreign_executor();
    }
  }
}

template <class... Ts>
struct Handler {
  std::shared_ptr<OpState<Ts...>> op;
  template <class... Vs>
  void operator()(error_code ec, Vs&&... vs) {
    op->ec = ec;
    op->values.emplace(std::forward<Vs>(vs)...);
    complete(*op);
  }
};

template <class... Ts>
using result_t = std::conditional_t<sizeof...(Ts) == 0, void,
                                    std::conditional_t<sizeof...(Ts) == 1, std::tuple_element_t<0, std::tuple<Ts..., void>>,
                                                       std::tuple<Ts...>>>;

template <class... Ts>
result_t<Ts...> take(OpState<Ts...>& op) {
  if constexpr (sizeof...(Ts) == 0) {
    return;
  } else if constexpr (sizeof...(Ts) == 1) {
    return std::move(std::get<0>(*op.values));
  } else {
    return std::move(*op.values);
  }
}

// Starts the operation with a heap-state handler and parks until it completes.
template <class... Ts, class Initiation, class... Args>
std::shared_ptr<OpState<Ts...>> run_op(Initiation&& init, Args&&... args) {
  (check_argument(args), ...);
  check_executor(init);
  auto op = std::make_shared<OpState<Ts...>>();
  begin_op(*op, "an Asio operation with stasis::io::use_tasklet");
  std::move(init)(Handler<Ts...>{op}, std::forward<Args>(args)...);
  park_until_done(*op);
  return op;
}

}  // namespace detail
}  // namespace stasis::io

namespace boost::asio {

template <class... Ts>
class async_result<stasis::io::use_tasklet_t, void(boost::system::error_code, Ts...)> {
 public:
  using return_type = stasis::io::detail::result_t<std::decay_t<Ts>...>;
  template <class Initiation, class... Args>
  static return_type initiate(Initiation&& init, stasis::io::use_tasklet_t, Args&&... args) {
    auto op = stasis::io::detail::run_op<std::decay_t<Ts>...>(std::forward<Initiation>(init), std::forward<Args>(args)...);
    if (op->ec) throw boost::system::system_error(op->ec);
    return stasis::io::detail::take(*op);
  }
};

template <class... Ts>
class async_result<stasis::io::use_tasklet_t::with_error, void(boost::system::error_code, Ts...)> {
 public:
  // On failure the values are default-constructed (Asio passes defaults too).
  using return_type = stasis::io::detail::result_t<std::decay_t<Ts>...>;
  template <class Initiation, class... Args>
  static return_type initiate(Initiation&& init, stasis::io::use_tasklet_t::with_error token, Args&&... args) {
    auto op = stasis::io::detail::run_op<std::decay_t<Ts>...>(std::forward<Initiation>(init), std::forward<Args>(args)...);
    *token.ec = op->ec;  // written by this tasklet, after it resumed: ec may be a local
    return stasis::io::detail::take(*op);
  }
};

}  // namespace boost::asio

#endif  // STASIS_IO_H_
