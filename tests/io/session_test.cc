// session_test.cc — the mail server's protocol state machine, without sockets.
#include <gtest/gtest.h>

#include <string>

#include "mailbox.h"
#include "session.h"

namespace {

using mailserver::Mailbox;
using mailserver::Session;

std::string code(const mailserver::Reply& r) { return r.text.substr(0, 3); }

TEST(MailSession, FullTransactionWithDotUnstuffing) {
  Mailbox box;
  Session s(&box);
  EXPECT_EQ(code(s.on_line("EHLO client.example")), "250");
  EXPECT_EQ(code(s.on_line("mail from:<a@x>")), "250");
  EXPECT_EQ(code(s.on_line("RCPT TO:<b@y>")), "250");
  EXPECT_EQ(code(s.on_line("RCPT TO: <c@y>")), "250");
  EXPECT_EQ(code(s.on_line("DATA")), "354");
  EXPECT_TRUE(s.on_line("Subject: hi").text.empty());
  EXPECT_TRUE(s.on_line("..leading dot").text.empty());
  EXPECT_TRUE(s.on_line("").text.empty());
  EXPECT_EQ(code(s.on_line(".")), "250");
  ASSERT_EQ(box.counts().messages, 1u);
  EXPECT_EQ(box.counts().recipients, 2u);
  const auto& m = box.recent().back();
  EXPECT_EQ(m.from, "a@x");
  EXPECT_EQ(m.recipients, (std::vector<std::string>{"b@y", "c@y"}));
  EXPECT_EQ(m.body, "Subject: hi\r\n.leading dot\r\n\r\n");
  EXPECT_EQ(box.counts().bytes, m.body.size());
  // A second transaction on the same connection.
  EXPECT_EQ(code(s.on_line("MAIL FROM:<>")), "250");
  EXPECT_EQ(code(s.on_line("RCPT TO:<d@y>")), "250");
  EXPECT_EQ(code(s.on_line("DATA")), "354");
  EXPECT_EQ(code(s.on_line(".")), "250");
  EXPECT_EQ(box.counts().messages, 2u);
  auto quit = s.on_line("QUIT");
  EXPECT_EQ(code(quit), "221");
  EXPECT_TRUE(quit.close);
}

TEST(MailSession, OutOfOrderAndBadCommands) {
  Mailbox box;
  Session s(&box);
  EXPECT_EQ(code(s.on_line("MAIL FROM:<a@x>")), "503");  // before HELO
  EXPECT_EQ(code(s.on_line("HELO")), "501");             // no host
  EXPECT_EQ(code(s.on_line("HELO h")), "250");
  EXPECT_EQ(code(s.on_line("RCPT TO:<b@y>")), "503");    // before MAIL
  EXPECT_EQ(code(s.on_line("DATA")), "503");             // before RCPT
  EXPECT_EQ(code(s.on_line("MAIL FROM:a@x")), "501");    // no brackets
  EXPECT_EQ(code(s.on_line("MAIL FROM:<a@x>")), "250");
  EXPECT_EQ(code(s.on_line("MAIL FROM:<a@x>")), "503");  // nested
  EXPECT_EQ(code(s.on_line("DATA")), "503");             // no RCPT yet
  EXPECT_EQ(code(s.on_line("RCPT TO:<>")), "501");
  EXPECT_EQ(code(s.on_line("RCPT TO:<b@y>")), "250");
  EXPECT_EQ(code(s.on_line("RSET")), "250");
  EXPECT_EQ(code(s.on_line("DATA")), "503");             // RSET dropped the transaction
  EXPECT_EQ(code(s.on_line("NOOP")), "250");
  EXPECT_EQ(code(s.on_line("\x01\xff garbage")), "500");
  EXPECT_EQ(code(s.on_line("")), "500");
  EXPECT_EQ(box.counts().messages, 0u);
}

TEST(MailSession, MailboxKeepsABoundedWindowButCountsAll) {
  Mailbox box(2);
  for (int i = 0; i < 5; ++i) box.deliver({.from = "f", .recipients = {"r"}, .body = std::to_string(i)});
  EXPECT_EQ(box.counts().messages, 5u);
  ASSERT_EQ(box.recent().size(), 2u);
  EXPECT_EQ(box.recent().front().body, "3");
}

}  // namespace
