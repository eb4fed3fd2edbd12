// tools/stasis-dump/cmd_tasklets.cc — `tasklets` (a table) and `show` (one
// tasklet's frame chain with named fields; for a native tasklet, its record and
// stack walk, native.h).
//
// `tasklets` streams: it keeps only column widths between its two passes over the
// list, so a file with a million tasklets prints in constant memory. A snapshot
// with native tasklets gets a KIND column (soft | native); a native tasklet's depth
// is the number of frames of its recorded stack walk.
#include <algorithm>
#include <vector>

#include "commands.h"
#include "fields.h"
#include "loaded.h"
#include "native.h"
#include "render.h"

namespace stasis::dump {
namespace {

struct Row {
  std::string id, name, kind, state, priority, depth, wait;
};

Row make_row(const Loaded& s, schema::Tasklet::Reader t) {
  const bool native = t.hasNative();
  std::size_t depth = native ? t.getNative().getFrames().size() : t.getFrames().size();
  return {std::to_string(t.getId()),       t.getName().size() ? escaped(text_view(t.getName())) : "-",
          native ? "native" : "soft",      state_text(t.getState()),
          std::to_string(t.getPriority()), std::to_string(depth),
          wait_text(s, t)};
}

void pad(std::ostream& out, const std::string& text, std::size_t width) {
  out << text << std::string(width > text.size() ? width - text.size() : 0, ' ') << "  ";
}

// Names longer than this overflow their column instead of widening it.
constexpr std::size_t kMaxNameColumn = 32;

}  // namespace

int run_tasklets(const TaskletsOptions& o, std::ostream& out) {
  Loaded s = load_snapshot(o.file, o.check);
  persist::with_capnp_errors(s.source(), [&] {
    auto selected = [&](schema::Tasklet::Reader t) { return o.state.empty() || o.state == state_text(t.getState()); };
    Row header{"ID", "NAME", "KIND", "STATE", "PRI", "DEPTH", "WAITING ON"};
    const bool kinds = s.native_tasklets > 0;
    std::vector<std::size_t> width = {header.id.size(),    header.name.size(),     header.kind.size(),
                                      header.state.size(), header.priority.size(), header.depth.size()};
    std::size_t matching = 0, shown = 0;
    for (auto t : s.tasklets) {
      if (!selected(t)) continue;
      ++matching;
      if (o.limit != 0 && matching > o.limit) continue;
      Row r = make_row(s, t);
      width[0] = std::max(width[0], r.id.size());
      width[1] = std::max(width[1], std::min(r.name.size(), kMaxNameColumn));
      width[2] = std::max(width[2], r.kind.size());
      width[3] = std::max(width[3], r.state.size());
      width[4] = std::max(width[4], r.priority.size());
      width[5] = std::max(width[5], r.depth.size());
    }
    auto print = [&](const Row& r) {
      pad(out, r.id, width[0]);
      pad(out, r.name, width[1]);
      if (kinds) pad(out, r.kind, width[2]);
      pad(out, r.state, width[3]);
      pad(out, r.priority, width[4]);
      pad(out, r.depth, width[5]);
      out << r.wait << '\n';
    };
    print(header);
    for (auto t : s.tasklets) {
      if (o.limit != 0 && shown == o.limit) break;
      if (!selected(t)) continue;
      print(make_row(s, t));
      ++shown;
    }
    if (shown < matching) {
      out << "(" << shown << " of " << matching << " tasklets shown; --limit 0 shows all)\n";
    }
  });
  return kExitOk;
}

int run_show(const ShowOptions& o, std::ostream& out) {
  Loaded s = load_snapshot(o.file, o.check);
  auto index = s.find_tasklet(o.id);
  if (!index) {
    throw InvalidArgument(s.source() + ": no tasklet with id " + std::to_string(o.id) + " (`stasis-dump tasklets " +
                          s.source() + "` lists them)");
  }
  persist::with_capnp_errors(s.source(), [&] {
    auto t = s.tasklets[*index];
    auto frames = t.getFrames();
    auto field = [&](std::string_view key, const std::string& value) {
      out << "  " << key << std::string(13 - key.size(), ' ') << value << '\n';
    };
    out << tasklet_label(t) << '\n';
    if (t.hasNative()) field("kind", "native");
    field("state", std::string(state_text(t.getState())) + (t.getStarted() ? ", started" : ", not started"));
    field("priority", std::to_string(t.getPriority()));
    field("flags", tasklet_flags_text(t));
    field("waiting on", wait_text(s, t));
    if (t.getHasSlot()) {
      auto slot = t.getSlot();
      field("slot", value_text(s, slot) + " (" + count_text(slot.getArchiveBytes(), "archive byte") + ")");
    } else {
      field("slot", "-");
    }
    if (t.hasNative()) {
      print_native(s, t, o.resymbolize ? Rewalk::kAlways : Rewalk::kAuto, out);
      return;
    }
    field("frames", std::to_string(frames.size()) + ", innermost first");
    for (std::uint32_t k = 0; k < frames.size(); ++k) {
      auto f = frames[k];
      std::uint32_t type = f.getType();
      out << "\nframe " << k << ": " << frame_type_text(s, type) << ", resume point " << f.getResumePoint();
      if (f.getCatchesChild()) out << ", catches child";
      if (k + 1 == frames.size()) out << " (root)";
      out << '\n';
      std::vector<FieldValue> fields = frame_fields(s, *index, k);
      std::vector<std::string> names;
      std::size_t width = 0;
      for (std::uint32_t j = 0; j < fields.size(); ++j) {
        names.push_back(field_name(s, type, j));
        width = std::max(width, names.back().size());
      }
      for (std::uint32_t j = 0; j < fields.size(); ++j) {
        out << "  " << names[j] << std::string(width - names[j].size(), ' ') << " = " << field_text(s, fields[j]);
        if (o.types) out << "  [" << field_type(s, type, j) << "]";
        out << '\n';
      }
      if (fields.empty()) out << "  (no fields)\n";
    }
  });
  return kExitOk;
}

}  // namespace stasis::dump
