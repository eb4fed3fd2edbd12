// tools/stasis-dump/cmd_dot.cc — `dot`: the wait-for graph in Graphviz DOT.
//
// Nodes: tasklets (boxes, coloured by state: t<id>) and channels (ellipses: c<id>).
// Solid edges: a blocked tasklet -> the channel it waits on, labelled send/receive.
// Dashed edges (--fields): a tasklet -> a channel one of its frames' fields holds,
// labelled with the field name (one edge per tasklet, channel and field name).
// With --limit N only the first N tasklets are drawn, and only the channels their
// edges reach; without it every channel is drawn.
#include <set>
#include <tuple>
#include <vector>

#include "commands.h"
#include "fields.h"
#include "loaded.h"
#include "render.h"

namespace stasis::dump {
namespace {

// Text escaped for the inside of a DOT string literal (control bytes become spaces).
std::string dot_escaped(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
  }
  return out;
}

std::string dot_string(std::string_view text) { return "\"" + dot_escaped(text) + "\""; }

// A multi-line label: the lines joined by DOT's \n.
std::string label(const std::vector<std::string>& lines) {
  std::string out = "\"";
  for (std::size_t i = 0; i < lines.size(); ++i) out += (i ? "\\n" : "") + dot_escaped(lines[i]);
  return out + "\"";
}

const char* state_color(schema::Tasklet::State s) {
  switch (s) {
    case schema::Tasklet::State::NEW: return "#cfe2f3";
    case schema::Tasklet::State::RUNNABLE: return "#d9ead3";
    case schema::Tasklet::State::BLOCKED: return "#f4cccc";
    case schema::Tasklet::State::PAUSED: return "#fff2cc";
  }
  return "#eeeeee";
}

}  // namespace

int run_dot(const DotOptions& o, std::ostream& out) {
  Loaded s = load_snapshot(o.file, o.check);
  persist::with_capnp_errors(s.source(), [&] {
    std::size_t shown = o.limit == 0 ? s.tasklets.size() : std::min<std::size_t>(o.limit, s.tasklets.size());
    std::vector<std::string> edges;
    std::vector<bool> channel_used(s.channels.size(), o.limit == 0);
    auto channel_node = [&](std::uint32_t index) {
      if (index >= s.channels.size()) return std::string();
      channel_used[index] = true;
      return "c" + std::to_string(s.channels[index].getId());
    };

    out << "// wait-for graph of " << escaped(s.source()) << ": tasklets (boxes) wait on channels (ellipses)\n";
    out << "digraph stasis_waits {\n";
    out << "  rankdir=LR;\n";
    out << "  node [fontname=\"Helvetica\", fontsize=10];\n";
    out << "  edge [fontname=\"Helvetica\", fontsize=9];\n";
    for (std::uint32_t i = 0; i < shown; ++i) {
      auto t = s.tasklets[i];
      std::string node = "t" + std::to_string(t.getId());
      std::vector<std::string> lines = {"tasklet " + std::to_string(t.getId())};
      if (t.getName().size()) lines.emplace_back(text_view(t.getName()));
      std::string state = state_text(t.getState());
      auto w = t.getWait();
      if (w.isSleep()) state += ": sleep " + duration_text(w.getSleep());
      lines.push_back(state);
      out << "  " << node << " [shape=box, style=filled, fillcolor=\"" << state_color(t.getState())
          << "\", label=" << label(lines) << "];\n";
      if (w.isSend() || w.isReceive()) {
        std::string target = channel_node(w.isSend() ? w.getSend() : w.getReceive());
        if (!target.empty()) edges.push_back(node + " -> " + target + " [label=\"" + (w.isSend() ? "send" : "receive") + "\"];");
      }
      if (!o.fields) continue;
      std::set<std::tuple<std::uint32_t, std::string>> seen;
      auto frames = t.getFrames();
      for (std::uint32_t fi = 0; fi < frames.size(); ++fi) {
        auto f = frames[fi];
        std::vector<FieldValue> fields = frame_fields(s, i, fi);
        for (std::uint32_t k = 0; k < fields.size(); ++k) {
          if (fields[k].kind != FieldValue::kChannel) continue;
          std::uint32_t index = fields[k].channel;
          std::string name = field_name(s, f.getType(), k);
          if (!seen.emplace(index, name).second) continue;
          std::string target = channel_node(index);
          if (!target.empty()) edges.push_back(node + " -> " + target + " [style=dashed, label=" + dot_string(name) + "];");
        }
      }
    }
    for (std::uint32_t c = 0; c < s.channels.size(); ++c) {
      if (!channel_used[c]) continue;
      auto ch = s.channels[c];
      std::vector<std::string> lines = {"channel #" + std::to_string(ch.getId())};
      if (ch.getName().size()) lines.emplace_back(text_view(ch.getName()));
      std::string status = "balance " + std::to_string(ch.getBalance());
      if (ch.getBuffer().size()) status += ", " + count_text(ch.getBuffer().size(), "buffered value");
      if (ch.getClosing()) status += ", closing";
      lines.push_back(status);
      out << "  c" << ch.getId() << " [shape=ellipse, label=" << label(lines) << "];\n";
    }
    for (const std::string& e : edges) out << "  " << e << '\n';
    if (shown < s.tasklets.size()) {
      out << "  // " << (s.tasklets.size() - shown) << " more tasklets not drawn (--limit " << o.limit << ")\n";
    }
    out << "}\n";
  });
  return kExitOk;
}

}  // namespace stasis::dump
