// layout.cc — the fixed address-space layout native persistence relies on: the
// one-time relaunch without ASLR and the module table (stasis/persist/native.h).
#include <elf.h>
#include <link.h>
#include <sys/personality.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "stasis/persist/native.h"

namespace stasis::persist {

namespace {

constexpr const char* kRelaunchedEnv = "STASIS_LAYOUT_RELAUNCHED";
constexpr const char* kKeepAslrEnv = "STASIS_KEEP_ASLR";

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string self_exe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  return std::string(buf, static_cast<std::size_t>(n));
}

// The GNU build-id note of one loaded object, as hex ("" if none).
std::string build_id_of(const dl_phdr_info* info) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const auto* n = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const char* name = p + sizeof(ElfW(Nhdr));
      const char* desc = name + ((n->n_namesz + 3) & ~3u);
      const char* next = desc + ((n->n_descsz + 3) & ~3u);
      if (next > end) break;
      if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
        std::string out;
        static const char* digits = "0123456789abcdef";
        for (unsigned k = 0; k < n->n_descsz; ++k) {
          const auto b = static_cast<unsigned char>(desc[k]);
          out += digits[b >> 4];
          out += digits[b & 15];
        }
        return out;
      }
      p = next;
    }
  }
  return "";
}

}  // namespace

bool layout_randomized() noexcept {
  const int p = personality(0xffffffff);
  return p == -1 || !(p & ADDR_NO_RANDOMIZE);
}

void ensure_fixed_layout(int argc, char** argv) {
  (void)argc;
  if (!layout_randomized()) return;
  if (const char* keep = std::getenv(kKeepAslrEnv); keep && std::strcmp(keep, "1") == 0) return;
  if (std::getenv(kRelaunchedEnv)) return;  // tried once: the exec happened but did not take
  const int before = personality(0xffffffff);
  if (before == -1 || personality(static_cast<unsigned long>(before) | ADDR_NO_RANDOMIZE) == -1) return;
  setenv(kRelaunchedEnv, "1", 1);
  execv("/proc/self/exe", argv);
  // No exec (an emulator without binfmt_misc, a restricted /proc): go on as we are.
  personality(static_cast<unsigned long>(before));
  unsetenv(kRelaunchedEnv);
}

std::vector<Module> module_table() {
  std::vector<Module> out;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* arg) {
        auto& list = *static_cast<std::vector<Module>*>(arg);
        Module m;
        m.main_program = list.empty();
        m.path = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : "";
        if (m.main_program && m.path.empty()) m.path = self_exe();
        m.build_id = build_id_of(info);
        m.base = info->dlpi_addr;
        list.push_back(std::move(m));
        return 0;
      },
      &out);
  return out;
}

std::vector<std::string> module_differences(const std::vector<Module>& recorded, const std::vector<Module>& here) {
  std::vector<std::string> diffs;
  auto find = [&](const Module& m) -> const Module* {
    for (const Module& h : here) {
      if (m.main_program ? h.main_program : (!h.main_program && h.path == m.path)) return &h;
    }
    return nullptr;
  };
  for (const Module& m : recorded) {
    const std::string name = m.main_program ? "the program (" + m.path + ")" : m.path;
    const Module* h = find(m);
    if (!h) {
      if (!m.referenced) continue;
      diffs.push_back(name + ": loaded in the snapshot's process, not in this one (load it before restoring)");
      continue;
    }
    if (h->build_id != m.build_id) {
      diffs.push_back(name + ": build-id " + (m.build_id.empty() ? "(none)" : m.build_id) + " in the snapshot, " +
                      (h->build_id.empty() ? "(none)" : h->build_id) +
                      " here: a different build; restore with the very binary that froze it");
    }
    if (h->base != m.base) {
      diffs.push_back(name + ": loaded at " + hex(m.base) + " in the snapshot, at " + hex(h->base) + " here" +
                      (layout_randomized() ? " (this process runs with address-space randomization on: call "
                                             "stasis::persist::ensure_fixed_layout(argc, argv) at the top of main)"
                                           : ""));
    }
  }
  return diffs;
}

}  // namespace stasis::persist
