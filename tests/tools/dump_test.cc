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
#include "stasis/persist/tasklet_table.h"
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
// Each command (on the damaged file `path`) exits 0, 1 or 2: 2 with one line on
// stderr saying why, the others with nothing there — never a crash.
void expect_no_crash(const std::vector<std::vector<std::string>>& commands, const std::string& path) {
  for (const auto& args : commands) {
    Result r = dump(args);
    SCOPED_TRACE(args[0] + " " + path);
    EXPECT_GE(r.code, 0);
    EXPECT_LE(r.code, 2) << r.err;
    if (r.code == 2) EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    else EXPECT_TRUE(r.err.empty()) << r.err;
  }
}

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
    capnp::MallocMessageBuilder table;  // the fixture in format 3's tasklet layout
    persist::pack_tasklet_table(fixture_root(*m), table.initRoot<Snapshot>());
    table_ = write_temp_file("fixture-table.snap", encode(table));

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

  static std::string fixture_, zstd_, table_, changed_, invalid_, flipped_, garbage_;
};
std::string Dump::fixture_, Dump::zstd_, Dump::table_, Dump::changed_, Dump::invalid_, Dump::flipped_, Dump::garbage_;

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
    EXPECT_TRUE(contains(r.out, "format           version 3, header 48 bytes")) << r.out;
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

TEST_F(Dump, InfoShowsTheTaskletLayout) {
  Result list = dump({"info", fixture_});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_TRUE(contains(list.out, "\ntasklet layout   list (format 2)\n")) << list.out;
  Result table = dump({"info", table_});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_TRUE(contains(table.out, "\ntasklet layout   table (format 3)\n")) << table.out;
  // Counted from the expanded records, the same as in list form.
  EXPECT_TRUE(contains(table.out, "tasklets         4 (1 runnable, 3 blocked)\n")) << table.out;
  EXPECT_TRUE(contains(table.out, "frames           5\n")) << table.out;
}

// The commands that walk tasklets read a format-3 table as its records: the same
// output as for the list. (--no-check: this checks the readers, not the validator.)
TEST_F(Dump, TableLayoutReadsLikeTheList) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"tasklets"}, {"show", "3"}, {"show", "4"}, {"channels"}, {"dot", "--fields"}}) {
    auto run = [&](const std::string& file) {
      std::vector<std::string> full = {args[0], file};
      full.insert(full.end(), args.begin() + 1, args.end());
      full.push_back("--no-check");
      return dump(full);
    };
    Result list = run(fixture_), table = run(table_);
    SCOPED_TRACE(args[0]);
    ASSERT_EQ(list.code, 0) << list.err;
    EXPECT_EQ(table.code, 0) << table.err;
    for (std::size_t at; (at = table.out.find(table_)) != std::string::npos;) table.out.replace(at, table_.size(), fixture_);
    EXPECT_EQ(table.out, list.out);
  }
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
  EXPECT_EQ(ok.out, zstd_ + ": OK (format 3, zstd, 4 tasklets, 5 frames, 3 channels, 140 archive bytes)\n");
  Result table = dump({"verify", table_});  // the same tasklets, read from the columns
  EXPECT_EQ(table.code, 0) << table.out << table.err;
  EXPECT_EQ(table.out, table_ + ": OK (format 3, 4 tasklets, 5 frames, 3 channels, 140 archive bytes)\n");

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
    expect_no_crash(commands, path);
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
    b.setRoot(view.listed_root());
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
  for (auto t : view.listed_root().getTasklets()) {
    auto frame = t.getFrames()[0];
    std::string type = view.listed_root().getFrameTypes()[frame.getType()].getName().cStr();
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
  auto [offset, index] = frame_offset(persist::MessageView::from_bytes(bytes_).listed_root(), decoded_id_);
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
  auto [offset, index] = frame_offset(persist::MessageView::from_bytes(bytes_).listed_root(), decoded_id_);
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


// --- Native tasklets: a real snapshot written by stasis_native_fixture ---

class DumpNative : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = (temp_dir() / "native.snap").string();
    // Through the cross-testing emulator, if any, like stasis-dump itself.
    std::vector<std::string> argv = stasis::test_support::emulator_words(STASIS_DUMP_EMULATOR);
    argv.push_back(STASIS_NATIVE_FIXTURE);
    argv.push_back(path_);
    stasis::test_support::Outcome o = stasis::test_support::run_captured(argv);
    if (o.exit_code() != 0 || !contains(o.output, "frozen ")) {
      problem_ = "stasis_native_fixture failed (exit " + std::to_string(o.exit_code()) + "): " + o.output;
      return;
    }
    bytes_ = slurp(path_);
    // The tasklet's id and its recorded frames, read directly from the message.
    persist::MessageView view = persist::MessageView::from_bytes(bytes_);
    auto t = view.listed_root().getTasklets()[0];
    id_ = std::to_string(t.getId());
    auto frames = t.getNative().getFrames();
    auto symbols = view.listed_root().getSymbols();
    for (unsigned k = 0; k < frames.size(); ++k) {
      const std::uint32_t sym = frames[k].getSymbol();
      std::string f = sym ? symbols[sym - 1].getFunction().cStr() : "";
      if (f.find("fixture_inner") != std::string::npos) inner_ = static_cast<int>(k);
      if (f.find("fixture_outer") != std::string::npos) outer_ = static_cast<int>(k);
    }
  }

  void SetUp() override {
#if STASIS_DUMP_SANITIZED
    GTEST_SKIP() << "native tasklets cannot be frozen under AddressSanitizer, whose instrumentation leaves "
                    "pointers to its shadow memory in every frame (docs/native-persistence.md)";
#endif
    ASSERT_TRUE(problem_.empty()) << problem_;
  }

  // The snapshot with `edit` applied to its message.
  static std::string edited(const std::string& name, const std::function<void(Snapshot::Builder)>& edit) {
    persist::MessageView view = persist::MessageView::from_bytes(bytes_);
    capnp::MallocMessageBuilder b;
    b.setRoot(view.listed_root());
    edit(b.getRoot<Snapshot>());
    return write_temp_file(name, persist::encode_container(b, {persist::Compression::kNone}));
  }

  // The "#k function ..." lines of `show` output, function names only.
  static std::vector<std::string> frame_functions(const std::string& show) {
    std::vector<std::string> out;
    std::istringstream in(show);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("#", 0) != 0) continue;
      std::size_t space = line.find(' ');
      std::size_t end = line.find(" (", space + 1);
      if (end == std::string::npos) end = line.find(" [", space + 1);
      out.push_back(line.substr(space + 1, end - space - 1));
    }
    return out;
  }

  static inline std::string path_, bytes_, id_, problem_;
  static inline int inner_ = -1, outer_ = -1;
};

