// tools/stasis-dump/cmd_diff.cc — `diff A B`: what changed between two snapshots.
//
// Tasklets and channels are matched by id (ids are unique in a valid snapshot).
// Frame chains are aligned from the root (the outermost frame), because the outer
// activations are the ones two snapshots of one tasklet share; a frame is named by
// its index (innermost = 0) in A, or "frames[iA->iB]" when depths differ. Fields
// are matched by name. Native tasklets compare their records: kind, stack size (or
// contents), arena bytes, relocations, the word summary, and the recorded frames'
// functions, aligned from the root like soft frames ("native frames[i]").
// Output: one line per difference, in A's order, then what only B has. Exit 0
// same, 1 different (like diff(1)), 2 on errors.
#include <algorithm>
#include <unordered_map>
#include <vector>

#include "commands.h"
#include "fields.h"
#include "loaded.h"
#include "native.h"
#include "render.h"

namespace stasis::dump {
namespace {

class Differ {
 public:
  Differ(const Loaded& a, const Loaded& b, std::ostream& out, bool quiet) : a_(a), b_(b), out_(out), quiet_(quiet) {}

  std::size_t differences() const noexcept { return count_; }

  void run() {
    frame_types();
    for (std::uint32_t i = 0; i < a_.tasklets.size(); ++i) {
      auto ta = a_.tasklets[i];
      auto j = b_.find_tasklet(ta.getId());
      if (!j) report(tasklet_label(ta) + ": removed");
      else tasklet(i, *j);
    }
    for (auto tb : b_.tasklets) {
      if (!a_.find_tasklet(tb.getId())) {
        report(tasklet_label(tb) + ": added (" + state_text(tb.getState()) + ", " +
               (tb.hasNative() ? "native, " + count_text(tb.getNative().getFrames().size(), "frame")
                               : count_text(tb.getFrames().size(), "frame")) +
               ")");
      }
    }
    std::unordered_map<std::uint64_t, std::uint32_t> b_channels;
    for (std::uint32_t j = 0; j < b_.channels.size(); ++j) b_channels.emplace(b_.channels[j].getId(), j);
    std::unordered_map<std::uint64_t, std::uint32_t> a_channels;
    for (std::uint32_t i = 0; i < a_.channels.size(); ++i) {
      auto ca = a_.channels[i];
      a_channels.emplace(ca.getId(), i);
      auto j = b_channels.find(ca.getId());
      if (j == b_channels.end()) report(channel_label(ca) + ": removed");
      else channel(ca, b_.channels[j->second]);
    }
    for (auto cb : b_.channels) {
      if (!a_channels.count(cb.getId())) report(channel_label(cb) + ": added");
    }
  }

 private:
  void report(const std::string& line) {
    ++count_;
    if (!quiet_) out_ << line << '\n';
  }
  void changed(const std::string& prefix, std::string_view what, const std::string& before, const std::string& after) {
    if (before != after) report(prefix + ": " + std::string(what) + " " + before + " -> " + after);
  }

  void frame_types() {
    std::unordered_map<std::string, std::uint32_t> versions;
    for (const auto& t : a_.types) versions.emplace(t.name, t.version);
    for (const auto& t : b_.types) {
      auto it = versions.find(t.name);
      if (it != versions.end() && it->second != t.version) {
        report("frame type " + escaped(t.name) + ": version " + std::to_string(it->second) + " -> " +
               std::to_string(t.version));
      }
    }
  }

  static std::string yes_no(bool v) { return v ? "yes" : "no"; }
  static std::string slot_text(const Loaded& s, schema::Tasklet::Reader t) {
    return t.getHasSlot() ? value_text(s, t.getSlot()) : "-";
  }

  void tasklet(std::uint32_t i, std::uint32_t j) {
    auto ta = a_.tasklets[i], tb = b_.tasklets[j];
    std::string label = tasklet_label(ta);
    changed(label, "name", single_quoted(text_view(ta.getName())), single_quoted(text_view(tb.getName())));
    changed(label, "state", state_text(ta.getState()), state_text(tb.getState()));
    changed(label, "priority", std::to_string(ta.getPriority()), std::to_string(tb.getPriority()));
    changed(label, "started", yes_no(ta.getStarted()), yes_no(tb.getStarted()));
    changed(label, "flags", tasklet_flags_text(ta), tasklet_flags_text(tb));
    changed(label, "wait", wait_text(a_, ta), wait_text(b_, tb));
    changed(label, "slot", slot_text(a_, ta), slot_text(b_, tb));
    if (ta.hasNative() || tb.hasNative()) {
      native(label, ta, tb);
      return;
    }
    frames(label, i, j);
  }

