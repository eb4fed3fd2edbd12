// tools/stasis-dump/fields.cc — frame field values for the dumper (see fields.h).
#include "fields.h"

#include <cstring>
#include <string_view>

#include "render.h"
#include "stasis/persist/field_io.h"

namespace stasis::dump {
namespace {

// Longest list rendered in full; longer ones end in ", ...] (N items)", as the
// writer's own renderings (persist::detail::value_text) do.
constexpr std::size_t kListItems = persist::detail::kTextRangeItems;

// Bounded reads from one frame's archive record.
class RecordReader {
 public:
  RecordReader(kj::ArrayPtr<const capnp::byte> bytes, bool little_endian, unsigned size_bytes)
      : p_(bytes.begin()), left_(bytes.size()), le_(little_endian), size_bytes_(size_bytes) {}

  std::size_t left() const noexcept { return left_; }

  bool uint(unsigned width, std::uint64_t* v) {
    if (left_ < width) return false;
    std::uint64_t x = 0;
    for (unsigned k = 0; k < width; ++k) {
      const unsigned shift = 8 * (le_ ? k : width - 1 - k);
      x |= std::uint64_t{p_[k]} << shift;
    }
    p_ += width;
    left_ -= width;
    *v = x;
    return true;
  }
  bool size(std::uint64_t* v) { return uint(size_bytes_, v); }
  bool bytes(std::uint64_t n, std::string* out) {
    if (n > left_) return false;
    out->assign(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n));
    p_ += n;
    left_ -= static_cast<std::size_t>(n);
    return true;
  }

