// tests/tools/dump_test.cc — runs the real stasis-dump binary (path from the
// STASIS_DUMP_PATH compile definition) on fixture files and checks every
// subcommand's output, exit codes, and that errors are one clean line.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <functional>
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <capnp/serialize.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <vector>

#include "../support/subprocess.h"
#include "../persist/snapshot_fixture.h"
#include "stasis/persist/persistent_frame.h"
#include "stasis/persist/snapshot.h"
#include "stasis/stasis.h"

extern char** environ;

namespace stasis::testing {
namespace {

using schema::Snapshot;

struct Result {
  int code = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs stasis-dump with `args`; stdout and stderr are captured through files.
Result dump(const std::vector<std::string>& args) {
  static int run_counter = 0;
  std::string base = (temp_dir() / ("run" + std::to_string(run_counter++))).string();
  std::string out_path = base + ".out", err_path = base + ".err";
  // Through the cross-testing emulator, if any.
  std::vector<std::string> argv_strings = stasis::test_support::emulator_words(STASIS_DUMP_EMULATOR);
  argv_strings.push_back(STASIS_DUMP_PATH);
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  Result r;
  if (posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
    posix_spawn_file_actions_destroy(&actions);
    ADD_FAILURE() << "cannot run " << argv[0];
    return r;
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  waitpid(pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Errors: exactly one line on stderr, starting with the program name.
void expect_one_line_error(const Result& r, int code, const std::string& part) {
  EXPECT_EQ(r.code, code) << r.out << r.err;
  EXPECT_EQ(r.err.rfind("stasis-dump: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(contains(r.err, part)) << r.err;
}

class Dump : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto m = make_fixture_message();
    fixture_ = write_temp_file("fixture.snap", encode(*m));
    zstd_ = write_temp_file("fixture-zstd.snap", encode(*m, persist::Compression::kZstd));

    // B: the producer moved on (i 3 -> 4, resume point 2), the sleeper ended, a
    // tasklet 5 appeared, the jobs buffer lost its oldest value.
    auto b = make_fixture_message();
    auto s = b->getRoot<Snapshot>();
    auto producer = s.getTasklets()[1].getFrames()[0];
    producer.getFields()[1].setInt(4);
    producer.setResumePoint(2);
    s.getTasklets()[3].setId(5);
    s.getTasklets()[3].setName("late");
    auto jobs = s.getChannels()[1];
    auto old_buffer = jobs.getBuffer();
    std::string second = old_buffer[1].getText().cStr();
    auto buffer = jobs.initBuffer(1);
    buffer[0].setType(1);
    buffer[0].setArchiveBytes(19);
    buffer[0].setText(second);
    changed_ = write_temp_file("changed.snap", encode(*b));

    auto bad = make_fixture_message();
    bad->getRoot<Snapshot>().getTasklets()[1].getFrames()[0].setType(9);
    invalid_ = write_temp_file("invalid.snap", encode(*bad));

    std::string flipped = encode(*m);
    flipped[100] ^= 4;
    flipped_ = write_temp_file("flipped.snap", flipped);
    garbage_ = write_temp_file("garbage.bin", "this is not a snapshot at all\n");
  }

  static std::string fixture_, zstd_, changed_, invalid_, flipped_, garbage_;
};
std::string Dump::fixture_, Dump::zstd_, Dump::changed_, Dump::invalid_, Dump::flipped_, Dump::garbage_;

TEST_F(Dump, HelpForEverySubcommand) {
  for (const char* sub : {"info", "tasklets", "show", "channels", "json", "dot", "verify", "diff"}) {
    Result r = dump({sub, "--help"});
    EXPECT_EQ(r.code, 0) << sub << ": " << r.err;
    EXPECT_TRUE(contains(r.out, "Usage:")) << sub << ": " << r.out;
    EXPECT_TRUE(r.err.empty()) << r.err;
  }
  Result r = dump({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(contains(r.out, "verify"));
}

TEST_F(Dump, UsageErrorsAreOneLine) {
  expect_one_line_error(dump({}), 2, "A subcommand is required");
  expect_one_line_error(dump({"frobnicate", fixture_}), 2, "see stasis-dump --help");
  expect_one_line_error(dump({"show", fixture_}), 2, "ID is required");
  expect_one_line_error(dump({"tasklets", fixture_, "--state", "sleeping"}), 2, "sleeping");
}

TEST_F(Dump, Info) {
  for (const std::string& file : {fixture_, zstd_}) {
    Result r = dump({"info", file});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "format           version 2, header 48 bytes")) << r.out;
    EXPECT_TRUE(contains(r.out, "producer         fixture (pid 4242) on testhost")) << r.out;
    EXPECT_TRUE(contains(r.out, "platform         x86_64, little-endian, 64-bit pointers, 64-bit long")) << r.out;
    EXPECT_TRUE(contains(r.out, "created          2024-05-01T12:00:00.123456789Z")) << r.out;
    EXPECT_TRUE(contains(r.out, "scope            scheduler (steps 1234)")) << r.out;
    EXPECT_TRUE(contains(r.out, "frame types      4\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "value types      2\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "tasklets         4 (1 runnable, 3 blocked)\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "frames           5\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "channels         3\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "buffered values  2\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "archive          140 bytes\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "note             \"checkpoint 12\"\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "checksum         xxh3-64 ")) << r.out;
  }
  EXPECT_TRUE(contains(dump({"info", fixture_}).out, "compression      none\n"));
  EXPECT_TRUE(contains(dump({"info", zstd_}).out, "compression      zstd, payload "));
}

TEST_F(Dump, TaskletsTable) {
  Result r = dump({"tasklets", fixture_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "ID  NAME      STATE     PRI  DEPTH  WAITING ON\n"
            "1   main      runnable  0    1      -\n"
            "2   producer  blocked   1    1      send on channel #12 'edge 3->4'\n"
            "3   consumer  blocked   0    2      receive on channel #14 'results'\n"
            "4   sleeper   blocked   -2   1      sleep 1.5 s\n");
}

TEST_F(Dump, TaskletsFilterAndLimit) {
  Result r = dump({"tasklets", fixture_, "--state", "blocked", "--limit", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "ID  NAME      STATE    PRI  DEPTH  WAITING ON\n"
            "2   producer  blocked  1    1      send on channel #12 'edge 3->4'\n"
            "3   consumer  blocked  0    2      receive on channel #14 'results'\n"
            "(2 of 3 tasklets shown; --limit 0 shows all)\n");
  r = dump({"tasklets", fixture_, "--state", "new"});
  EXPECT_EQ(r.out, "ID  NAME  STATE  PRI  DEPTH  WAITING ON\n");
}

TEST_F(Dump, ShowFrameChainWithNamedFields) {
  Result r = dump({"show", zstd_, "3"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "tasklet 3 'consumer'\n"
            "  state        blocked, started\n"
            "  priority     0\n"
            "  flags        -\n"
            "  waiting on   receive on channel #14 'results'\n"
            "  slot         -\n"
            "  frames       2, innermost first\n"
            "\n"
            "frame 0: demo.Consumer v2, resume point 2\n"
            "  in    = channel #14 'results'\n"
            "  sum   = 42\n"
            "  ratio = 0.5\n"
            "  done  = false\n"
            "\n"
            "frame 1: demo.Main v1, resume point 1, catches child (root)\n"
            "  jobs   = null\n"
            "  count  = 1\n"
            "  extras = []\n");
  r = dump({"show", fixture_, "2", "--types"});
  EXPECT_TRUE(contains(r.out, "  slot         i64 3 (8 archive bytes)\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "  label = \"edge 3->4\"  [string]\n")) << r.out;
  expect_one_line_error(dump({"show", fixture_, "77"}), 2, "no tasklet with id 77");
}

TEST_F(Dump, Channels) {
  Result r = dump({"channels", fixture_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out,
                       "channel #12 'edge 3->4'\n"
                       "  value type   i64\n"
                       "  capacity     0 (synchronous)\n"
                       "  preference   -1 (prefer receiver)\n"
                       "  flags        -\n"
                       "  balance      1 (1 sender waiting)\n"
                       "  waiters      1, in queue order\n"
                       "    [0] tasklet 2 'producer' sends\n"
                       "  buffer       empty\n"))
      << r.out;
  EXPECT_TRUE(contains(r.out,
                       "channel #13 'jobs'\n"
                       "  value type   string\n"
                       "  capacity     4\n"
                       "  preference   0 (neither)\n"
                       "  flags        closing\n"
                       "  balance      0\n"
                       "  waiters      none\n"
                       "  buffer       2, oldest first\n"
                       "    [0] \"first\"\n"
                       "    [1] \"second\"\n"))
      << r.out;
  EXPECT_TRUE(contains(r.out,
                       "  balance      -1 (1 receiver waiting)\n"
                       "  waiters      1, in queue order\n"
                       "    [0] tasklet 3 'consumer' receives\n"))
      << r.out;
  r = dump({"channels", fixture_, "--limit", "1"});
  EXPECT_TRUE(contains(r.out, "(1 of 3 channels shown; --limit 0 shows all)")) << r.out;
}

TEST_F(Dump, JsonParsesWithTheRightCounts) {
  Result r = dump({"json", zstd_});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["container"]["compression"], "zstd");
  EXPECT_EQ(j["producer"]["program"], "fixture");
  EXPECT_EQ(j["created"], "2024-05-01T12:00:00.123456789Z");
  EXPECT_EQ(j["frameTypes"].size(), 4u);
  EXPECT_EQ(j["valueTypes"].size(), 2u);
  ASSERT_EQ(j["tasklets"].size(), 4u);
  EXPECT_EQ(j["channels"].size(), 3u);
  EXPECT_EQ(j["archive"]["size"], 140);
  EXPECT_FALSE(j["archive"].contains("base64"));
  const auto& producer = j["tasklets"][1];
  EXPECT_EQ(producer["wait"]["kind"], "send");
  EXPECT_EQ(producer["wait"]["channelId"], 12);
  EXPECT_EQ(producer["frames"][0]["typeName"], "demo.Producer");
  EXPECT_EQ(producer["frames"][0]["fields"][1]["name"], "i");
  EXPECT_EQ(producer["frames"][0]["fields"][1]["value"], 3);
  EXPECT_EQ(producer["slot"]["text"], "3");
  EXPECT_EQ(j["tasklets"][3]["wait"]["ns"], 1500000000);
  EXPECT_EQ(j["channels"][1]["buffer"][1]["text"], "\"second\"");
  // One record per line: each tasklet on its own line.
  std::istringstream lines(r.out);
  int records = 0;
  for (std::string line; std::getline(lines, line);) records += line.rfind("{\"id\":", 0) == 0;
  EXPECT_EQ(records, 4 + 3);

  Result pretty = dump({"json", zstd_, "--pretty", "--archive-base64"});
  ASSERT_EQ(pretty.code, 0) << pretty.err;
  auto p = nlohmann::json::parse(pretty.out);
  EXPECT_EQ(p["tasklets"], j["tasklets"]);
  EXPECT_EQ(p["archive"]["base64"].get<std::string>().size(), (140 + 2) / 3 * 4);
  EXPECT_EQ(p["archive"]["base64"].get<std::string>().substr(0, 4), "AQgP");  // bytes 1, 8, 15
}

TEST_F(Dump, DotHasTheWaitEdges) {
  Result r = dump({"dot", fixture_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "digraph stasis_waits {")) << r.out;
  EXPECT_TRUE(contains(r.out, "  t2 -> c12 [label=\"send\"];\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "  t3 -> c14 [label=\"receive\"];\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "t4 [shape=box, style=filled, fillcolor=\"#f4cccc\", label=\"tasklet 4\\nsleeper\\nblocked: sleep 1.5 s\"];"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "c13 [shape=ellipse, label=\"channel #13\\njobs\\nbalance 0, 2 buffered values, closing\"];"))
      << r.out;
  EXPECT_FALSE(contains(r.out, "dashed")) << r.out;
  EXPECT_EQ(r.out.substr(r.out.size() - 2), "}\n");

  r = dump({"dot", fixture_, "--fields"});
  EXPECT_TRUE(contains(r.out, "  t1 -> c13 [style=dashed, label=\"jobs\"];\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "  t2 -> c12 [style=dashed, label=\"out\"];\n")) << r.out;

  r = dump({"dot", fixture_, "--limit", "1", "--fields"});
  EXPECT_TRUE(contains(r.out, "  t1 [")) << r.out;
  EXPECT_FALSE(contains(r.out, "  t2 [")) << r.out;
  EXPECT_TRUE(contains(r.out, "  c13 [")) << r.out;
  EXPECT_FALSE(contains(r.out, "  c12 [")) << r.out;
  EXPECT_TRUE(contains(r.out, "// 3 more tasklets not drawn (--limit 1)")) << r.out;
}

TEST_F(Dump, VerifyExitCodes) {
  Result ok = dump({"verify", zstd_});
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_EQ(ok.out, zstd_ + ": OK (format 2, zstd, 4 tasklets, 5 frames, 3 channels, 140 archive bytes)\n");

  Result bad = dump({"verify", invalid_});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.out, invalid_ + ": INVALID\n  tasklets[1].frames[0].type = 9 is out of range: 4 frame types\n");

  Result flipped = dump({"verify", flipped_});
  EXPECT_EQ(flipped.code, 1);
  EXPECT_TRUE(contains(flipped.out, ": INVALID\n  checksum mismatch: the header says ")) << flipped.out;

  Result garbage = dump({"verify", garbage_});
  EXPECT_EQ(garbage.code, 1);
  EXPECT_TRUE(contains(garbage.out, "not a Stasis snapshot")) << garbage.out;

  expect_one_line_error(dump({"verify", fixture_ + ".missing"}), 2, "cannot open: No such file or directory");
}

TEST_F(Dump, OtherCommandsRefuseInvalidFilesUnlessNoCheck) {
  for (const char* sub : {"tasklets", "channels", "json", "dot"}) {
    expect_one_line_error(dump({sub, invalid_}), 2, "tasklets[1].frames[0].type = 9 is out of range");
  }
  Result r = dump({"tasklets", invalid_, "--no-check"});
  EXPECT_EQ(r.code, 0) << r.err;
  r = dump({"show", invalid_, "2", "--no-check"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "frame 0: <bad frame type 9>, resume point 1 (root)\n  #0 = channel #12")) << r.out;
  r = dump({"json", invalid_, "--no-check"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::accept(r.out));
  expect_one_line_error(dump({"info", garbage_}), 2, "not a Stasis snapshot");
  expect_one_line_error(dump({"channels", flipped_}), 2, "checksum mismatch");
}

TEST_F(Dump, DiffSameAndChanged) {
  Result same = dump({"diff", fixture_, zstd_});
  EXPECT_EQ(same.code, 0) << same.out << same.err;
  EXPECT_EQ(same.out, "");

  Result d = dump({"diff", fixture_, changed_});
  EXPECT_EQ(d.code, 1) << d.err;
  EXPECT_EQ(d.out,
            "tasklet 2 'producer': frames[0] demo.Producer: resume point 1 -> 2\n"
            "tasklet 2 'producer': frames[0] demo.Producer: field i: 3 -> 4\n"
            "tasklet 4 'sleeper': removed\n"
            "tasklet 5 'late': added (blocked, 1 frame)\n"
            "channel #13 'jobs': buffer [\"first\", \"second\"] -> [\"second\"]\n");

  Result quiet = dump({"diff", "-q", changed_, fixture_});
  EXPECT_EQ(quiet.code, 1);
  EXPECT_EQ(quiet.out, "");
  expect_one_line_error(dump({"diff", fixture_, garbage_}), 2, "not a Stasis snapshot");
}

// Damaged messages inside valid containers, shown with --no-check: every command
// ends with 0, 1 or 2 and, on error, one line — never a crash.
TEST_F(Dump, DamagedFilesNeverCrashAnyCommand) {
  auto m = make_fixture_message();
  kj::Array<capnp::word> clean = capnp::messageToFlatArray(*m);
  std::mt19937_64 rng(7);
  for (int round = 0; round < 6; ++round) {  // few: ~50 processes, slow under ASan
    auto words = kj::heapArray<capnp::word>(clean.size());
    std::memcpy(static_cast<void*>(words.begin()), clean.begin(), clean.size() * 8);
    auto* bytes = reinterpret_cast<unsigned char*>(words.begin());
    for (int d = 0; d < 3; ++d) bytes[8 + rng() % (words.size() * 8 - 8)] = static_cast<unsigned char>(rng());
    std::string path = write_temp_file("damaged" + std::to_string(round) + ".snap",
                                       persist::encode_container(words.asPtr(), {persist::Compression::kNone}));
    const std::vector<std::vector<std::string>> commands = {
        {"info", path},
        {"verify", path},
        {"tasklets", path, "--no-check"},
        {"show", path, "3", "--no-check", "--types"},
        {"channels", path, "--no-check"},
        {"json", path, "--no-check"},
        {"dot", path, "--no-check", "--fields"},
        {"diff", fixture_, path, "--no-check"},
    };
    for (const auto& args : commands) {
      Result r = dump(args);
      SCOPED_TRACE(args[0] + " " + path);
      EXPECT_GE(r.code, 0);
      EXPECT_LE(r.code, 2) << r.err;
      if (r.code == 2) EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
      else EXPECT_TRUE(r.err.empty()) << r.err;
    }
  }
}


// --- Field values decoded from the archive (format 2) ---

// Every field is decodable from the archive: the frame record carries no values.
struct DumpDecoded : Frame<DumpDecoded> {
  Channel<std::int64_t>* in = nullptr;
  std::uint64_t id = 7;
  std::int32_t small = -3;
  std::int8_t tiny = -1;
  std::uint16_t port = 65535;
  double ratio = 0.25;
  float scale = 1.5f;
  bool done = true;
  std::string label = "a\"b\n";
  std::vector<std::int16_t> history = {1, -2, 3};
  std::vector<double> weights = {0.5, 2};
  std::array<Channel<std::int64_t>*, 2> pair{};
  std::vector<Channel<std::int64_t>*> outs;
  std::vector<std::uint8_t> many = std::vector<std::uint8_t>(20, 9);
  std::int64_t got = 0;
  STASIS_FIELDS(in, id, small, tiny, port, ratio, scale, done, label, history, weights, pair, outs, many, got)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_RECEIVE(cx, *in, got);
    STASIS_END(cx);
  }
};
STASIS_PERSISTENT_FRAME(DumpDecoded, "test.dump.Decoded", 1);

// Fields the archive alone cannot describe (a vector of strings carries Boost class
// information; an enum has no recorded encoding): each record carries the values.
enum class DumpMode : std::int32_t { kOff, kOn };
struct DumpDescribed : Frame<DumpDescribed> {
  Channel<std::int64_t>* in = nullptr;
  std::vector<std::string> words = {"x", "y"};
  DumpMode mode = DumpMode::kOn;
  std::int64_t got = 0;
  STASIS_FIELDS(in, words, mode, got)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_RECEIVE(cx, *in, got);
    STASIS_END(cx);
  }
};
STASIS_PERSISTENT_FRAME(DumpDescribed, "test.dump.Described", 1);

static_assert(persist::kArchiveDecodable<std::vector<double>>);
static_assert(!persist::kArchiveDecodable<std::vector<std::string>>);
static_assert(!persist::kArchiveDecodable<std::vector<bool>>);
static_assert(!persist::kArchiveDecodable<DumpMode>);
static_assert(!persist::kArchiveDecodable<char>);

class DumpArchive : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto in = std::make_unique<Channel<std::int64_t>>(ChannelOptions{.name = "in"});
    auto other = std::make_unique<Channel<std::int64_t>>(ChannelOptions{.name = "other"});
    in_id_ = in->id();
    other_id_ = other->id();
    {
      Scheduler sched;
      DumpDecoded d;
      d.in = in.get();
      d.pair = {other.get(), nullptr};
      d.outs = {other.get(), in.get(), nullptr};
      decoded_id_ = sched.spawn(std::move(d))->id();
      DumpDescribed e;
      e.in = in.get();
      described_id_ = sched.spawn(std::move(e))->id();
      sched.run_until([&] { return sched.blocked_count() == 2; });
      persist::Snapshot snap = persist::freeze(sched, {.container = {.compression = persist::Compression::kNone}});
      bytes_ = std::string(snap.bytes());
      path_ = write_temp_file("archive-fields.snap", bytes_);
    }
  }

  // The snapshot with `edit` applied to its message (archive bytes, records).
  static std::string edited(const std::function<void(Snapshot::Builder)>& edit) {
    persist::MessageView view = persist::MessageView::from_bytes(bytes_);
    capnp::MallocMessageBuilder b;
    b.setRoot(view.root());
    edit(b.getRoot<Snapshot>());
    return persist::encode_container(b, {persist::Compression::kNone});
  }

  // Where the frame of the tasklet with id `id` starts in the archive, and its index.
  static std::pair<std::size_t, unsigned> frame_offset(Snapshot::Reader s, std::uint64_t id) {
    std::size_t offset = 0;
    auto tasklets = s.getTasklets();
    for (unsigned i = 0; i < tasklets.size(); ++i) {
      if (tasklets[i].getId() == id) return {offset, i};
      for (auto f : tasklets[i].getFrames()) offset += f.getArchiveBytes();
      if (tasklets[i].getHasSlot()) offset += tasklets[i].getSlot().getArchiveBytes();
    }
    ADD_FAILURE() << "no tasklet " << id;
    return {0, 0};
  }

  static inline std::string bytes_, path_;
  static inline std::uint64_t in_id_ = 0, other_id_ = 0, decoded_id_ = 0, described_id_ = 0;
};

TEST_F(DumpArchive, RecordsCarryValuesOnlyWhereTheArchiveCannotDescribeThem) {
  persist::MessageView view = persist::MessageView::from_bytes(bytes_);
  for (auto t : view.root().getTasklets()) {
    auto frame = t.getFrames()[0];
    std::string type = view.root().getFrameTypes()[frame.getType()].getName().cStr();
    if (type == "test.dump.Decoded") {
      EXPECT_EQ(frame.getFields().size(), 0u);
    } else if (type == "test.dump.Described") {
      EXPECT_EQ(frame.getFields().size(), 4u);
    }
  }
}

TEST_F(DumpArchive, ShowDecodesFieldsFromTheArchive) {
  Result r = dump({"show", path_, std::to_string(decoded_id_), "--types"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string in = "channel #" + std::to_string(in_id_) + " 'in'";
  const std::string other = "#" + std::to_string(other_id_), self = "#" + std::to_string(in_id_);
  EXPECT_TRUE(contains(r.out,
                       "  in      = " + in + "  [channel<i64>]\n"
                       "  id      = 7  [u64]\n"
                       "  small   = -3  [i32]\n"
                       "  tiny    = -1  [i8]\n"
                       "  port    = 65535  [u16]\n"
                       "  ratio   = 0.25  [f64]\n"
                       "  scale   = 1.5  [f32]\n"
                       "  done    = true  [bool]\n"
                       "  label   = \"a\\\"b\\n\"  [string]\n"
                       "  history = [1, -2, 3]  [vector<i16>]\n"
                       "  weights = [0.500000, 2.000000]  [vector<f64>]\n"
                       "  pair    = [" + other + ", null]  [array<channel<i64>,2>]\n"
                       "  outs    = [" + other + ", " + self + ", null]  [vector<channel<i64>>]\n"
                       "  many    = [9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, ...] (20 items)  [vector<u8>]\n"
                       "  got     = 0  [i64]\n"))
      << r.out;
  r = dump({"show", path_, std::to_string(described_id_)});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "  in    = " + in + "\n  words = [\"x\", \"y\"]\n  mode  = 1\n  got   = 0\n")) << r.out;
}

TEST_F(DumpArchive, JsonDotAndDiffUseTheDecodedFields) {
  Result r = dump({"json", path_});
  ASSERT_EQ(r.code, 0) << r.err;
  std::string tasklets_line;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (contains(line, "test.dump.Decoded") && contains(line, "\"fields\"")) tasklets_line = line;
  }
  ASSERT_FALSE(tasklets_line.empty()) << r.out;
  if (tasklets_line.back() == ',') tasklets_line.pop_back();
  auto t = nlohmann::json::parse(tasklets_line);
  auto fields = t["frames"][0]["fields"];
  ASSERT_EQ(fields.size(), 15u);
  EXPECT_EQ(fields[0]["kind"], "channel");
  EXPECT_EQ(fields[0]["channelId"], in_id_);
  EXPECT_EQ(fields[1]["kind"], "uint");
  EXPECT_EQ(fields[1]["value"], 7);
  EXPECT_EQ(fields[2]["kind"], "int");
  EXPECT_EQ(fields[2]["value"], -3);
  EXPECT_EQ(fields[5]["kind"], "float");
  EXPECT_EQ(fields[5]["value"], 0.25);
  EXPECT_EQ(fields[7]["value"], true);
  EXPECT_EQ(fields[8]["kind"], "text");
  EXPECT_EQ(fields[8]["value"], "a\"b\n");
  EXPECT_EQ(fields[9]["kind"], "other");
  EXPECT_EQ(fields[9]["value"], "[1, -2, 3]");

  r = dump({"dot", path_, "--fields"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "t" + std::to_string(decoded_id_) + " -> c" + std::to_string(in_id_) +
                                  " [style=dashed, label=\"in\"];"))
      << r.out;

  // id 7 -> 8 in the archive: diff reports the decoded field.
  auto [offset, index] = frame_offset(persist::MessageView::from_bytes(bytes_).root(), decoded_id_);
  std::string changed = write_temp_file("archive-changed.snap", edited([&, offset = offset](Snapshot::Builder s) {
    s.getArchive()[offset + 4] = 8;  // after the channel index
  }));
  r = dump({"diff", path_, changed});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(contains(r.out, "test.dump.Decoded: field id: 7 -> 8")) << r.out;
}

// The archive is untrusted: a bad length, a bad bool or a record that ends early
// shows as "<TYPE: ...>" for that field and the ones after it, never a crash or a
// read outside the frame's bytes.
TEST_F(DumpArchive, BadArchiveBytesShowAsUndecodedFields) {
  auto [offset, index] = frame_offset(persist::MessageView::from_bytes(bytes_).root(), decoded_id_);
  const std::string id = std::to_string(decoded_id_);
  // The label's length (after in 4, id 8, small 4, tiny 1, port 2, ratio 8, scale 4, done 1).
  std::string huge = write_temp_file("archive-huge.snap", edited([&, offset = offset](Snapshot::Builder s) {
    for (int k = 0; k < 8; ++k) s.getArchive()[offset + 32 + k] = 0xff;
  }));
  Result r = dump({"show", huge, id});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "  done    = true\n  label   = <string: ")) << r.out;
  EXPECT_TRUE(contains(r.out, "bytes that do not decode as one>\n  history = <vector<i16>: not decoded>\n")) << r.out;

  std::string bad_bool = write_temp_file("archive-bool.snap", edited([&, offset = offset](Snapshot::Builder s) {
    s.getArchive()[offset + 31] = 2;
  }));
  r = dump({"show", bad_bool, id});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "  done    = <bool: ")) << r.out;

  // A record claiming fewer bytes (--no-check: the sizes no longer add up).
  std::string short_record = write_temp_file("archive-short.snap", edited([&, index = index](Snapshot::Builder s) {
    s.getTasklets()[index].getFrames()[0].setArchiveBytes(10);
  }));
  r = dump({"show", short_record, id, "--no-check"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "  id      = <u64: 6 bytes that do not decode as one>\n")) << r.out;
  // One claiming more bytes than the archive has.
  std::string long_record = write_temp_file("archive-long.snap", edited([&, index = index](Snapshot::Builder s) {
    s.getTasklets()[index].getFrames()[0].setArchiveBytes(0xfffffff0u);
  }));
  r = dump({"show", long_record, id, "--no-check"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "lie outside the archive>")) << r.out;

  // Random damage to the archive bytes: every command ends cleanly.
  std::mt19937_64 rng(11);
  for (int round = 0; round < 3; ++round) {
    std::string path = write_temp_file("archive-damaged" + std::to_string(round) + ".snap",
                                       edited([&](Snapshot::Builder s) {
                                         auto a = s.getArchive();
                                         for (int d = 0; d < 6; ++d) a[rng() % a.size()] = static_cast<capnp::byte>(rng());
                                       }));
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"show", path, id}, {"json", path}, {"dot", path, "--fields"}, {"diff", path_, path}}) {
      Result d = dump(args);
      SCOPED_TRACE(args[0] + " " + path);
      EXPECT_LE(d.code, 1) << d.err;
      EXPECT_TRUE(d.err.empty()) << d.err;
    }
  }
}

}  // namespace
}  // namespace stasis::testing
