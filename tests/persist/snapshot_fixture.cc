// tests/persist/snapshot_fixture.cc — builds the fixture described in the header.
#include "snapshot_fixture.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace stasis::testing {
namespace {

using schema::Field;

void frame_type(schema::FrameType::Builder t, const char* name, std::uint32_t version, const char* cxx,
                std::initializer_list<std::pair<const char*, const char*>> fields) {
  t.setName(name);
  t.setVersion(version);
  t.setCxxName(cxx);
  auto list = t.initFields(static_cast<unsigned>(fields.size()));
  unsigned i = 0;
  for (auto [field, type] : fields) {
    list[i].setName(field);
    list[i].setType(type);
    ++i;
  }
}

void value(schema::Value::Builder v, std::uint32_t type, std::uint32_t bytes, const char* text) {
  v.setType(type);
  v.setArchiveBytes(bytes);
  v.setText(text);
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "stasis-test-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

std::unique_ptr<capnp::MallocMessageBuilder> make_fixture_message() {
  auto m = std::make_unique<capnp::MallocMessageBuilder>();
  auto s = m->initRoot<schema::Snapshot>();
  auto p = s.initProducer();
  p.setArch("x86_64");
  p.setPointerBits(64);
  p.setLittleEndian(true);
  p.setLongBits(64);
  p.setLibraryVersion("0.1.0");
  p.setCompiler("gcc 12.2.0");
  p.setBoostArchiveVersion(19);
  p.setHostname("testhost");
  p.setPid(4242);
  p.setProgram("fixture");
  s.setCreatedUnixNs(kFixtureCreatedNs);
  s.setScope(schema::Snapshot::Scope::SCHEDULER);
  s.initScheduler().setSteps(1234);
  s.getScheduler().setRngState(0x9e3779b97f4a7c15ull);
  s.setNote("checkpoint 12");

  auto ft = s.initFrameTypes(4);
  frame_type(ft[0], "demo.Main", 1, "demo::Main", {{"jobs", "channel<string>"}, {"count", "u64"}, {"extras", "std::vector<int>"}});
  frame_type(ft[1], "demo.Producer", 1, "demo::Producer", {{"out", "channel<i64>"}, {"i", "i64"}, {"label", "string"}});
  frame_type(ft[2], "demo.Consumer", 2, "demo::Consumer",
             {{"in", "channel<i64>"}, {"sum", "i64"}, {"ratio", "f64"}, {"done", "bool"}});
  frame_type(ft[3], "demo.Sleeper", 1, "demo::Sleeper", {{"ms", "u64"}});
  auto vt = s.initValueTypes(2);
  vt[0].setName("i64");
  vt[1].setName("string");

  auto ts = s.initTasklets(4);
  {  // [0] main: runnable, Main at resume point 1
    auto t = ts[0];
    t.setId(1);
    t.setName("main");
    t.setState(schema::Tasklet::State::RUNNABLE);
    t.setStarted(true);
    t.initWait().setNone();
    auto f = t.initFrames(1)[0];
    f.setType(0);
    f.setResumePoint(1);
    f.setArchiveBytes(24);
    auto fields = f.initFields(3);
    fields[0].setChannel(1);
    fields[1].setUint(3);
    fields[2].setOther("[1, 2, 3]");
  }
  {  // [1] producer: blocked sending on channels[0], value 3 in its slot
    auto t = ts[1];
    t.setId(2);
    t.setName("producer");
    t.setPriority(1);
    t.setState(schema::Tasklet::State::BLOCKED);
    t.setStarted(true);
    t.initWait().setSend(0);
    auto f = t.initFrames(1)[0];
    f.setType(1);
    f.setResumePoint(1);
    f.setArchiveBytes(32);
    auto fields = f.initFields(3);
    fields[0].setChannel(0);
    fields[1].setInt(3);
    fields[2].setText("edge 3->4");
    t.setHasSlot(true);
    value(t.initSlot(), 0, 8, "3");
  }
  {  // [2] consumer: blocked receiving on channels[2], Consumer called by Main
    auto t = ts[2];
    t.setId(3);
    t.setName("consumer");
    t.setState(schema::Tasklet::State::BLOCKED);
    t.setStarted(true);
    t.initWait().setReceive(2);
    auto frames = t.initFrames(2);
    frames[0].setType(2);
    frames[0].setResumePoint(2);
    frames[0].setArchiveBytes(25);
    auto inner = frames[0].initFields(4);
    inner[0].setChannel(2);
    inner[1].setInt(42);
    inner[2].setFloat(0.5);
    inner[3].setBool(false);
    frames[1].setType(0);
    frames[1].setResumePoint(1);
    frames[1].setCatchesChild(true);
    frames[1].setArchiveBytes(24);
    auto outer = frames[1].initFields(3);
    outer[0].setNull();
    outer[1].setUint(1);
    outer[2].setOther("[]");
  }
  {  // [3] sleeper: blocked in sleep, 1.5 s left
    auto t = ts[3];
    t.setId(4);
    t.setName("sleeper");
    t.setPriority(-2);
    t.setState(schema::Tasklet::State::BLOCKED);
    t.setStarted(true);
    t.initWait().setSleep(1'500'000'000);
    auto f = t.initFrames(1)[0];
    f.setType(3);
    f.setResumePoint(1);
    f.setArchiveBytes(8);
    f.initFields(1)[0].setUint(1500);
  }

  auto cs = s.initChannels(3);
  cs[0].setId(12);
  cs[0].setName("edge 3->4");
  cs[0].setValueType(0);
  cs[0].setPreference(-1);
  cs[0].setBalance(1);
  cs[0].initWaiters(1)[0].setTasklet(2);
  cs[0].getWaiters()[0].setSending(true);

  cs[1].setId(13);
  cs[1].setName("jobs");
  cs[1].setValueType(1);
  cs[1].setCapacity(4);
  cs[1].setClosing(true);
  auto buffer = cs[1].initBuffer(2);
  value(buffer[0], 1, 9, "\"first\"");
  value(buffer[1], 1, 10, "\"second\"");

  cs[2].setId(14);
  cs[2].setName("results");
  cs[2].setValueType(0);
  cs[2].setPreference(-1);
  cs[2].setBalance(-1);
  cs[2].initWaiters(1)[0].setTasklet(3);

  std::string archive(kFixtureArchiveBytes, '\0');
  for (std::size_t i = 0; i < archive.size(); ++i) archive[i] = static_cast<char>(i * 7 + 1);
  s.setArchive(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(archive.data()), archive.size()));
  return m;
}

schema::Snapshot::Reader fixture_root(capnp::MallocMessageBuilder& m) {
  return m.getRoot<schema::Snapshot>().asReader();
}

std::string encode(capnp::MallocMessageBuilder& m, persist::Compression compression) {
  persist::ContainerOptions options;
  options.compression = compression;
  return persist::encode_container(m, options);
}

const std::filesystem::path& temp_dir() {
  static TempDir dir;
  return dir.path;
}

std::string write_temp_file(const std::string& name, const std::string& bytes) {
  std::filesystem::path path = temp_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
  return path.string();
}

}  // namespace stasis::testing