 private:
  const capnp::byte* p_;
  std::size_t left_;
  bool le_;
  unsigned size_bytes_;
};

struct Scalar {
  enum Kind : std::uint8_t { kNone, kSigned, kUnsigned, kFloat, kBool } kind = kNone;
  unsigned width = 0;
};

Scalar scalar_of(std::string_view name) {
  static const struct {
    std::string_view name;
    Scalar scalar;
  } table[] = {{"bool", {Scalar::kBool, 1}},     {"i8", {Scalar::kSigned, 1}},    {"u8", {Scalar::kUnsigned, 1}},
               {"i16", {Scalar::kSigned, 2}},    {"u16", {Scalar::kUnsigned, 2}}, {"i32", {Scalar::kSigned, 4}},
               {"u32", {Scalar::kUnsigned, 4}},  {"i64", {Scalar::kSigned, 8}},   {"u64", {Scalar::kUnsigned, 8}},
               {"f32", {Scalar::kFloat, 4}},     {"f64", {Scalar::kFloat, 8}}};
  for (const auto& e : table) {
    if (e.name == name) return e.scalar;
  }
  return {};
}

std::int64_t sign_extend(std::uint64_t v, unsigned width) {
  if (width == 8) return static_cast<std::int64_t>(v);
  const unsigned bits = 8 * width;
  const std::uint64_t sign = std::uint64_t{1} << (bits - 1);
  return static_cast<std::int64_t>((v ^ sign) - sign);
}

double float_of(std::uint64_t v, unsigned width) {
  if (width == 4) {
    std::uint32_t bits = static_cast<std::uint32_t>(v);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }
  double d;
  std::memcpy(&d, &v, sizeof d);
  return d;
}

// One scalar element; false if the record ends or a bool byte is not 0 or 1.
bool read_scalar(RecordReader& r, Scalar sc, FieldValue* out) {
  std::uint64_t v = 0;
  if (!r.uint(sc.width, &v)) return false;
  switch (sc.kind) {
    case Scalar::kSigned: out->kind = FieldValue::kInt; out->i = sign_extend(v, sc.width); return true;
    case Scalar::kUnsigned: out->kind = FieldValue::kUint; out->u = v; return true;
    case Scalar::kFloat: out->kind = FieldValue::kFloat; out->f = float_of(v, sc.width); return true;
    case Scalar::kBool:
      if (v > 1) return false;
      out->kind = FieldValue::kBool;
      out->b = v == 1;
      return true;
    case Scalar::kNone: break;
  }
  return false;
}

// A list element as the writer renders it (std::to_string for numbers).
std::string element_text(const FieldValue& v) {
  switch (v.kind) {
    case FieldValue::kInt: return std::to_string(v.i);
    case FieldValue::kUint: return std::to_string(v.u);
    case FieldValue::kFloat: return std::to_string(v.f);
    case FieldValue::kBool: return v.b ? "true" : "false";
    default: return "?";
  }
}

std::string channel_ref_text(const Loaded& s, std::uint64_t index) {
  if (index == persist::kNullChannel) return "null";
  if (index >= s.channels.size()) return "<bad index " + std::to_string(index) + ">";
  return "#" + std::to_string(s.channels[static_cast<unsigned>(index)].getId());
}

bool starts_ends(std::string_view s, std::string_view head, std::string_view tail) {
  return s.size() >= head.size() + tail.size() && s.substr(0, head.size()) == head &&
         s.substr(s.size() - tail.size()) == tail;
}

// Appends `count` elements read by `item` as "[a, b, ...] (N items)"; false if the
// record ends first. Every element takes at least one byte (the caller bounded
// `count` by the bytes left), so the loop is linear in the record.
template <typename Item>
bool read_list(std::uint64_t count, Item&& item, std::string* text) {
  *text = "[";
  for (std::uint64_t k = 0; k < count; ++k) {
    std::string one;
    if (!item(&one)) return false;
    if (k < kListItems) {
      if (k) *text += ", ";
      *text += one;
    } else if (k == kListItems) {
      *text += ", ...";
    }
  }
  *text += "]";
  if (count > kListItems) *text += " (" + std::to_string(count) + " items)";
  return true;
}

enum class Decoded { kOk, kUnknownType, kBad };

Decoded decode_one(const Loaded& s, std::string_view type, RecordReader& r, FieldValue* out) {
  if (Scalar sc = scalar_of(type); sc.kind != Scalar::kNone) return read_scalar(r, sc, out) ? Decoded::kOk : Decoded::kBad;
  if (type == "string") {
    std::uint64_t n = 0;
    if (!r.size(&n) || !r.bytes(n, &out->text)) return Decoded::kBad;
    out->kind = FieldValue::kText;
    return Decoded::kOk;
  }
  auto channel_item = [&](std::string* text) {
    std::uint64_t index = 0;
    if (!r.uint(4, &index)) return false;
    *text = channel_ref_text(s, index);
    return true;
  };
  if (starts_ends(type, "channel<", ">")) {
    std::uint64_t index = 0;
    if (!r.uint(4, &index)) return Decoded::kBad;
    if (index == persist::kNullChannel) {
      out->kind = FieldValue::kNull;
    } else {
      out->kind = FieldValue::kChannel;
      out->channel = static_cast<std::uint32_t>(index);
    }
    return Decoded::kOk;
  }
  if (starts_ends(type, "vector<channel<", ">>")) {
    std::uint64_t n = 0;
    if (!r.size(&n) || n > r.left() / 4) return Decoded::kBad;
    if (!read_list(n, channel_item, &out->text)) return Decoded::kBad;
    out->kind = FieldValue::kOther;
    return Decoded::kOk;
  }
  if (starts_ends(type, "array<channel<", ">")) {
    // "array<channel<T>,N>": N follows the last comma.
    std::string_view inner = type.substr(0, type.size() - 1);
    std::size_t comma = inner.rfind(',');
    if (comma == std::string_view::npos || comma + 1 == inner.size() || inner.size() - comma > 20) {
      return Decoded::kUnknownType;
    }
    std::uint64_t n = 0;
    for (char c : inner.substr(comma + 1)) {
      if (c < '0' || c > '9') return Decoded::kUnknownType;
      n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (n > r.left() / 4) return Decoded::kBad;
    if (!read_list(n, channel_item, &out->text)) return Decoded::kBad;
    out->kind = FieldValue::kOther;
    return Decoded::kOk;
  }
  if (starts_ends(type, "vector<", ">")) {
    Scalar sc = scalar_of(type.substr(7, type.size() - 8));
    if (sc.kind == Scalar::kNone || sc.kind == Scalar::kBool) return Decoded::kUnknownType;
    std::uint64_t n = 0;
    if (!r.size(&n) || n > r.left() / sc.width) return Decoded::kBad;
    auto item = [&](std::string* text) {
      FieldValue v;
      if (!read_scalar(r, sc, &v)) return false;
      *text = element_text(v);
      return true;
    };
    if (!read_list(n, item, &out->text)) return Decoded::kBad;
    out->kind = FieldValue::kOther;
    return Decoded::kOk;
  }
  return Decoded::kUnknownType;
}

FieldValue undecoded(std::string_view type, std::string what) {
  FieldValue v;
  v.kind = FieldValue::kUndecoded;
  v.text = "<" + std::string(type) + ": " + what + ">";
  return v;
}

FieldValue from_record(schema::Field::Reader f) {
  FieldValue v;
  switch (f.which()) {
    case schema::Field::INT: v.kind = FieldValue::kInt; v.i = f.getInt(); break;
    case schema::Field::UINT: v.kind = FieldValue::kUint; v.u = f.getUint(); break;
    case schema::Field::FLOAT: v.kind = FieldValue::kFloat; v.f = f.getFloat(); break;
    case schema::Field::BOOL: v.kind = FieldValue::kBool; v.b = f.getBool(); break;
    case schema::Field::TEXT: v.kind = FieldValue::kText; v.text = text_view(f.getText()); break;
    case schema::Field::CHANNEL: v.kind = FieldValue::kChannel; v.channel = f.getChannel(); break;
    case schema::Field::NULL_: v.kind = FieldValue::kNull; break;
    case schema::Field::OTHER: v.kind = FieldValue::kOther; v.text = text_view(f.getOther()); break;
    default:
      v.kind = FieldValue::kUnknown;
      v.text = "<unknown field kind " + std::to_string(static_cast<unsigned>(f.which())) + ">";
      break;
  }
  return v;
}

}  // namespace

std::vector<FieldValue> decode_fields(const Loaded& s, const std::vector<std::string>& types,
                                      kj::ArrayPtr<const capnp::byte> record, bool little_endian,
                                      unsigned size_bytes) {
  std::vector<FieldValue> out;
  out.reserve(types.size());
  RecordReader r(record, little_endian, size_bytes);
  bool stopped = false;
  for (const std::string& type : types) {
    if (stopped) {
      out.push_back(undecoded(type, "not decoded"));
      continue;
    }
    const std::size_t left = r.left();
    FieldValue v;
    switch (decode_one(s, type, r, &v)) {
      case Decoded::kOk: out.push_back(std::move(v)); break;
      case Decoded::kUnknownType:
        out.push_back(undecoded(type, count_text(left, "byte")));
        stopped = true;
        break;
      case Decoded::kBad:
        out.push_back(undecoded(type, count_text(left, "byte") + " that do not decode as one"));
        stopped = true;
        break;
    }
  }
  return out;
}

std::vector<FieldValue> frame_fields(const Loaded& s, std::uint32_t tasklet, std::uint32_t frame) {
  auto f = s.tasklets[tasklet].getFrames()[frame];
  auto recorded = f.getFields();
  std::vector<FieldValue> out;
  if (recorded.size() > 0) {
    out.reserve(recorded.size());
    for (auto field : recorded) out.push_back(from_record(field));
    return out;
  }
  const std::uint32_t type = f.getType();
  if (type >= s.types.size()) return out;
  const std::vector<std::string>& types = s.types[type].field_types;
  if (types.empty()) return out;
  const std::uint64_t offset = s.frame_archive_offset(tasklet, frame);
  const std::uint64_t bytes = f.getArchiveBytes();
  auto archive = s.root.getArchive();
  if (!s.archive_readable()) {
    for (const std::string& t : types) out.push_back(undecoded(t, "not decoded: " + s.archive_unreadable_reason()));
    return out;
  }
  if (offset > archive.size() || bytes > archive.size() - offset) {
    for (const std::string& t : types) out.push_back(undecoded(t, "not decoded: the frame's archive bytes lie outside the archive"));
    return out;
  }
  return decode_fields(s, types, archive.slice(offset, offset + bytes), s.little_endian, s.size_bytes);
}

}  // namespace stasis::dump
