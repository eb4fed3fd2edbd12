// tools/stasis-dump/render.h — how the dumper writes snapshot values as text.
//
// Every function here is total: out-of-range indexes (possible only with --no-check)
// render as "<bad index N>" instead of failing, and names from the file are escaped
// (control bytes, quotes) so a hostile snapshot cannot inject terminal escapes or
// break the line-oriented output. Output never depends on the locale.
#ifndef STASIS_TOOLS_DUMP_RENDER_H_
#define STASIS_TOOLS_DUMP_RENDER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "fields.h"
#include "loaded.h"

namespace stasis::dump {

// "abc" with C/JSON escapes (\" \\ \n \t \xNN for other control bytes).
std::string quoted(std::string_view text);
// 'abc' with the same escapes (for names inside labels).
std::string single_quoted(std::string_view text);
// Text with control bytes escaped, no quotes.
std::string escaped(std::string_view text);
inline std::string_view text_view(capnp::Text::Reader t) { return {t.begin(), t.size()}; }

std::string duration_text(std::int64_t ns);    // "1.5 s", "250 ms", "12 us", "80 ns"
std::string utc_time_text(std::int64_t unix_ns);  // "2024-05-01T12:00:00.123456789Z"
std::string double_text(double v);             // shortest round-trip form
std::string hex_text(std::uint64_t v, int digits = 16);
std::string count_text(std::uint64_t n, std::string_view singular, std::string_view plural = {});
const char* state_text(schema::Tasklet::State state);

// "tasklet 2 'producer'" (no name part when the name is empty).
std::string tasklet_label(schema::Tasklet::Reader t);
// "tasklet 7" or the label of the snapshot's tasklet with that id.
std::string tasklet_label_by_id(const Loaded& s, std::uint64_t id);
// "channel #12 'edge 3->4'".
std::string channel_label(const Loaded& s, std::uint32_t index);
std::string channel_label(schema::Channel::Reader c);
std::string value_type_name(const Loaded& s, std::uint32_t index);
// "demo.Producer v1".
std::string frame_type_text(const Loaded& s, std::uint32_t index);
// The name of field `k` of frame type `type`, or "#k" if the type lists no such field.
std::string field_name(const Loaded& s, std::uint32_t type, std::uint32_t k);
std::string field_type(const Loaded& s, std::uint32_t type, std::uint32_t k);
// "42", "0.5", "true", "\"text\"", "channel #12 'edge'", "null", or the `other` text.
std::string field_text(const Loaded& s, const FieldValue& f);
// "send on channel #12 'edge 3->4'", "receive on ...", "sleep 1.5 s", "-".
std::string wait_text(const Loaded& s, schema::Tasklet::Reader t);
// "i64 3" for a value (type name, then its text).
std::string value_text(const Loaded& s, schema::Value::Reader v);
// "atomic, block trap, interrupted" or "-".
std::string tasklet_flags_text(schema::Tasklet::Reader t);

}  // namespace stasis::dump

#endif  // STASIS_TOOLS_DUMP_RENDER_H_