  static std::string function_text(const NativeFrameInfo& f) {
    return f.function.empty() ? "??" : escaped(f.function);
  }

  void native(const std::string& label, schema::Tasklet::Reader ta, schema::Tasklet::Reader tb) {
    if (ta.hasNative() != tb.hasNative()) {
      report(label + ": kind " + (ta.hasNative() ? "native -> soft" : "soft -> native"));
      return;
    }
    auto na = ta.getNative(), nb = tb.getNative();
    auto sa = na.getStack(), sb = nb.getStack();
    if (sa.size() != sb.size()) {
      report(label + ": stack " + count_text(sa.size(), "byte") + " -> " + count_text(sb.size(), "byte"));
    } else if (sa != sb) {
      report(label + ": stack contents differ (" + count_text(sa.size(), "byte") + ")");
    }
    changed(label, "arena", count_text(arena_bytes(na), "byte"), count_text(arena_bytes(nb), "byte"));
    changed(label, "relocations", relocation_counts_text(na), relocation_counts_text(nb));
    changed(label, "summary", summary_text(na.getSummary()), summary_text(nb.getSummary()));
    std::vector<NativeFrameInfo> fa = recorded_frames(na, a_.root.getSymbols()),
                                 fb = recorded_frames(nb, b_.root.getSymbols());
    changed(label, "native frame depth", std::to_string(fa.size()), std::to_string(fb.size()));
    std::size_t common = std::min(fa.size(), fb.size());
    for (std::size_t k = 0; k < common; ++k) {
      std::size_t ia = fa.size() - 1 - k, ib = fb.size() - 1 - k;
      std::string name = ia == ib ? "native frames[" + std::to_string(ia) + "]"
                                  : "native frames[" + std::to_string(ia) + "->" + std::to_string(ib) + "]";
      changed(label + ": " + name, "function", function_text(fa[ia]), function_text(fb[ib]));
    }
    for (std::size_t ib = 0; ib + common < fb.size(); ++ib) {
      report(label + ": native frames[" + std::to_string(ib) + "] " + function_text(fb[ib]) + " added");
    }
    for (std::size_t ia = 0; ia + common < fa.size(); ++ia) {
      report(label + ": native frames[" + std::to_string(ia) + "] " + function_text(fa[ia]) + " removed");
    }
  }

  void frames(const std::string& label, std::uint32_t i, std::uint32_t j) {
    auto fa = a_.tasklets[i].getFrames(), fb = b_.tasklets[j].getFrames();
    changed(label, "frame depth", std::to_string(fa.size()), std::to_string(fb.size()));
    std::uint32_t common = std::min(fa.size(), fb.size());
    for (std::uint32_t k = 0; k < common; ++k) {
      std::uint32_t ia = fa.size() - 1 - k, ib = fb.size() - 1 - k;
      std::string name = ia == ib ? "frames[" + std::to_string(ia) + "]"
                                  : "frames[" + std::to_string(ia) + "->" + std::to_string(ib) + "]";
      frame(label + ": " + name, fa[ia], fb[ib], frame_fields(a_, i, ia), frame_fields(b_, j, ib));
    }
    for (std::uint32_t ib = 0; ib + common < fb.size(); ++ib) {
      report(label + ": frames[" + std::to_string(ib) + "] " + frame_type_text(b_, fb[ib].getType()) + " added");
    }
    for (std::uint32_t ia = 0; ia + common < fa.size(); ++ia) {
      report(label + ": frames[" + std::to_string(ia) + "] " + frame_type_text(a_, fa[ia].getType()) + " removed");
    }
  }

  static std::string type_name(const Loaded& s, std::uint32_t type) {
    return type < s.types.size() ? escaped(s.types[type].name) : frame_type_text(s, type);
  }

