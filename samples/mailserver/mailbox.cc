// mailbox.cc — delivery into the bounded in-memory mailbox.
#include "mailbox.h"

#include <utility>

namespace mailserver {

std::uint64_t Mailbox::deliver(Message m) {
  ++counts_.messages;
  counts_.recipients += m.recipients.size();
  counts_.bytes += m.body.size();
  if (keep_ > 0) {
    if (recent_.size() == keep_) recent_.pop_front();
    recent_.push_back(std::move(m));
  }
  return counts_.messages;
}

}  // namespace mailserver
