// session.h — the SMTP-like protocol of one connection, as a pure state machine.
//
// A Session turns each received line into a reply; it does no I/O, so the whole
// protocol is testable without sockets. The commands (case-insensitive):
//
//   HELO/EHLO host      250            (501 without a host)
//   MAIL FROM:<addr>    250            (503 before HELO or inside a transaction, 501 bad syntax)
//   RCPT TO:<addr>      250, repeatable (503 before MAIL, 501 bad syntax)
//   DATA                354, then lines up to a lone "."; a leading "." of a line
//                       is removed (dot-unstuffing); 250 when stored (503 without RCPT)
//   RSET                250, drops the transaction (HELO is kept)
//   NOOP                250
//   QUIT                221, then the connection closes
//   anything else       500
//
// States: kStart (no HELO yet) -> kReady -> kMail (after MAIL) -> kRcpt (after at
// least one RCPT) -> kData (after DATA, until "."), back to kReady.
#ifndef STASIS_SAMPLES_MAILSERVER_SESSION_H_
#define STASIS_SAMPLES_MAILSERVER_SESSION_H_

#include <string>
#include <string_view>

#include "mailbox.h"

namespace mailserver {

inline constexpr std::string_view kGreeting = "220 stasis-mail ready\r\n";

struct Reply {
  std::string text;    // one reply line with its "\r\n"; empty while DATA lines arrive
  bool close = false;  // the server closes the connection after sending text
};

class Session {
 public:
  // *mailbox must outlive the session.
  explicit Session(Mailbox* mailbox) : mailbox_(mailbox) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The reply to one line received (without its line end).
  Reply on_line(std::string_view line);

  // True while the message text is being received (a reply comes at the ".").
  bool in_data() const noexcept { return state_ == State::kData; }

 private:
  enum class State { kStart, kReady, kMail, kRcpt, kData };
  Reply command(std::string_view verb, std::string_view arg);
  void reset_transaction();

  Mailbox* mailbox_;
  State state_ = State::kStart;
  Message message_;
};

}  // namespace mailserver

#endif  // STASIS_SAMPLES_MAILSERVER_SESSION_H_