TEST_F(DumpNative, FixtureRecordsTheCallChain) {
  EXPECT_GE(inner_, 0) << "no fixture_inner frame recorded";
  EXPECT_GT(outer_, inner_) << "fixture_outer must be outside fixture_inner";
}

TEST_F(DumpNative, TaskletsMarksNativeTaskletsAndTheirDepth) {
  Result r = dump({"tasklets", path_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "ID  NAME            KIND    STATE    PRI  DEPTH  WAITING ON\n")) << r.out;
  persist::MessageView view = persist::MessageView::from_bytes(bytes_);
  std::string depth = std::to_string(view.listed_root().getTasklets()[0].getNative().getFrames().size());
  EXPECT_TRUE(contains(r.out, id_ + "   native-fixture  native  blocked  0    " + depth)) << r.out;
  EXPECT_TRUE(contains(r.out, "receive on channel #")) << r.out;
  EXPECT_TRUE(contains(r.out, "'fixture-in'\n")) << r.out;
}

TEST_F(DumpNative, ShowPrintsSizesSummaryAndFramesInnermostFirst) {
  Result r = dump({"show", path_, id_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("tasklet " + id_ + " 'native-fixture'\n  kind         native\n  state        blocked, started\n", 0), 0u)
      << r.out;
  for (const char* part : {"\n  stack        ", " bytes [0x", "\n  region       [0x", "\n  callable     ",
                           "\n  arena        share 0x", " bytes used of ", "\n  relocations  ",
                           "\n  summary      ", " words: own stack ", ", arena ", ", module ", ", relocated ",
                           ", plain ", ", dead stack ", "\n  frames       ", ", innermost first (as recorded by freeze)\n"}) {
    EXPECT_TRUE(contains(r.out, part)) << part << "\n" << r.out;
  }
  EXPECT_FALSE(contains(r.out, "\n  arena        -\n")) << "an arena tasklet has arena bytes\n" << r.out;
  std::vector<std::string> functions = frame_functions(r.out);
  auto at = [&](const char* name) {
    return std::find_if(functions.begin(), functions.end(), [&](const std::string& f) { return contains(f, name); }) -
           functions.begin();
  };
  ASSERT_LT(at("fixture_inner"), static_cast<long>(functions.size())) << r.out;
  EXPECT_LT(at("fixture_inner"), at("fixture_outer")) << r.out;
  EXPECT_TRUE(contains(r.out, "\n#0 ")) << r.out;
  EXPECT_TRUE(contains(r.out, "native_fixture.cc:")) << r.out;
  EXPECT_TRUE(contains(r.out, "fixture_outer(stasis::Channel<int>&) (")) << r.out;
  EXPECT_TRUE(contains(r.out, "[stasis_native_fixture] pc=0x")) << r.out;
  EXPECT_TRUE(contains(r.out, " sp=0x")) << r.out;
}

TEST_F(DumpNative, ResymbolizeRewalksOfflineFromTheModuleFiles) {
  Result recorded = dump({"show", path_, id_});
  Result rewalked = dump({"show", path_, id_, "--resymbolize"});
  ASSERT_EQ(rewalked.code, 0) << rewalked.err;
  EXPECT_TRUE(contains(rewalked.out, "(re-walked offline from the module files)")) << rewalked.out;
  EXPECT_EQ(frame_functions(rewalked.out), frame_functions(recorded.out)) << rewalked.out;

  // Recorded frames without names: show re-walks by itself.
  std::string nameless = edited("native-nameless.snap", [](Snapshot::Builder s) {
    for (auto f : s.getTasklets()[0].getNative().getFrames()) f.setSymbol(0);
  });
  Result r = dump({"show", nameless, id_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "(re-walked offline from the module files)")) << r.out;
  EXPECT_EQ(frame_functions(r.out), frame_functions(recorded.out)) << r.out;

  // Module files that are not here: the recorded frames, with a note saying why.
  std::string elsewhere = edited("native-elsewhere.snap", [](Snapshot::Builder s) {
    for (auto m : s.getModules()) m.setPath("/nonexistent/" + std::string(m.getPath().cStr()));
  });
  r = dump({"show", elsewhere, id_, "--resymbolize"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "(as recorded by freeze)\n  note         not re-walked: the program file")) << r.out;
  EXPECT_EQ(frame_functions(r.out), frame_functions(recorded.out)) << r.out;
}

TEST_F(DumpNative, InfoCountsNativeTaskletsAndModules) {
  Result r = dump({"info", path_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\nnative tasklets  1 (stack ")) << r.out;
  EXPECT_TRUE(contains(r.out, " bytes, arena ")) << r.out;
  EXPECT_TRUE(contains(r.out, " referenced; --modules lists them)\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "\nframes           0 soft, ")) << r.out;
  r = dump({"info", path_, "--modules"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "stasis_native_fixture build-id ")) << r.out;
  EXPECT_TRUE(contains(r.out, "(main program, referenced)\n")) << r.out;
  // Soft snapshots keep their info unchanged.
  auto m = make_fixture_message();
  std::string soft = write_temp_file("soft.snap", encode(*m));
  Result soft_info = dump({"info", soft});
  EXPECT_FALSE(contains(soft_info.out, "\nnative tasklets")) << soft_info.out;
  EXPECT_FALSE(contains(soft_info.out, "\nmodules")) << soft_info.out;
  EXPECT_TRUE(contains(soft_info.out, "\nframes           5\n")) << soft_info.out;
}

TEST_F(DumpNative, JsonHasTheNativeRecordWithoutRawBytes) {
  Result r = dump({"json", path_});
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["tasklets"].size(), 1u);
  const nlohmann::json& n = j["tasklets"][0]["native"];
  ASSERT_TRUE(n.is_object()) << n;
  EXPECT_TRUE(n["started"].get<bool>());
  EXPECT_GT(n["stackBytes"].get<std::uint64_t>(), 0u);
  EXPECT_GT(n["arenaBytes"].get<std::uint64_t>(), 0u);
  EXPECT_GT(n["summary"]["words"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(n["relocations"].size(), persist::MessageView::from_bytes(bytes_).listed_root().getTasklets()[0].getNative().getRelocations().size());
  EXPECT_FALSE(n.contains("stack")) << "raw stack bytes must not be dumped";
  ASSERT_GT(n["frames"].size(), static_cast<std::size_t>(outer_));
  EXPECT_TRUE(contains(n["frames"][inner_]["function"].get<std::string>(), "fixture_inner"));
  EXPECT_TRUE(contains(n["frames"][outer_]["function"].get<std::string>(), "fixture_outer"));
  EXPECT_TRUE(contains(n["frames"][outer_]["file"].get<std::string>(), "native_fixture.cc"));
  EXPECT_GT(n["frames"][outer_]["line"].get<int>(), 0);
  ASSERT_FALSE(j["modules"].empty());
  EXPECT_TRUE(j["modules"][0]["mainProgram"].get<bool>()) << j["modules"][0];
  EXPECT_FALSE(j["modules"][0]["buildId"].get<std::string>().empty());
  // Soft tasklets have "native": null.
  auto m = make_fixture_message();
  std::string soft = write_temp_file("native-soft.snap", encode(*m));
  EXPECT_TRUE(nlohmann::json::parse(dump({"json", soft}).out)["tasklets"][0]["native"].is_null());
}

TEST_F(DumpNative, VerifyChecksBinariesByBuildId) {
  Result r = dump({"verify", path_});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, ": OK (format 3")) << r.out;
  EXPECT_TRUE(contains(r.out, ", 1 native, ")) << r.out;

  r = dump({"verify", "--binary", STASIS_NATIVE_FIXTURE, path_});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, std::string(STASIS_NATIVE_FIXTURE) + ": build-id ")) << r.out;
  EXPECT_TRUE(contains(r.out, " matches the snapshot's program")) << r.out;

  r = dump({"verify", path_, "--binary", STASIS_DUMP_PATH});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "the snapshot's program has build-id ")) << r.out;
  EXPECT_TRUE(contains(r.out, ", " + std::string(STASIS_DUMP_PATH) + " has ")) << r.out;
  EXPECT_TRUE(contains(r.out, ": not the build that froze it\n")) << r.out;

  // Both: one matches, one does not -> 1.
  r = dump({"verify", path_, "--binary", STASIS_NATIVE_FIXTURE, "--binary", STASIS_DUMP_PATH});
  EXPECT_EQ(r.code, 1) << r.out << r.err;

  expect_one_line_error(dump({"verify", path_, "--binary", path_ + ".missing"}), 2, "cannot read it");
  expect_one_line_error(dump({"verify", path_, "--binary", path_}), 2, "not an ELF file");

  // A soft snapshot binds to no build: nothing to match.
  auto m = make_fixture_message();
  std::string soft = write_temp_file("native-soft.snap", encode(*m));
  r = dump({"verify", soft, "--binary", STASIS_NATIVE_FIXTURE});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "the snapshot records no module table")) << r.out;
}

