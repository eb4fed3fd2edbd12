// session.cc — the protocol state machine (see session.h for the grammar).
#include "session.h"

#include <cctype>
#include <optional>
#include <utility>

namespace mailserver {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "FROM:<a@b>" with keyword "FROM" -> "a@b" ("<>" allowed for MAIL: the null sender).
std::optional<std::string> path_argument(std::string_view arg, std::string_view keyword) {
  if (arg.size() < keyword.size() + 1 || !iequals(arg.substr(0, keyword.size()), keyword) || arg[keyword.size()] != ':') {
    return std::nullopt;
  }
  std::string_view rest = trim(arg.substr(keyword.size() + 1));
  if (rest.size() < 2 || rest.front() != '<' || rest.back() != '>') return std::nullopt;
  std::string_view addr = rest.substr(1, rest.size() - 2);
  for (char c : addr) {
    if (c == '<' || c == '>' || c == ' ' || static_cast<unsigned char>(c) < 0x20) return std::nullopt;
  }
  return std::string(addr);
}

Reply ok() { return {"250 2.0.0 OK\r\n"}; }

}  // namespace

void Session::reset_transaction() {
  message_ = Message{};
  if (state_ != State::kStart) state_ = State::kReady;
}

Reply Session::on_line(std::string_view line) {
  if (state_ == State::kData) {
    if (line == ".") {
      std::uint64_t seq = mailbox_->deliver(std::move(message_));
      message_ = Message{};
      state_ = State::kReady;
      return {"250 2.0.0 OK queued as " + std::to_string(seq) + "\r\n"};
    }
    if (!line.empty() && line.front() == '.') line.remove_prefix(1);  // dot-unstuffing
    message_.body.append(line).append("\r\n");
    return {};
  }
  std::string_view text = trim(line);
  std::size_t space = text.find(' ');
  std::string_view verb = text.substr(0, space);
  std::string_view arg = space == std::string_view::npos ? std::string_view() : trim(text.substr(space + 1));
  return command(verb, arg);
}

Reply Session::command(std::string_view verb, std::string_view arg) {
  if (iequals(verb, "HELO") || iequals(verb, "EHLO")) {
    if (arg.empty()) return {"501 5.5.4 Syntax: " + std::string(verb) + " hostname\r\n"};
    reset_transaction();
    state_ = State::kReady;
    return {"250 stasis-mail\r\n"};
  }
  if (iequals(verb, "MAIL")) {
    if (state_ == State::kStart) return {"503 5.5.1 Bad sequence of commands: send HELO first\r\n"};
    if (state_ != State::kReady) return {"503 5.5.1 Bad sequence of commands: nested MAIL command\r\n"};
    std::optional<std::string> from = path_argument(arg, "FROM");
    if (!from) return {"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"};
    message_.from = std::move(*from);
    state_ = State::kMail;
    return ok();
  }
  if (iequals(verb, "RCPT")) {
    if (state_ != State::kMail && state_ != State::kRcpt) return {"503 5.5.1 Bad sequence of commands: need MAIL before RCPT\r\n"};
    std::optional<std::string> to = path_argument(arg, "TO");
    if (!to || to->empty()) return {"501 5.5.4 Syntax: RCPT TO:<address>\r\n"};
    message_.recipients.push_back(std::move(*to));
    state_ = State::kRcpt;
    return ok();
  }
  if (iequals(verb, "DATA")) {
    if (!arg.empty()) return {"501 5.5.4 Syntax: DATA\r\n"};
    if (state_ != State::kRcpt) return {"503 5.5.1 Bad sequence of commands: need RCPT before DATA\r\n"};
    state_ = State::kData;
    return {"354 End data with <CR><LF>.<CR><LF>\r\n"};
  }
  if (iequals(verb, "RSET")) {
    reset_transaction();
    return ok();
  }
  if (iequals(verb, "NOOP")) return ok();
  if (iequals(verb, "QUIT")) return {"221 2.0.0 stasis-mail closing\r\n", true};
  return {"500 5.5.2 Command not recognized\r\n"};
}

}  // namespace mailserver
