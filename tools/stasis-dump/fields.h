// tools/stasis-dump/fields.h — the field values of one frame, as the dumper shows
// them: from the frame record when it carries them (format 1 files, and frames
// whose fields the archive cannot describe by itself), otherwise decoded from the
// frame's archive bytes by the field types its frame type lists.
//
// The archive is untrusted input like the rest of the file: every count, length and
// offset is checked against the bytes of the frame's own record before it is used,
// nothing is allocated for a size the file merely claims, and a field that cannot be
// decoded is shown as "<TYPE: N bytes>" (the bytes left in the record from it on)
// instead of failing. Fields after it show "<TYPE: not decoded>".
#ifndef STASIS_TOOLS_DUMP_FIELDS_H_
#define STASIS_TOOLS_DUMP_FIELDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "loaded.h"

namespace stasis::dump {

struct FieldValue {
  // kInt ... kOther mirror schema::Field; kUndecoded: `text` says why.
  enum Kind : std::uint8_t { kInt, kUint, kFloat, kBool, kText, kChannel, kNull, kOther, kUndecoded, kUnknown };
  Kind kind = kUndecoded;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double f = 0;
  bool b = false;
  std::uint32_t channel = 0;
  std::string text;  // kText: the string; kOther, kUndecoded: the rendering
};

// The values of frame `frame` of tasklet `tasklet`, in its type's field order.
std::vector<FieldValue> frame_fields(const Loaded& s, std::uint32_t tasklet, std::uint32_t frame);

// Decodes `fields` (type names as FrameType.fields records them) from `record`,
// one frame's archive bytes written by a producer with the given byte order and
// size_t width (pointerBits / 8). Exposed for tests.
std::vector<FieldValue> decode_fields(const Loaded& s, const std::vector<std::string>& types,
                                      kj::ArrayPtr<const capnp::byte> record, bool little_endian,
                                      unsigned size_bytes);

}  // namespace stasis::dump

#endif  // STASIS_TOOLS_DUMP_FIELDS_H_