TEST_F(DumpNative, VerifyChecksTheNativeRecordsStructure) {
  std::string short_stack = edited("native-short.snap", [](Snapshot::Builder s) {
    auto n = s.getTasklets()[0].getNative();
    std::vector<capnp::byte> bytes(n.getStack().begin(), n.getStack().end() - 8);
    n.setStack(kj::arrayPtr(bytes.data(), bytes.size()));
  });
  Result r = dump({"verify", short_stack});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, ": INVALID\n  tasklets[0].native: its stack has ")) << r.out;
  EXPECT_TRUE(contains(r.out, "but [context, regionHigh) spans ")) << r.out;

  std::string stray = edited("native-stray.snap", [](Snapshot::Builder s) {
    auto r0 = s.getTasklets()[0].getNative().getRelocations()[0];
    r0.getTarget().setTasklet(99);
    r0.setAt(8);
  });
  r = dump({"verify", stray});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "tasklets[0].native.relocations[0]: the word at 0x8 is in none of the tasklet's stack")) << r.out;
  EXPECT_TRUE(contains(r.out, "tasklets[0].native.relocations[0]: names tasklet #99, which is not in the snapshot")) << r.out;

  std::string no_modules = edited("native-no-modules.snap", [](Snapshot::Builder s) { s.initModules(0); });
  r = dump({"verify", no_modules});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "modules: a snapshot with native tasklets must record its module table")) << r.out;
  // The other commands refuse it too, unless --no-check.
  expect_one_line_error(dump({"show", short_stack, id_}), 2, "its stack has");
  EXPECT_EQ(dump({"show", short_stack, id_, "--no-check"}).code, 0);
}

