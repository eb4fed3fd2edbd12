// tools/stasis-dump/cmd_info.cc — `info`: container header, tasklet layout (list or
// format 3's table), producer and counts.
// Does not validate: it shows what the file holds even when it breaks invariants.
// Native snapshots add a "native" line (count, stack and arena bytes) and a
// "modules" line (count; --modules lists the table, one module per line).
#include <array>

#include "commands.h"
#include "loaded.h"
#include "native.h"
#include "render.h"
#include "stasis/persist/tasklet_table.h"

namespace stasis::dump {
namespace {

void line(std::ostream& out, std::string_view key, const std::string& value) {
  out << key << std::string(key.size() < 17 ? 17 - key.size() : 1, ' ') << value << '\n';
}

std::string percent_text(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return "-";
  double pct = 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", pct);
  return buf;
}

// "2.27:1": message bytes per payload byte.
std::string ratio_text(std::uint64_t message, std::uint64_t payload) {
  if (payload == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f:1", static_cast<double>(message) / static_cast<double>(payload));
  return buf;
}

}  // namespace

int run_info(const InfoOptions& o, std::ostream& out) {
  Loaded s = load_snapshot(o.file, /*check=*/false);
  const persist::ContainerInfo& c = s.view.info();
  persist::with_capnp_errors(s.source(), [&] {
    line(out, "file", escaped(o.file));
    line(out, "format", "version " + std::to_string(c.version) + ", header " + count_text(c.header_bytes, "byte") +
                            ", flags 0x" + hex_text(c.flags, 8));
    line(out, "tasklet layout", persist::has_tasklet_table(s.view.root()) ? "table (format 3)" : "list (format 2)");
    line(out, "compression", c.compressed ? "zstd, payload " + percent_text(c.payload_bytes, c.message_bytes) +
                                                " of the message (ratio " + ratio_text(c.message_bytes, c.payload_bytes) + ")"
                                          : std::string("none"));
    line(out, "sizes", "file " + std::to_string(c.file_bytes) + ", payload " + std::to_string(c.payload_bytes) +
                           ", message " + std::to_string(c.message_bytes) + " bytes");
    line(out, "checksum", "xxh3-64 " + hex_text(c.checksum));

    auto p = s.root.getProducer();
    std::string program = p.getProgram().size() ? escaped(text_view(p.getProgram())) : "?";
    line(out, "producer", program + " (pid " + std::to_string(p.getPid()) + ") on " +
                              (p.getHostname().size() ? escaped(text_view(p.getHostname())) : "?"));
    line(out, "platform", (p.getArch().size() ? escaped(text_view(p.getArch())) : "?") + ", " +
                              (p.getLittleEndian() ? "little" : "big") + "-endian, " +
                              std::to_string(p.getPointerBits()) + "-bit pointers, " +
                              std::to_string(p.getLongBits()) + "-bit long");
    line(out, "built with", "stasis " + escaped(text_view(p.getLibraryVersion())) + ", " + escaped(text_view(p.getCompiler())) +
                                ", boost archive " + std::to_string(p.getBoostArchiveVersion()));
    line(out, "created", utc_time_text(s.root.getCreatedUnixNs()));
    bool whole_scheduler = s.root.getScope() == schema::Snapshot::Scope::SCHEDULER;
    line(out, "scope", whole_scheduler ? "scheduler (steps " + std::to_string(s.root.getScheduler().getSteps()) + ")"
                                       : std::string("tasklets (a chosen set)"));
    line(out, "frame types", std::to_string(s.frame_types.size()));
    line(out, "value types", std::to_string(s.value_types.size()));

    std::array<std::uint64_t, 5> by_state{};  // new, runnable, blocked, paused, unknown
    std::uint64_t frames = 0, native_frames = 0, buffered = 0;
    for (auto t : s.tasklets) {
      auto st = static_cast<std::size_t>(t.getState());
      ++by_state[st < 4 ? st : 4];
      frames += t.getFrames().size();
      if (t.hasNative()) native_frames += t.getNative().getFrames().size();
    }
    for (auto ch : s.channels) buffered += ch.getBuffer().size();
    std::string states;
    static const char* names[] = {"new", "runnable", "blocked", "paused", "unknown"};
    for (std::size_t i = 0; i < by_state.size(); ++i) {
      if (by_state[i] == 0) continue;
      states += (states.empty() ? "" : ", ") + std::to_string(by_state[i]) + " " + names[i];
    }
    line(out, "tasklets", std::to_string(s.tasklets.size()) + (states.empty() ? "" : " (" + states + ")"));
    line(out, "frames", std::to_string(frames) +
                            (s.native_tasklets ? " soft, " + std::to_string(native_frames) + " native (walked)" : ""));
    line(out, "channels", std::to_string(s.channels.size()));
    line(out, "buffered values", std::to_string(buffered));
    line(out, "archive", count_text(s.root.getArchive().size(), "byte"));
    line(out, "note", s.root.getNote().size() ? quoted(text_view(s.root.getNote())) : "-");
    if (s.native_tasklets == 0 && s.modules.size() == 0) return;

    std::uint64_t stack = 0, arena = 0, runs = 0;
    for (auto t : s.tasklets) {
      if (!t.hasNative()) continue;
      auto n = t.getNative();
      stack += n.getStack().size();  // sizes within one bounded message: no overflow
      arena += arena_bytes(n);
      runs += n.getArenaRuns().size();
    }
    line(out, "native tasklets", std::to_string(s.native_tasklets) + " (stack " + count_text(stack, "byte") + ", arena " +
                                     count_text(arena, "byte") + " in " + count_text(runs, "run") + ")");
    std::uint64_t referenced = 0;
    for (auto m : s.modules) referenced += m.getReferenced() ? 1 : 0;
    line(out, "modules", std::to_string(s.modules.size()) + " (" + std::to_string(referenced) + " referenced" +
                             (o.modules || s.modules.size() == 0 ? ")" : "; --modules lists them)"));
    if (o.modules) {
      for (auto m : s.modules) out << "  " << module_text(m) << '\n';
    }
  });
  return kExitOk;
}

}  // namespace stasis::dump
