// hostile_snapshot_test.cc — truncated, bit-flipped and hostile snapshots give a
// typed error or a scheduler that runs; never a crash, a hang or a huge allocation.
//
// The corpus starts from a valid snapshot of a realistic scheduler (about 50
// tasklets of hostile_frames.h over twelve channels of five value types, with
// buffered values, values in flight, deep frame chains and sleepers), written
// uncompressed and with zstd. Each case is thawed into a fresh scheduler: a
// refusal must be a stasis::SnapshotError with a message; a snapshot that loads is
// run under a step budget, where only stasis::Error may come out (Deadlock,
// BadResumePoint, TypeMismatch...). Each section runs its whole corpus in one
// forked child, which reports every case it starts: a crash fails the test and
// names the case instead of killing the test binary.
#include <gtest/gtest.h>

#include <capnp/any.h>
#include <capnp/schema.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "hostile_frames.h"
#include "snapshot_mutation.h"
#include "stasis/persist/container.h"
#include "stasis/persist/snapshot.h"
#include "stasis/persist/tasklet_table.h"

#if defined(__SANITIZE_ADDRESS__)
#define STASIS_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STASIS_TEST_UNDER_ASAN 1
#endif
#endif

namespace stasis::test {
namespace {

using hostile::RunReport;
using persist::Compression;
using persist::Snapshot;

// --- A forked corpus runner. ---

// The child side: runs cases and reports them, one line each, on a pipe.
class Corpus {
 public:
  explicit Corpus(int fd) : fd_(fd) {}

  // Thaws and runs one case. With must_reject, loading it is a failure; with
  // want_type, so is a refusal of another type.
  void check(const std::string& name, const Snapshot& snap, bool must_reject = false,
             const std::string& want_type = "") {
    say("CASE " + name);
    RunReport r = hostile::thaw_and_run(snap);
    if (!r.failure.empty()) return fail(name, r.failure);
    if (r.loaded) {
      ++loaded_;
      if (must_reject) fail(name, "loaded, but must be refused");
      return;
    }
    ++rejected_;
    ++by_type_[r.error_type];
    if (!want_type.empty() && r.error_type != want_type) fail(name, "refused with " + r.error_type + ", expected " + want_type);
  }

  void fail(const std::string& name, const std::string& why) { say("FAIL " + name + ": " + why); }

  void finish() {
    std::string types;
    for (const auto& [type, n] : by_type_) types += " " + type + "=" + std::to_string(n);
    say("STATS " + std::to_string(rejected_) + " " + std::to_string(loaded_) + types);
    say("DONE");
  }