  void frame(const std::string& where, schema::Frame::Reader fa, schema::Frame::Reader fb,
             const std::vector<FieldValue>& fields_a, const std::vector<FieldValue>& fields_b) {
    std::uint32_t ta = fa.getType(), tb = fb.getType();
    std::string na = type_name(a_, ta), nb = type_name(b_, tb);
    if (na != nb) {
      report(where + ": type " + frame_type_text(a_, ta) + " -> " + frame_type_text(b_, tb));
      return;
    }
    std::string prefix = where + " " + na;
    changed(prefix, "resume point", std::to_string(fa.getResumePoint()), std::to_string(fb.getResumePoint()));
    changed(prefix, "catches child", yes_no(fa.getCatchesChild()), yes_no(fb.getCatchesChild()));
    std::unordered_map<std::string, std::uint32_t> index_a;
    for (std::uint32_t k = 0; k < fields_a.size(); ++k) index_a.emplace(field_name(a_, ta, k), k);
    std::vector<bool> matched(fields_a.size(), false);
    for (std::uint32_t k = 0; k < fields_b.size(); ++k) {
      std::string name = field_name(b_, tb, k);
      std::string after = field_text(b_, fields_b[k]);
      auto it = index_a.find(name);
      if (it == index_a.end()) {
        report(prefix + ": field " + name + " added = " + after);
        continue;
      }
      matched[it->second] = true;
      changed(prefix, "field " + name + ":", field_text(a_, fields_a[it->second]), after);
    }
    for (std::uint32_t k = 0; k < fields_a.size(); ++k) {
      if (!matched[k]) report(prefix + ": field " + field_name(a_, ta, k) + " removed (was " + field_text(a_, fields_a[k]) + ")");
    }
  }

  static std::string waiters_text(const Loaded& s, schema::Channel::Reader c) {
    std::string out = "[";
    for (auto w : c.getWaiters()) {
      out += (out.size() > 1 ? ", " : "") + tasklet_label_by_id(s, w.getTasklet()) + (w.getSending() ? " sends" : " receives");
    }
    return out + "]";
  }

  // Short buffers are shown in full; long ones by size.
  static std::string buffer_text(capnp::List<schema::Value>::Reader buffer, bool in_full) {
    if (!in_full) return count_text(buffer.size(), "value");
    std::string out = "[";
    for (auto v : buffer) out += (out.size() > 1 ? ", " : "") + escaped(text_view(v.getText()));
    return out + "]";
  }

  void channel(schema::Channel::Reader ca, schema::Channel::Reader cb) {
    std::string label = channel_label(ca);
    changed(label, "name", single_quoted(text_view(ca.getName())), single_quoted(text_view(cb.getName())));
    changed(label, "value type", value_type_name(a_, ca.getValueType()), value_type_name(b_, cb.getValueType()));
    changed(label, "capacity", std::to_string(ca.getCapacity()), std::to_string(cb.getCapacity()));
    changed(label, "preference", std::to_string(ca.getPreference()), std::to_string(cb.getPreference()));
    changed(label, "closing", yes_no(ca.getClosing()), yes_no(cb.getClosing()));
    changed(label, "schedule all", yes_no(ca.getScheduleAll()), yes_no(cb.getScheduleAll()));
    changed(label, "balance", std::to_string(ca.getBalance()), std::to_string(cb.getBalance()));
    changed(label, "waiters", waiters_text(a_, ca), waiters_text(b_, cb));
    auto ba = ca.getBuffer(), bb = cb.getBuffer();
    bool in_full = ba.size() <= 8 && bb.size() <= 8;
    std::string before = buffer_text(ba, true), after = buffer_text(bb, true);
    if (before != after) {
      report(label + ": buffer " + (in_full ? before : buffer_text(ba, false)) + " -> " +
             (in_full ? after : buffer_text(bb, false)));
    }
  }

  const Loaded& a_;
  const Loaded& b_;
  std::ostream& out_;
  bool quiet_;
  std::size_t count_ = 0;
};

}  // namespace

int run_diff(const DiffOptions& o, std::ostream& out) {
  Loaded a = load_snapshot(o.a, o.check);
  Loaded b = load_snapshot(o.b, o.check);
  Differ differ(a, b, out, o.quiet);
  persist::with_capnp_errors(a.source() + " / " + b.source(), [&] { differ.run(); });
  return differ.differences() == 0 ? kExitOk : kExitFinding;
}

}  // namespace stasis::dump
