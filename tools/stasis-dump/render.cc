// tools/stasis-dump/render.cc — text forms of snapshot values (see render.h).
#include "render.h"

#include <charconv>
#include <cmath>
#include <ctime>

namespace stasis::dump {
namespace {

std::string escape(std::string_view text, char quote) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 2);
  for (unsigned char c : text) {
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c == static_cast<unsigned char>(quote) && quote != 0) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out += digits[c >> 4];
          out += digits[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

// Fixed-point with `decimals` digits, trailing zeros (and a bare point) removed.
std::string trimmed_fixed(double v, int decimals) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  std::string s(buf, ec == std::errc() ? end : buf);
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  return s;
}

}  // namespace

std::string quoted(std::string_view text) { return "\"" + escape(text, '"') + "\""; }
std::string single_quoted(std::string_view text) { return "'" + escape(text, '\'') + "'"; }
std::string escaped(std::string_view text) { return escape(text, 0); }

std::string duration_text(std::int64_t ns) {
  // The magnitude as unsigned: -INT64_MIN does not fit an int64.
  std::uint64_t n = ns < 0 ? ~static_cast<std::uint64_t>(ns) + 1 : static_cast<std::uint64_t>(ns);
  std::string sign = ns < 0 ? "-" : "";
  if (n >= 1'000'000'000) return sign + trimmed_fixed(static_cast<double>(n) / 1e9, 3) + " s";
  if (n >= 1'000'000) return sign + trimmed_fixed(static_cast<double>(n) / 1e6, 3) + " ms";
  if (n >= 1'000) return sign + trimmed_fixed(static_cast<double>(n) / 1e3, 3) + " us";
  return sign + std::to_string(n) + " ns";
}

std::string utc_time_text(std::int64_t unix_ns) {
  std::int64_t secs = unix_ns / 1'000'000'000, frac = unix_ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    --secs;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  char date[64];
  if (!gmtime_r(&t, &tm) || std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
    return std::to_string(unix_ns) + " ns since 1970";
  }
  char nanos[16];
  std::snprintf(nanos, sizeof nanos, ".%09lld", static_cast<long long>(frac));
  return std::string(date) + nanos + "Z";
}

std::string double_text(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

std::string hex_text(std::uint64_t v, int digits) {
  static const char hex[] = "0123456789abcdef";
  std::string s(static_cast<std::size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = hex[v & 15];
  return s;
}

std::string count_text(std::uint64_t n, std::string_view singular, std::string_view plural) {
  std::string word(n == 1 ? singular : (plural.empty() ? std::string(singular) + "s" : std::string(plural)));
  return std::to_string(n) + " " + word;
}

const char* state_text(schema::Tasklet::State state) {
  switch (state) {
    case schema::Tasklet::State::NEW: return "new";
    case schema::Tasklet::State::RUNNABLE: return "runnable";
    case schema::Tasklet::State::BLOCKED: return "blocked";
    case schema::Tasklet::State::PAUSED: return "paused";
  }
  return "unknown";
}

std::string tasklet_label(schema::Tasklet::Reader t) {
  std::string label = "tasklet " + std::to_string(t.getId());
  if (t.getName().size() > 0) label += " " + single_quoted(text_view(t.getName()));
  return label;
}

std::string tasklet_label_by_id(const Loaded& s, std::uint64_t id) {
  auto index = s.find_tasklet(id);
  return index ? tasklet_label(s.tasklets[*index]) : "tasklet " + std::to_string(id) + " (not in the snapshot)";
}

std::string channel_label(schema::Channel::Reader c) {
  std::string label = "channel #" + std::to_string(c.getId());
  if (c.getName().size() > 0) label += " " + single_quoted(text_view(c.getName()));
  return label;
}

std::string channel_label(const Loaded& s, std::uint32_t index) {
  if (index >= s.channel_labels.size()) return "channel <bad index " + std::to_string(index) + ">";
  return s.channel_labels[index];
}

std::string value_type_name(const Loaded& s, std::uint32_t index) {
  if (index >= s.value_names.size()) return "<bad value type " + std::to_string(index) + ">";
  return escaped(s.value_names[index]);
}

std::string frame_type_text(const Loaded& s, std::uint32_t index) {
  if (index >= s.types.size()) return "<bad frame type " + std::to_string(index) + ">";
  return escaped(s.types[index].name) + " v" + std::to_string(s.types[index].version);
}

std::string field_name(const Loaded& s, std::uint32_t type, std::uint32_t k) {
  if (type < s.types.size() && k < s.types[type].field_names.size()) return escaped(s.types[type].field_names[k]);
  return "#" + std::to_string(k);
}

std::string field_type(const Loaded& s, std::uint32_t type, std::uint32_t k) {
  if (type < s.types.size() && k < s.types[type].field_types.size()) return escaped(s.types[type].field_types[k]);
  return "?";
}

std::string field_text(const Loaded& s, const FieldValue& f) {
  switch (f.kind) {
    case FieldValue::kInt: return std::to_string(f.i);
    case FieldValue::kUint: return std::to_string(f.u);
    case FieldValue::kFloat: return double_text(f.f);
    case FieldValue::kBool: return f.b ? "true" : "false";
    case FieldValue::kText: return quoted(f.text);
    case FieldValue::kChannel: return channel_label(s, f.channel);
    case FieldValue::kNull: return "null";
    case FieldValue::kOther:
    case FieldValue::kUndecoded:
    case FieldValue::kUnknown: return escaped(f.text);
  }
  return "?";
}

std::string wait_text(const Loaded& s, schema::Tasklet::Reader t) {
  auto w = t.getWait();
  switch (w.which()) {
    case schema::Tasklet::Wait::NONE: return "-";
    case schema::Tasklet::Wait::SEND: return "send on " + channel_label(s, w.getSend());
    case schema::Tasklet::Wait::RECEIVE: return "receive on " + channel_label(s, w.getReceive());
    case schema::Tasklet::Wait::SLEEP: return "sleep " + duration_text(w.getSleep());
  }
  return "<unknown wait kind " + std::to_string(static_cast<unsigned>(w.which())) + ">";
}

std::string value_text(const Loaded& s, schema::Value::Reader v) {
  return value_type_name(s, v.getType()) + " " + escaped(text_view(v.getText()));
}

std::string tasklet_flags_text(schema::Tasklet::Reader t) {
  std::string out;
  auto add = [&](bool on, const char* word) {
    if (!on) return;
    if (!out.empty()) out += ", ";
    out += word;
  };
  add(t.getAtomic(), "atomic");
  add(t.getBlockTrap(), "block trap");
  add(t.getInterrupted(), "interrupted");
  return out.empty() ? "-" : out;
}

}  // namespace stasis::dump
