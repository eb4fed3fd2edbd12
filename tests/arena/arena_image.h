// arena_image.h — test helpers: a share's runs captured as owned bytes (what a
// snapshot would hold), written to and read from a file, and a map built in a share.
#ifndef STASIS_TESTS_ARENA_IMAGE_H_
#define STASIS_TESTS_ARENA_IMAGE_H_

#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "stasis/arena.h"

namespace arena_test {

namespace arena = stasis::arena;

struct Image {
  std::uintptr_t root = 0;  // an object in the share the test wants back
  std::size_t in_use = 0;   // bytes_in_use() when captured
  std::vector<arena::Run> runs;
  std::vector<std::vector<std::byte>> bytes;

  std::vector<arena::RunImage> views() const {
    std::vector<arena::RunImage> v;
    for (std::size_t i = 0; i < runs.size(); ++i) v.push_back({runs[i].address, runs[i].mapped, bytes[i]});
    return v;
  }
};

inline Image capture(const arena::Share* s, const void* root) {
  Image im;
  im.root = reinterpret_cast<std::uintptr_t>(root);
  im.in_use = arena::bytes_in_use(s);
  im.runs = arena::runs(s);
  for (const arena::Run& r : im.runs) {
    const auto* p = reinterpret_cast<const std::byte*>(r.address);
    im.bytes.emplace_back(p, p + r.used);
  }
  return im;
}

inline bool write_image(const std::string& path, const Image& im) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  std::uint64_t head[3] = {im.root, im.in_use, im.runs.size()};
  bool ok = std::fwrite(head, sizeof head, 1, f) == 1;
  for (std::size_t i = 0; ok && i < im.runs.size(); ++i) {
    std::uint64_t r[3] = {im.runs[i].address, im.runs[i].mapped, im.runs[i].used};
    ok = std::fwrite(r, sizeof r, 1, f) == 1 && std::fwrite(im.bytes[i].data(), 1, im.runs[i].used, f) == im.runs[i].used;
  }
  return std::fclose(f) == 0 && ok;
}

inline bool read_image(const std::string& path, Image& im) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  std::uint64_t head[3];
  bool ok = std::fread(head, sizeof head, 1, f) == 1 && head[2] < 100000;
  if (ok) {
    im.root = head[0];
    im.in_use = head[1];
    for (std::uint64_t i = 0; ok && i < head[2]; ++i) {
      std::uint64_t r[3];
      ok = std::fread(r, sizeof r, 1, f) == 1 && r[2] <= r[1] && r[2] < (std::uint64_t{1} << 32);
      if (!ok) break;
      im.runs.push_back({r[0], r[1], r[2]});
      im.bytes.emplace_back(r[2]);
      ok = std::fread(im.bytes.back().data(), 1, r[2], f) == r[2];
    }
  }
  std::fclose(f);
  return ok;
}

// Runs f in a forked child; its exit status: 0 if f returned true.
inline int in_child(const std::function<bool()>& f) {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    bool ok = false;
    try {
      ok = f();
    } catch (...) {
    }
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

using Map = std::map<std::string, std::vector<int>>;

// A map with strings, vectors of many sizes, erased entries and one large block
// (`big` ints), all made in s.
inline Map* build_map(arena::Share* s, std::size_t big = 100000) {
  arena::ScopedShare in(s);
  auto* m = new Map;
  for (int i = 0; i < 300; ++i) (*m)["the key number " + std::to_string(i)] = std::vector<int>(i % 50 + 1, i);
  for (int i = 0; i < 300; i += 3) m->erase("the key number " + std::to_string(i));
  (*m)["big"] = std::vector<int>(big, 42);
  return m;
}

inline bool map_intact(const Map& m, std::size_t big_size = 100000) {
  if (m.size() != 201) return false;
  for (int i = 0; i < 300; ++i) {
    auto it = m.find("the key number " + std::to_string(i));
    if (i % 3 == 0) {
      if (it != m.end()) return false;
    } else if (it == m.end() || it->second != std::vector<int>(i % 50 + 1, i)) {
      return false;
    }
  }
  auto big = m.find("big");
  return big != m.end() && big->second == std::vector<int>(big_size, 42);
}

// The partition of `node` under the current options.
inline std::pair<std::uintptr_t, std::uintptr_t> partition_of(std::uint32_t node) {
  const arena::ArenaOptions& o = arena::options();
  std::uintptr_t low = o.base + std::uintptr_t{node} * o.partition_size;
  return {low, low + o.partition_size};
}

}  // namespace arena_test

#endif  // STASIS_TESTS_ARENA_IMAGE_H_