  void say(std::string line) {
    line += '\n';
    std::size_t done = 0;
    while (done < line.size()) {
      ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }

 private:
  int fd_;
  int rejected_ = 0;
  int loaded_ = 0;
  std::map<std::string, int> by_type_;
};

struct CorpusResult {
  int rejected = 0;
  int loaded = 0;
  std::string types;  // " stasis::SnapshotCorrupt=12 ..."
};

// Address-space limit of the child, above what it maps already (0: none).
constexpr rlim_t kNoLimit = 0;

std::uint64_t mapped_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (f) {
    if (std::fscanf(f, "%lu", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  return std::uint64_t{pages} * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

// Under qemu-user the process is the emulator, whose own reservations make an
// address-space limit meaningless (the cross toolchain sets STASIS_UNDER_QEMU=1).
bool under_qemu() {
  const char* v = std::getenv("STASIS_UNDER_QEMU");
  return v && *v && std::string_view(v) != "0";
}

// Runs body(corpus) in a forked child (on a fresh thread, without a scheduler), with
// its address space limited to what it maps now plus `extra_address_space`, and
// reports every failure it found, or its death with the case it was running.
CorpusResult run_corpus(const std::function<void(Corpus&)>& body, rlim_t extra_address_space = kNoLimit) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    close(fds[0]);
    Corpus corpus(fds[1]);
    if (extra_address_space != kNoLimit && !under_qemu()) {
      rlimit limit{mapped_bytes() + extra_address_space, mapped_bytes() + extra_address_space};
      if (setrlimit(RLIMIT_AS, &limit) != 0) corpus.fail("setup", "setrlimit(RLIMIT_AS) failed");
    }
    std::thread t([&] {
      try {
        body(corpus);
      } catch (const std::exception& e) {
        corpus.fail("harness", std::string("exception: ") + e.what());
      } catch (...) {
        corpus.fail("harness", "unknown exception");
      }
      corpus.finish();
    });
    t.join();
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[1 << 16];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);

  CorpusResult result;
  std::istringstream lines(out);
  std::string line, last_case;
  bool done = false;
  int failures = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("CASE ", 0) == 0) {
      last_case = line.substr(5);
    } else if (line.rfind("FAIL ", 0) == 0) {
      if (++failures <= 25) ADD_FAILURE() << line.substr(5);
    } else if (line.rfind("STATS ", 0) == 0) {
      std::istringstream stats(line.substr(6));
      stats >> result.rejected >> result.loaded;
      std::getline(stats, result.types);
    } else if (line == "DONE") {
      done = true;
    }
  }
  if (failures > 25) ADD_FAILURE() << failures << " failures in all";
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !done) {
    std::string how = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                          : "exit status " + std::to_string(WEXITSTATUS(status));
    ADD_FAILURE() << "the corpus child died (" << how << ") in case '" << last_case << "'";
  }
  return result;
}

void report(const char* section, const CorpusResult& r) {
  std::cout << "[ corpus   ] " << section << ": " << r.rejected << " rejected, " << r.loaded << " loaded;"
            << r.types << std::endl;
  ::testing::Test::RecordProperty(std::string(section) + ".rejected", r.rejected);
  ::testing::Test::RecordProperty(std::string(section) + ".loaded", r.loaded);
}

// --- The base snapshots (made once, in the parent, before any fork). ---

struct Bases {
  Snapshot plain = hostile::realistic_snapshot(Compression::kNone);
  Snapshot zstd = hostile::realistic_snapshot(Compression::kZstd);
};
const Bases& bases() {
  static const Bases* b = new Bases;
  return *b;
}

std::string flip_bytes(std::string bytes, std::size_t begin, std::size_t end, std::mt19937_64& rng) {
  std::uniform_int_distribution<std::size_t> where(begin, end - 1);
  std::uniform_int_distribution<int> mask(1, 255);
  int count = std::uniform_int_distribution<int>(1, 4)(rng);
  for (int k = 0; k < count; ++k) bytes[where(rng)] ^= static_cast<char>(mask(rng));
  return bytes;
}

TEST(HostileSnapshot, BaseSnapshotsAreRealisticAndRun) {
  for (const Snapshot* snap : {&bases().plain, &bases().zstd}) {
    persist::MessageView view = persist::MessageView::from_bytes(snap->bytes());
    auto root = view.listed_root();
    EXPECT_GE(root.getTasklets().size(), 50u);
    EXPECT_GE(root.getChannels().size(), 12u);
    EXPECT_GE(root.getValueTypes().size(), 4u);
    unsigned buffered = 0, in_flight = 0, sleeping = 0, deep = 0;
    for (auto ch : root.getChannels()) buffered += ch.getBuffer().size();
    for (auto t : root.getTasklets()) {
      in_flight += t.getHasSlot();
      sleeping += t.getWait().isSleep();
      deep += t.getFrames().size() >= 4;
    }
    std::cout << "[ corpus   ] base: " << snap->bytes().size() << " bytes, " << root.getTasklets().size()
              << " tasklets, " << root.getChannels().size() << " channels, " << buffered << " buffered values, "
              << in_flight << " values in flight, " << sleeping << " sleepers, " << deep << " chains of 4+ frames"
              << std::endl;
    EXPECT_GT(buffered, 0u);
    EXPECT_GT(in_flight, 0u);
    EXPECT_GT(sleeping, 0u);
    EXPECT_GT(deep, 0u);
  }
  EXPECT_TRUE(persist::peek_header(bases().zstd.bytes()).compressed);
  EXPECT_FALSE(persist::peek_header(bases().plain.bytes()).compressed);
  CorpusResult r = run_corpus([](Corpus& c) {
    c.check("plain", bases().plain);
    c.check("zstd", bases().zstd);
  });
  EXPECT_EQ(r.loaded, 2);
}

// The realistic base (sleepers, values in flight, deep chains, field values) comes
// back exactly from format 3's tasklet table: packed, then expanded.
TEST(HostileSnapshot, BaseSnapshotSurvivesTheTableLayout) {
  persist::MessageView view = persist::MessageView::from_bytes(bases().plain.bytes());
  auto listed = view.listed_root();
  capnp::MallocMessageBuilder table, back;
  persist::pack_tasklet_table(listed, table.initRoot<schema::Snapshot>());
  persist::expand_tasklet_table(table.getRoot<schema::Snapshot>().asReader(), back.initRoot<schema::Snapshot>());
  EXPECT_TRUE(capnp::toAny(back.getRoot<schema::Snapshot>().asReader()) == capnp::toAny(listed));
}

TEST(HostileSnapshot, TruncatedAtEveryHeaderOffsetAndAcrossTheFile) {
  CorpusResult r = run_corpus([](Corpus& c) {
    for (const Snapshot* snap : {&bases().plain, &bases().zstd}) {
      const std::string bytes(snap->bytes());
      const char* kind = snap == &bases().plain ? "plain" : "zstd";
      std::vector<std::size_t> lengths;
      for (std::size_t n = 0; n <= persist::kHeaderBytes; ++n) lengths.push_back(n);
      constexpr std::size_t kSpread = 220;
      for (std::size_t k = 0; k <= kSpread; ++k) {
        lengths.push_back(persist::kHeaderBytes + (bytes.size() - 1 - persist::kHeaderBytes) * k / kSpread);
      }
      for (std::size_t n : lengths) {
        c.check(std::string(kind) + " truncated to " + std::to_string(n), Snapshot(bytes.substr(0, n)),
                /*must_reject=*/true, "stasis::SnapshotTruncated");
      }
    }
  });
  report("truncated", r);
  EXPECT_EQ(r.loaded, 0);
  EXPECT_GE(r.rejected, 2 * (49 + 200));
}

TEST(HostileSnapshot, RandomByteFlipsOfTheFileAreRefused) {
  CorpusResult r = run_corpus([](Corpus& c) {
    std::mt19937_64 rng(20240611);
    for (const Snapshot* snap : {&bases().plain, &bases().zstd}) {
      const char* kind = snap == &bases().plain ? "plain" : "zstd";
      for (int i = 0; i < 1000; ++i) {
        std::string bytes = flip_bytes(std::string(snap->bytes()), 0, snap->bytes().size(), rng);
        if (bytes == snap->bytes()) continue;
        // The checksum covers every byte but itself, and a changed checksum no longer matches.
        c.check(std::string(kind) + " file flip " + std::to_string(i), Snapshot(bytes), /*must_reject=*/true);
      }
    }
  });
  report("file flips", r);
  EXPECT_EQ(r.loaded, 0);
  EXPECT_GE(r.rejected, 1990);
}

TEST(HostileSnapshot, MessageFlipsBehindTheChecksumGiveTypedErrorsOrRun) {
  CorpusResult r = run_corpus([](Corpus& c) {
    std::mt19937_64 rng(77001);
    const std::string message = message_bytes(bases().plain);
    for (int i = 0; i < 1000; ++i) {
      std::string bytes = flip_bytes(message, 0, message.size(), rng);
      Compression how = i % 4 == 0 ? Compression::kZstd : Compression::kNone;
      c.check("message flip " + std::to_string(i), encode_message(bytes, how));
    }
  });
  report("message flips", r);
  EXPECT_EQ(r.rejected + r.loaded, 1000);
  EXPECT_GT(r.rejected, 0);
  EXPECT_GT(r.loaded, 0);  // the flips reach past the validator into archive and runtime
}

TEST(HostileSnapshot, ArchiveFlipsGiveTypedErrorsOrRun) {
  CorpusResult r = run_corpus([](Corpus& c) {
    std::mt19937_64 rng(4242);
    const std::string message = message_bytes(bases().plain);
    const std::string archive = archive_of(bases().plain);
    std::size_t at = message.find(archive);
    if (archive.size() < 64 || at == std::string::npos) return c.fail("setup", "the archive is not in the message");
    for (int i = 0; i < 1000; ++i) {
      c.check("archive flip " + std::to_string(i), encode_message(flip_bytes(message, at, at + archive.size(), rng)));
    }
  });
  report("archive flips", r);
  EXPECT_EQ(r.rejected + r.loaded, 1000);
  EXPECT_GT(r.rejected, 0);
  EXPECT_GT(r.loaded, 0);
}

// --- Raw message words (flat array of one segment, as freeze writes it). ---

std::uint64_t word_at(const std::string& message, std::size_t word) { return load_le64(message, 8 * word); }

// The word a (struct or list) pointer at word `ptr` points to.
std::size_t target_of(const std::string& message, std::size_t ptr) {
  return ptr + 1 + (static_cast<std::int32_t>(static_cast<std::uint32_t>(word_at(message, ptr))) >> 2);
}

// The index of the word holding pointer field `field` of the struct S that the
// struct pointer at word `struct_ptr` points to (its data words, then its pointers).
template <typename S>
std::size_t pointer_field_word(const std::string& message, std::size_t struct_ptr, const char* field) {
  const std::size_t data_words = (word_at(message, struct_ptr) >> 32) & 0xffff;
  auto slot = capnp::Schema::from<S>().getFieldByName(field).getProto().getSlot();
  return target_of(message, struct_ptr) + data_words + slot.getOffset();
}

// The same for the root struct: word 0 is the segment table, word 1 the root pointer.
std::size_t root_pointer_word(const std::string& message, const char* field) {
  return pointer_field_word<schema::Snapshot>(message, 1, field);
}

// --- Hostile sizes. ---

// Holds every kind of collection the archive bounds: a vector of channel
// references, a vector of numbers, a string, a vector of strings.
struct Holder : Frame<Holder> {
  std::vector<Channel<std::uint64_t>*> chans;
  std::vector<std::uint64_t> numbers;
  std::string text;
  std::vector<std::string> words;
  STASIS_FIELDS(chans, numbers, text, words)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SCHEDULE(cx);
    STASIS_END(cx);
  }
};
STASIS_PERSISTENT_FRAME(Holder, "test.hostile.Holder", 1);

