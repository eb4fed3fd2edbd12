// tools/stasis-dump/cmd_json.cc — `json`: the whole snapshot as JSON.
//
// Default form streams: one top-level member per line and one array element
// (tasklet, channel, type) per line, so huge files print in memory proportional to
// the largest single record and stay grep-able. --pretty builds one indented
// document. Key order follows the schema; invalid UTF-8 in texts becomes U+FFFD.
// A native tasklet's record is shown by sizes, never its raw bytes: addresses,
// stack/callable/arena sizes, relocations (by kind and one by one), the recorded
// frames and the word summary; "native" is null for soft tasklets.
#include <nlohmann/json.hpp>

#include "commands.h"
#include "fields.h"
#include "loaded.h"
#include "native.h"
#include "render.h"

namespace stasis::dump {
namespace {

using Json = nlohmann::ordered_json;

std::string dump(const Json& j, int indent = -1) { return j.dump(indent, ' ', false, Json::error_handler_t::replace); }

std::string str(capnp::Text::Reader t) { return std::string(text_view(t)); }

class JsonWriter {
 public:
  JsonWriter(std::ostream& out, bool pretty) : out_(out), pretty_(pretty) {
    if (!pretty_) out_ << "{";
  }
  void member(const char* key, Json value) {
    if (pretty_) {
      doc_[key] = std::move(value);
      return;
    }
    out_ << (first_ ? "\n" : ",\n") << dump(Json(key)) << ": " << dump(value);
    first_ = false;
  }
  // element(i) returns the i-th element.
  template <typename Element>
  void array(const char* key, std::size_t n, Element&& element) {
    if (pretty_) {
      Json& a = doc_[key] = Json::array();
      for (std::size_t i = 0; i < n; ++i) a.push_back(element(i));
      return;
    }
    out_ << (first_ ? "\n" : ",\n") << dump(Json(key)) << ": [";
    for (std::size_t i = 0; i < n; ++i) out_ << (i ? ",\n" : "\n") << dump(element(i));
    out_ << (n ? "\n]" : "]");
    first_ = false;
  }
  void finish() {
    if (pretty_) out_ << dump(doc_, 2) << '\n';
    else out_ << "\n}\n";
  }

