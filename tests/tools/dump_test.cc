// tests/tools/dump_test.cc — runs the real stasis-dump binary (path from the
// STASIS_DUMP_PATH compile definition) on fixture files and checks every
// subcommand's output, exit codes, and that errors are one clean line.
#include <gtest/gtest.h>

#include <algorithm>
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
    EXPECT_TRUE(contains(r.out, "format           version 1, header 48 bytes")) << r.out;
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
  EXPECT_EQ(ok.out, zstd_ + ": OK (format 1, zstd, 4 tasklets, 5 frames, 3 channels, 140 archive bytes)\n");

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

}  // namespace
}  // namespace stasis::testing
