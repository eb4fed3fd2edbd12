// tools/stasis-dump/cmd_channels.cc — `channels`: one block per channel with its
// settings, balance, waiters in queue order and buffered values oldest first.
#include "commands.h"
#include "loaded.h"
#include "render.h"

namespace stasis::dump {
namespace {

void field(std::ostream& out, std::string_view key, const std::string& value) {
  out << "  " << key << std::string(13 - key.size(), ' ') << value << '\n';
}

std::string preference_text(int p) {
  if (p < 0) return std::to_string(p) + " (prefer receiver)";
  if (p > 0) return std::to_string(p) + " (prefer sender)";
  return "0 (neither)";
}

std::string balance_text(std::int64_t b) {
  if (b > 0) return std::to_string(b) + " (" + count_text(static_cast<std::uint64_t>(b), "sender") + " waiting)";
  if (b < 0) return std::to_string(b) + " (" + count_text(~static_cast<std::uint64_t>(b) + 1, "receiver") + " waiting)";
  return "0";
}

}  // namespace

int run_channels(const ChannelsOptions& o, std::ostream& out) {
  Loaded s = load_snapshot(o.file, o.check);
  persist::with_capnp_errors(s.source(), [&] {
    std::uint32_t shown = 0;
    for (auto ch : s.channels) {
      if (o.limit != 0 && shown == o.limit) break;
      if (shown++ > 0) out << '\n';
      out << channel_label(ch) << '\n';
      field(out, "value type", value_type_name(s, ch.getValueType()));
      field(out, "capacity", ch.getCapacity() == 0 ? "0 (synchronous)" : std::to_string(ch.getCapacity()));
      field(out, "preference", preference_text(ch.getPreference()));
      std::string flags;
      if (ch.getClosing()) flags = "closing";
      if (ch.getScheduleAll()) flags += (flags.empty() ? "" : ", ") + std::string("schedule all");
      field(out, "flags", flags.empty() ? "-" : flags);
      field(out, "balance", balance_text(ch.getBalance()));
      auto waiters = ch.getWaiters();
      field(out, "waiters", waiters.size() == 0 ? "none" : std::to_string(waiters.size()) + ", in queue order");
      for (std::uint32_t k = 0; k < waiters.size(); ++k) {
        auto w = waiters[k];
        out << "    [" << k << "] " << tasklet_label_by_id(s, w.getTasklet()) << (w.getSending() ? " sends" : " receives")
            << '\n';
      }
      auto buffer = ch.getBuffer();
      field(out, "buffer", buffer.size() == 0 ? "empty" : std::to_string(buffer.size()) + ", oldest first");
      for (std::uint32_t k = 0; k < buffer.size(); ++k) {
        out << "    [" << k << "] " << escaped(text_view(buffer[k].getText())) << '\n';
      }
    }
    if (shown < s.channels.size()) {
      out << "\n(" << shown << " of " << s.channels.size() << " channels shown; --limit 0 shows all)\n";
    }
  });
  return kExitOk;
}

}  // namespace stasis::dump