TEST_F(DumpNative, DiffShowsStackAndFrameChanges) {
  Result same = dump({"diff", path_, path_});
  EXPECT_EQ(same.code, 0) << same.out << same.err;
  EXPECT_EQ(same.out, "");

  const int inner = inner_;
  std::string changed = edited("native-changed.snap", [inner](Snapshot::Builder s) {
    auto n = s.getTasklets()[0].getNative();
    n.getStack()[n.getStack().size() / 2] ^= 1;
    // The inner frame now names another symbol (the table is shared by pc).
    auto symbols = s.getSymbols();
    capnp::MallocMessageBuilder scratch;
    auto grown = scratch.initRoot<schema::Snapshot>().initSymbols(symbols.size() + 1);
    for (unsigned k = 0; k < symbols.size(); ++k) grown.setWithCaveats(k, symbols[k]);
    grown[symbols.size()].setFunction("somewhere_else(int)");
    s.setSymbols(grown.asReader());
    n.getFrames()[static_cast<unsigned>(inner)].setSymbol(symbols.size() + 1);
  });
  Result d = dump({"diff", path_, changed});
  EXPECT_EQ(d.code, 1) << d.err;
  std::string label = "tasklet " + id_ + " 'native-fixture': ";
  EXPECT_TRUE(contains(d.out, label + "stack contents differ (")) << d.out;
  EXPECT_TRUE(contains(d.out, label + "native frames[" + std::to_string(inner) + "]: function ")) << d.out;
  EXPECT_TRUE(contains(d.out, " -> somewhere_else(int)\n")) << d.out;

  std::string shallower = edited("native-shallower.snap", [](Snapshot::Builder s) {
    auto n = s.getTasklets()[0].getNative();
    std::vector<capnp::byte> bytes(n.getStack().begin() + 16, n.getStack().end());
    n.setContext(n.getContext() + 16);
    n.setStack(kj::arrayPtr(bytes.data(), bytes.size()));
    auto old = n.getFrames();
    capnp::MallocMessageBuilder copy;
    auto kept = copy.initRoot<schema::NativeTasklet>().initFrames(old.size() - 1);
    for (unsigned k = 1; k < old.size(); ++k) kept.setWithCaveats(k - 1, old[k]);
    n.setFrames(kept.asReader());
  });
  d = dump({"diff", path_, shallower, "--no-check"});
  EXPECT_EQ(d.code, 1) << d.err;
  EXPECT_TRUE(contains(d.out, label + "stack ")) << d.out;
  EXPECT_TRUE(contains(d.out, " bytes -> ")) << d.out;
  EXPECT_TRUE(contains(d.out, label + "native frame depth ")) << d.out;
  EXPECT_TRUE(contains(d.out, label + "native frames[0] ")) << d.out;
  EXPECT_TRUE(contains(d.out, " removed\n")) << d.out;
}