constexpr std::uint64_t kNumberMark = 0x5EED5EED00000001ull;
const char kTextMark[] = "HOSTILE-COUNT-MARKER";
const char kWordMark[] = "w-one-MARK";

Snapshot holder_snapshot() {
  Channel<std::uint64_t> a({.name = "a"}), b({.name = "b"});
  Scheduler s;
  s.spawn(Holder{.chans = {&a, &b}, .numbers = {kNumberMark, 2, 3}, .text = kTextMark, .words = {kWordMark}},
          {.name = "holder"});
  return persist::freeze(s, {.container = {.compression = Compression::kNone}});
}

// The archive offset of the count (an 8-byte little-endian `count`) found within
// 16 bytes before `at`, or npos.
std::size_t count_before(const std::string& archive, std::size_t at, std::uint64_t count) {
  for (std::size_t back = 8; back <= 16 && back <= at; ++back) {
    if (load_le64(archive, at - back) == count) return at - back;
  }
  return std::string::npos;
}

TEST(HostileSnapshot, HostileCountsAreRefusedWithoutAllocating) {
  const Snapshot holder = holder_snapshot();
  CorpusResult r = run_corpus(
      [&](Corpus& c) {
        const std::string archive = archive_of(holder);
        std::size_t numbers = archive.find(le64(kNumberMark));
        std::size_t text = archive.find(kTextMark);
        std::size_t word = archive.find(kWordMark);
        struct Count {
          const char* what;
          std::size_t offset;
        };
        std::vector<Count> counts = {
            {"vector<channel> count", load_le64(archive, 0) == 2 ? 0 : std::string::npos},
            {"vector<u64> count", numbers == std::string::npos ? numbers : count_before(archive, numbers, 3)},
            {"string length", text == std::string::npos ? text : count_before(archive, text, sizeof kTextMark - 1)},
            {"vector<string> count",
             word == std::string::npos || word < 8 ? std::string::npos : count_before(archive, word - 8, 1)},
        };
        for (const Count& count : counts) {
          if (count.offset == std::string::npos) {
            c.fail(count.what, std::string("not found in the archive"));
            continue;
          }
          // 2^40 cannot be allocated at all; 2^27 could (1 GiB of u64) but is refused before.
          for (std::uint64_t n : {std::uint64_t{1} << 40, std::uint64_t{1} << 27, ~std::uint64_t{0}}) {
            std::string patched = archive;
            store_le64(patched, count.offset, n);
            std::string name = std::string(count.what) + " = " + std::to_string(n);
            Snapshot bad = with_archive(holder, patched);
            c.check(name, bad, /*must_reject=*/true, "stasis::SnapshotCorrupt");
            Scheduler s;
            try {
              persist::thaw(bad, s);
            } catch (const SnapshotCorrupt& e) {
              std::string msg = e.what();
              // Refused by the archive's bound, naming the record, not by a failed allocation.
              if (msg.find("claims more than") == std::string::npos ||
                  msg.find("tasklets[0].frames[0] (frame type 'test.hostile.Holder' v1)") == std::string::npos) {
                c.fail(name, "unexpected message: " + msg);
              }
            } catch (const std::exception& e) {
              c.fail(name, std::string("unexpected error: ") + e.what());
            }
          }
        }

        // Cap'n Proto lists claiming huge counts: patch the raw message words.
        const std::string message = message_bytes(holder);
        auto pointer_of = [&](const char* field) { return root_pointer_word(message, field); };
        // A struct list whose tag (at word `tag`) claims 2^29-1 elements of zero size
        // (costless to claim: the traversal limit must stop it), then of one word
        // each (more than the segment holds).
        auto claim_struct_list = [&](const char* what, std::string m, std::size_t tag) {
          store_le64(m, 8 * tag, (std::uint64_t{(1u << 29) - 1} << 2));
          c.check(std::string(what) + " of 2^29-1 empty structs", encode_message(m), true, "stasis::SnapshotCorrupt");
          store_le64(m, 8 * tag, (std::uint64_t{(1u << 29) - 1} << 2) | (std::uint64_t{1} << 32));
          c.check(std::string(what) + " of 2^29-1 one-word structs", encode_message(m), true, "stasis::SnapshotCorrupt");
        };
        {
          // Format 2: the tasklets list.
          const std::string listed = message_bytes(mutate(holder, [](schema::Snapshot::Builder) {}, Compression::kNone,
                                                          Layout::kList));
          const std::size_t ptr = root_pointer_word(listed, "tasklets");
          if (word_at(listed, ptr) == 0) c.fail("tasklets", std::string("the list-layout copy has no tasklets list"));
          claim_struct_list("tasklets list", listed, target_of(listed, ptr));
        }
        {
          // Format 3: the table's extras (a struct list) and its ids column (a list
          // of 8-byte values claiming 2^29-1 of them).
          const std::size_t table = pointer_of("taskletTable");
          const std::size_t extras = pointer_field_word<schema::TaskletTable>(message, table, "extras");
          if (word_at(message, table) == 0 || word_at(message, extras) == 0) {
            c.fail("taskletTable", std::string("the frozen snapshot has no table with extras"));
          }
          claim_struct_list("taskletTable.extras", message, target_of(message, extras));
          std::string m = message;
          const std::size_t ids = pointer_field_word<schema::TaskletTable>(m, table, "ids");
          store_le64(m, 8 * ids, (word_at(m, ids) & 0xffffffffull) | (std::uint64_t{5} << 32) |
                                     (std::uint64_t{(1u << 29) - 1} << 35));
          c.check("taskletTable.ids of 2^29-1 values", encode_message(m), true, "stasis::SnapshotCorrupt");
        }
        {
          // archive: a byte list claiming 2^29-1 bytes.
          std::size_t ptr = pointer_of("archive");
          std::string m = message;
          std::uint64_t p = word_at(m, ptr);
          store_le64(m, 8 * ptr, (p & 0xffffffffull) | (std::uint64_t{2} << 32) | (std::uint64_t{(1u << 29) - 1} << 35));
          c.check("archive of 2^29-1 bytes", encode_message(m), true, "stasis::SnapshotCorrupt");
        }
        {
          // frameTypes: a list pointer whose target lies far outside the segment.
          std::size_t ptr = pointer_of("frameTypes");
          std::string m = message;
          std::uint64_t p = word_at(m, ptr);
          store_le64(m, 8 * ptr, (p & 0xffffffff00000003ull) | (std::uint64_t{(1u << 29) - 1} << 2));
          c.check("frameTypes pointing outside the segment", encode_message(m), true, "stasis::SnapshotCorrupt");
        }
        {
          // The segment table claiming a huge segment.
          std::string m = message;
          store_le64(m, 0, std::uint64_t{0xfffffff0u} << 32);
          c.check("segment of 2^32 words", encode_message(m), true, "stasis::SnapshotCorrupt");
        }
      },
#ifdef STASIS_TEST_UNDER_ASAN
      kNoLimit  // ASan reserves terabytes of shadow memory: no address-space limit then
#else
      rlim_t{1} << 30
#endif
  );
  report("hostile counts", r);
  EXPECT_EQ(r.loaded, 0);
  EXPECT_EQ(r.rejected, 4 * 3 + 8);
}