 private:
  std::ostream& out_;
  bool pretty_;
  bool first_ = true;
  Json doc_ = Json::object();
};

std::string base64(kj::ArrayPtr<const capnp::byte> data) {
  static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    std::uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i < data.size()) {
    std::uint32_t v = data[i] << 16;
    if (i + 1 < data.size()) v |= data[i + 1] << 8;
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += i + 1 < data.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Json channel_ref(const Loaded& s, const char* kind_key, const char* kind, std::uint32_t index) {
  Json j = {{kind_key, kind}, {"channel", index}};
  if (index < s.channels.size()) j["channelId"] = s.channels[index].getId();
  return j;
}

Json wait_json(const Loaded& s, schema::Tasklet::Reader t) {
  auto w = t.getWait();
  switch (w.which()) {
    case schema::Tasklet::Wait::NONE: return {{"kind", "none"}};
    case schema::Tasklet::Wait::SEND: return channel_ref(s, "kind", "send", w.getSend());
    case schema::Tasklet::Wait::RECEIVE: return channel_ref(s, "kind", "receive", w.getReceive());
    case schema::Tasklet::Wait::SLEEP: return {{"kind", "sleep"}, {"ns", w.getSleep()}};
  }
  return {{"kind", "unknown"}, {"which", static_cast<unsigned>(w.which())}};
}

Json field_json(const Loaded& s, std::uint32_t type, std::uint32_t k, const FieldValue& f) {
  Json j = {{"name", k < (type < s.types.size() ? s.types[type].field_names.size() : 0)
                         ? Json(s.types[type].field_names[k])
                         : Json(nullptr)}};
  switch (f.kind) {
    case FieldValue::kInt: j["kind"] = "int"; j["value"] = f.i; break;
    case FieldValue::kUint: j["kind"] = "uint"; j["value"] = f.u; break;
    case FieldValue::kFloat: j["kind"] = "float"; j["value"] = f.f; break;
    case FieldValue::kBool: j["kind"] = "bool"; j["value"] = f.b; break;
    case FieldValue::kText: j["kind"] = "text"; j["value"] = f.text; break;
    case FieldValue::kChannel: {
      Json ref = channel_ref(s, "kind", "channel", f.channel);
      j["kind"] = "channel";
      j["value"] = ref["channel"];
      if (ref.contains("channelId")) j["channelId"] = ref["channelId"];
      break;
    }
    case FieldValue::kNull: j["kind"] = "null"; j["value"] = nullptr; break;
    case FieldValue::kOther: j["kind"] = "other"; j["value"] = f.text; break;
    case FieldValue::kUndecoded: j["kind"] = "undecoded"; j["value"] = f.text; break;
    case FieldValue::kUnknown: j["kind"] = "unknown"; j["value"] = nullptr; break;
  }
  return j;
}

Json value_json(const Loaded& s, schema::Value::Reader v) {
  std::uint32_t type = v.getType();
  return {{"type", type},
          {"typeName", type < s.value_names.size() ? Json(s.value_names[type]) : Json(nullptr)},
          {"archiveBytes", v.getArchiveBytes()},
          {"text", str(v.getText())}};
}

Json frame_json(const Loaded& s, std::uint32_t tasklet, std::uint32_t k, schema::Frame::Reader f) {
  std::uint32_t type = f.getType();
  bool known = type < s.types.size();
  Json j = {{"type", type},
            {"typeName", known ? Json(s.types[type].name) : Json(nullptr)},
            {"typeVersion", known ? Json(s.types[type].version) : Json(nullptr)},
            {"resumePoint", f.getResumePoint()},
            {"catchesChild", f.getCatchesChild()},
            {"archiveBytes", f.getArchiveBytes()}};
  Json fields = Json::array();
  std::vector<FieldValue> list = frame_fields(s, tasklet, k);
  for (std::uint32_t j = 0; j < list.size(); ++j) fields.push_back(field_json(s, type, j, list[j]));
  j["fields"] = std::move(fields);
  return j;
}

Json relocation_json(schema::Relocation::Reader r) {
  Json j = {{"at", r.getAt()}, {"offset", r.getOffset()}};
  auto target = r.getTarget();
  switch (target.which()) {
    case schema::Relocation::Target::TASKLET: j["target"] = {{"kind", "tasklet"}, {"tasklet", target.getTasklet()}}; break;
    case schema::Relocation::Target::FRAME: j["target"] = {{"kind", "frame"}, {"tasklet", target.getFrame()}}; break;
    case schema::Relocation::Target::CHANNEL: j["target"] = {{"kind", "channel"}, {"channel", target.getChannel()}}; break;
    case schema::Relocation::Target::SCHEDULER: j["target"] = {{"kind", "scheduler"}}; break;
    case schema::Relocation::Target::NATIVE_THREAD: j["target"] = {{"kind", "nativeThread"}}; break;
    case schema::Relocation::Target::THREAD_POINTER: j["target"] = {{"kind", "threadPointer"}}; break;
    case schema::Relocation::Target::EXTERNAL:
      j["target"] = {{"kind", "external"}, {"name", str(target.getExternal())}};
      break;
    default: j["target"] = {{"kind", "unknown"}, {"which", static_cast<unsigned>(target.which())}}; break;
  }
  return j;
}

Json native_json(schema::NativeTasklet::Reader n, capnp::List<schema::Symbol>::Reader symbols) {
  Json runs = Json::array();
  for (auto r : n.getArenaRuns()) runs.push_back({{"address", r.getAddress()}, {"mapped", r.getMapped()}, {"bytes", r.getBytes().size()}});
  static const char* const kinds[] = {"tasklet", "frame", "channel", "scheduler", "nativeThread", "external", "threadPointer", "unknown"};
  Json by_kind = Json::object();
  std::array<std::uint64_t, 8> counts = relocation_counts(n);
  for (std::size_t k = 0; k < counts.size(); ++k) {
    if (counts[k] != 0) by_kind[kinds[k]] = counts[k];
  }
  Json relocations = Json::array();
  for (auto r : n.getRelocations()) relocations.push_back(relocation_json(r));
  Json frames = Json::array();
  for (const NativeFrameInfo& f : recorded_frames(n, symbols)) {
    frames.push_back({{"pc", f.pc}, {"sp", f.sp}, {"function", f.function}, {"file", f.file}, {"line", f.line}, {"module", f.module}});
  }
  auto w = n.getSummary();
  return {{"started", n.getStarted()},
          {"context", n.getContext()},
          {"regionLow", n.getRegionLow()},
          {"regionHigh", n.getRegionHigh()},
          {"stackBytes", n.getStack().size()},
          {"frameAddress", n.getFrameAddress()},
          {"frameSize", n.getFrameSize()},
          {"callableAddress", n.getCallableAddress()},
          {"callableBytes", n.getCallable().size()},
          {"callableOps", n.getCallableOps()},
          {"share", n.getShare()},
          {"arenaRuns", std::move(runs)},
          {"arenaBytes", arena_bytes(n)},
          {"relocationsByKind", std::move(by_kind)},
          {"relocations", std::move(relocations)},
          {"frames", std::move(frames)},
          {"summary", {{"words", w.getWords()},
                       {"ownStack", w.getOwnStack()},
                       {"arena", w.getArena()},
                       {"module", w.getModule()},
                       {"relocated", w.getRelocated()},
                       {"plain", w.getPlain()},
                       {"deadStack", w.getDeadStack()}}}};
}

Json module_json(schema::Module::Reader m) {
  return {{"path", str(m.getPath())},
          {"buildId", str(m.getBuildId())},
          {"base", m.getBase()},
          {"mainProgram", m.getMainProgram()},
          {"referenced", m.getReferenced()}};
}

Json tasklet_json(const Loaded& s, std::uint32_t index) {
  auto t = s.tasklets[index];
  Json j = {{"id", t.getId()},
            {"name", str(t.getName())},
            {"priority", t.getPriority()},
            {"state", state_text(t.getState())},
            {"atomic", t.getAtomic()},
            {"blockTrap", t.getBlockTrap()},
            {"started", t.getStarted()},
            {"interrupted", t.getInterrupted()},
            {"wait", wait_json(s, t)}};
  Json frames = Json::array();
  auto list = t.getFrames();
  for (std::uint32_t k = 0; k < list.size(); ++k) frames.push_back(frame_json(s, index, k, list[k]));
  j["frames"] = std::move(frames);
  j["slot"] = t.getHasSlot() ? value_json(s, t.getSlot()) : Json(nullptr);
  j["native"] = t.hasNative() ? native_json(t.getNative(), s.root.getSymbols()) : Json(nullptr);
  return j;
}

Json channel_json(const Loaded& s, schema::Channel::Reader c) {
  std::uint32_t type = c.getValueType();
  Json j = {{"id", c.getId()},
            {"name", str(c.getName())},
            {"valueType", type},
            {"valueTypeName", type < s.value_names.size() ? Json(s.value_names[type]) : Json(nullptr)},
            {"capacity", c.getCapacity()},
            {"preference", c.getPreference()},
            {"scheduleAll", c.getScheduleAll()},
            {"closing", c.getClosing()},
            {"balance", c.getBalance()}};
  Json waiters = Json::array();
  for (auto w : c.getWaiters()) waiters.push_back({{"tasklet", w.getTasklet()}, {"sending", w.getSending()}});
  j["waiters"] = std::move(waiters);
  Json buffer = Json::array();
  for (auto v : c.getBuffer()) buffer.push_back(value_json(s, v));
  j["buffer"] = std::move(buffer);
  return j;
}

Json frame_type_json(schema::FrameType::Reader t) {
  Json fields = Json::array();
  for (auto f : t.getFields()) fields.push_back({{"name", str(f.getName())}, {"type", str(f.getType())}});
  return {{"name", str(t.getName())}, {"version", t.getVersion()}, {"cxxName", str(t.getCxxName())}, {"fields", fields}};
}

}  // namespace

int run_json(const JsonOptions& o, std::ostream& out) {
  Loaded s = load_snapshot(o.file, o.check);
  persist::with_capnp_errors(s.source(), [&] {
    const persist::ContainerInfo& c = s.view.info();
    auto p = s.root.getProducer();
    auto scope = s.root.getScope();
    JsonWriter w(out, o.pretty);
    w.member("container", {{"version", c.version},
                           {"headerBytes", c.header_bytes},
                           {"flags", c.flags},
                           {"compression", c.compressed ? "zstd" : "none"},
                           {"fileBytes", c.file_bytes},
                           {"payloadBytes", c.payload_bytes},
                           {"messageBytes", c.message_bytes},
                           {"checksum", hex_text(c.checksum)}});
    w.member("producer", {{"arch", str(p.getArch())},
                          {"pointerBits", p.getPointerBits()},
                          {"littleEndian", p.getLittleEndian()},
                          {"longBits", p.getLongBits()},
                          {"libraryVersion", str(p.getLibraryVersion())},
                          {"compiler", str(p.getCompiler())},
                          {"boostArchiveVersion", p.getBoostArchiveVersion()},
                          {"hostname", str(p.getHostname())},
                          {"pid", p.getPid()},
                          {"program", str(p.getProgram())}});
    w.member("createdUnixNs", s.root.getCreatedUnixNs());
    w.member("created", utc_time_text(s.root.getCreatedUnixNs()));
    w.member("scope", scope == schema::Snapshot::Scope::SCHEDULER  ? "scheduler"
                      : scope == schema::Snapshot::Scope::TASKLETS ? "tasklets"
                                                                   : "unknown");
    auto sched = s.root.getScheduler();
    w.member("scheduler", {{"steps", sched.getSteps()}, {"rngState", sched.getRngState()}});
    w.member("note", str(s.root.getNote()));
    w.array("frameTypes", s.frame_types.size(), [&](std::size_t i) { return frame_type_json(s.frame_types[i]); });
    w.array("valueTypes", s.value_types.size(),
            [&](std::size_t i) { return Json{{"name", s.value_names[i]}}; });
    w.array("tasklets", s.tasklets.size(), [&](std::size_t i) { return tasklet_json(s, static_cast<std::uint32_t>(i)); });
    w.array("channels", s.channels.size(), [&](std::size_t i) { return channel_json(s, s.channels[i]); });
    w.array("modules", s.modules.size(), [&](std::size_t i) { return module_json(s.modules[i]); });
    auto archive = s.root.getArchive();
    Json a = {{"size", archive.size()}};
    if (o.archive_base64) a["base64"] = base64(archive);
    w.member("archive", a);
    w.finish();
  });
  return kExitOk;
}

}  // namespace stasis::dump