// Hostile native records (garbage registers, stack words, context, frames) shown
// with --no-check and re-walked offline: every command ends with 0, 1 or 2, never
// a crash.
TEST_F(DumpNative, DamagedNativeRecordsNeverCrash) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 4; ++round) {  // few: each round runs 6 processes
    std::string path = edited("native-damaged" + std::to_string(round) + ".snap", [&](Snapshot::Builder s) {
      auto n = s.getTasklets()[0].getNative();
      auto stack = n.getStack();
      for (int k = 0; k < 8 && stack.size() >= 8; ++k) {  // the switch block first, then anywhere
        std::size_t at = (k < 4 ? rng() % std::min<std::size_t>(stack.size(), 64) : rng() % stack.size()) & ~std::size_t{7};
        std::uint64_t v = rng();
        if (k % 2) v = n.getContext() + rng() % (stack.size() + 64);  // plausible stack addresses
        for (int b = 0; b < 8 && at + b < stack.size(); ++b) stack[at + b] = static_cast<capnp::byte>(v >> (8 * b));
      }
      if (round == 1) n.setContext(n.getContext() + 8 * (rng() % 8));
      if (round == 2) n.setContext(rng());
      for (auto f : n.getFrames()) f.setSp(rng() % 2 ? rng() : f.getSp());
      if (round == 3) s.getModules()[0].setBase(rng());
    });
    const std::vector<std::vector<std::string>> commands = {
        {"info", path, "--modules"},
        {"verify", path, "--binary", STASIS_NATIVE_FIXTURE},
        {"tasklets", path, "--no-check"},
        {"show", path, id_, "--no-check", "--resymbolize"},
        {"json", path, "--no-check"},
        {"diff", path_, path, "--no-check"},
    };
    expect_no_crash(commands, path);
  }
}

TEST_F(DumpNative, NewOptionsHaveHelp) {
  EXPECT_TRUE(contains(dump({"show", "--help"}).out, "--resymbolize"));
  EXPECT_TRUE(contains(dump({"verify", "--help"}).out, "--binary"));
  EXPECT_TRUE(contains(dump({"info", "--help"}).out, "--modules"));
}

}  // namespace
}  // namespace stasis::testing