// --- Targeted mutations behind the validator. ---

TEST(HostileSnapshot, TargetedMutationsGiveTypedErrorsOrRun) {
  CorpusResult r = run_corpus([](Corpus& c) {
    const Snapshot& base = bases().plain;
    // A sleep of 2^63-1 ns left: valid, and must not overflow the timer arithmetic.
    Snapshot forever = mutate(base, [](schema::Snapshot::Builder root) {
      for (auto t : root.getTasklets()) {
        if (t.getWait().isSleep()) t.getWait().setSleep(INT64_MAX);
      }
    });
    c.check("sleep 2^63-1 ns", forever);
    {
      Scheduler s;
      persist::Thawed t = persist::thaw(forever, s);
      std::size_t sleeping = 0;
      for (const TaskletRef& x : t.tasklets()) sleeping += x->wait_kind() == WaitKind::kSleep;
      if (sleeping == 0 || s.pending_timers() != sleeping) c.fail("sleep 2^63-1 ns", "sleepers not restored");
    }

    // A bool field holding 2 (Guard.last_failed, the last byte of a Guard frame).
    Snapshot bad_bool = mutate(base, [](schema::Snapshot::Builder root) {
      std::uint32_t guard = 0;
      for (unsigned i = 0; i < root.getFrameTypes().size(); ++i) {
        if (std::string_view(root.getFrameTypes()[i].getName().cStr()) == "test.hostile.Guard") guard = i;
      }
      std::size_t offset = 0;
      for (auto t : root.getTasklets()) {
        for (auto f : t.getFrames()) {
          offset += f.getArchiveBytes();
          if (f.getType() == guard) {
            root.getArchive()[offset - 1] = 2;
            return;
          }
        }
        if (t.getHasSlot()) offset += t.getSlot().getArchiveBytes();
      }
    });
    c.check("bool holding 2", bad_bool, true, "stasis::SnapshotCorrupt");
    try {
      Scheduler s;
      persist::thaw(bad_bool, s);
    } catch (const SnapshotCorrupt& e) {
      std::string msg = e.what();
      if (msg.find("a bool holds the byte 2") == std::string::npos || msg.find("'test.hostile.Guard'") == std::string::npos) {
        c.fail("bool holding 2", "unexpected message: " + msg);
      }
    }

    // A resume point run() does not have: loads, and that tasklet fails with BadResumePoint.
    std::string victim;
    Snapshot bad_rp = mutate(base, [&](schema::Snapshot::Builder root) {
      for (auto t : root.getTasklets()) {
        if (victim.empty() && t.getStarted() && std::string_view(t.getName().cStr()).starts_with("walk-")) {
          victim = t.getName().cStr();
          t.getFrames()[0].setResumePoint(999);
        }
      }
    });
    c.check("resume point 999", bad_rp);
    {
      Scheduler s;
      persist::Thawed t = persist::thaw(bad_rp, s);
      TaskletRef walk = t.find(victim);
      if (!walk) return c.fail("resume point 999", "no started walk in the snapshot");
      if (t.interrupted()) t.interrupted()->insert();
      for (const TaskletRef& x : t.tasklets()) {
        if (x->alive()) x->set_atomic(false);
        if (x->wait_kind() == WaitKind::kSleep) x->kill();
      }
      for (int i = 0; i < 50 && walk->alive(); ++i) {
        try {
          if (TaskletRef p = s.run(500)) p->insert();
        } catch (const Deadlock&) {
          break;
        }
      }
      try {
        walk->rethrow_if_failed();
        c.fail("resume point 999", victim + " did not fail");
      } catch (const BadResumePoint&) {
      }
    }

    // The scheduler record (read only when the snapshot is committed) pointing
    // outside the message: refused before any tasklet exists.
    {
      std::string m = message_bytes(base);
      std::size_t ptr = root_pointer_word(m, "scheduler");
      store_le64(m, 8 * ptr, (word_at(m, ptr) & 0xffffffff00000003ull) | (std::uint64_t{(1u << 29) - 1} << 2));
      c.check("scheduler record outside the message", encode_message(m), true, "stasis::SnapshotCorrupt");
    }

    // Out-of-range priorities and states would index past the run queue.
    c.check("priority 100", mutate(base, [](schema::Snapshot::Builder root) { root.getTasklets()[0].setPriority(100); }),
            true, "stasis::SnapshotCorrupt");
    c.check("priority -17", mutate(base, [](schema::Snapshot::Builder root) { root.getTasklets()[3].setPriority(-17); }),
            true, "stasis::SnapshotCorrupt");
  });
  report("targeted", r);
  EXPECT_EQ(r.loaded, 2);
  EXPECT_EQ(r.rejected, 4);
}

}  // namespace
}  // namespace stasis::test
