// mailbox.h — the in-memory mailbox the mail server delivers into.
//
// Keeps the most recent messages (a bounded window, so a long benchmark run does
// not grow without limit) and counts everything ever delivered. Single-threaded:
// every connection tasklet of the server runs on one scheduler thread.
#ifndef STASIS_SAMPLES_MAILSERVER_MAILBOX_H_
#define STASIS_SAMPLES_MAILSERVER_MAILBOX_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace mailserver {

struct Message {
  std::string from;
  std::vector<std::string> recipients;
  std::string body;  // dot-unstuffed, lines joined with "\r\n", ending in "\r\n"
};

struct MailboxCounts {
  std::uint64_t messages = 0;
  std::uint64_t recipients = 0;
  std::uint64_t bytes = 0;  // body bytes, after dot-unstuffing
};

class Mailbox {
 public:
  // Keeps at most `keep` messages (the newest); counts all of them.
  explicit Mailbox(std::size_t keep = 10000) : keep_(keep) {}
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Stores `m` and returns its sequence number (1, 2, ...).
  std::uint64_t deliver(Message m);

  const MailboxCounts& counts() const noexcept { return counts_; }
  const std::deque<Message>& recent() const noexcept { return recent_; }

 private:
  std::size_t keep_;
  MailboxCounts counts_;
  std::deque<Message> recent_;
};

}  // namespace mailserver

#endif  // STASIS_SAMPLES_MAILSERVER_MAILBOX_H_
