// address_space.cc — reading /proc/self/maps and the loaded objects' segments.
#include "address_space.h"

#include "stasis/arch/platform.h"

#include <link.h>
#include <pthread.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace stasis::persist::native {

namespace {

// glibc's thread control block (struct pthread) is about 2 KiB on x86_64 and
// aarch64; a word pointing into it is thread state as much as a TLS variable is.
constexpr std::uint64_t kThreadControlBytes = 4096;

const Region* find_in(const std::vector<Region>& v, std::uint64_t a) noexcept {
  auto it = std::upper_bound(v.begin(), v.end(), a, [](std::uint64_t x, const Region& r) { return x < r.low; });
  if (it == v.begin()) return nullptr;
  --it;
  return a < it->high ? &*it : nullptr;
}

void sort_and_trim(std::vector<Region>& v) {
  std::sort(v.begin(), v.end(), [](const Region& a, const Region& b) { return a.low < b.low; });
  // Overlaps (a TLS block inside a module's data segment, say): the later one starts
  // where the earlier one ends; the precise entries were added first.
  for (std::size_t i = 1; i < v.size(); ++i) {
    if (v[i].low < v[i - 1].high) v[i].low = std::min(v[i - 1].high, v[i].high);
  }
  v.erase(std::remove_if(v.begin(), v.end(), [](const Region& r) { return r.low >= r.high; }), v.end());
}

}  // namespace

AddressSpace AddressSpace::of_this_process() {
  AddressSpace as;
  // Thread-local storage first: it may lie inside a mapping described below.
  std::vector<Region> tls;
  struct Ctx {
    std::vector<Region>* modules;
    std::vector<Region>* tls;
  } ctx{&as.precise_, &tls};
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* arg) {
        auto* c = static_cast<Ctx*>(arg);
        std::string name = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : "the program";
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type == PT_LOAD) {
            c->modules->push_back({info->dlpi_addr + ph.p_vaddr, info->dlpi_addr + ph.p_vaddr + ph.p_memsz,
                                   RegionKind::kModule, name});
          } else if (ph.p_type == PT_TLS && info->dlpi_tls_data) {
            auto low = reinterpret_cast<std::uint64_t>(info->dlpi_tls_data);
            c->tls->push_back({low, low + std::max<std::uint64_t>(ph.p_memsz, 1), RegionKind::kThreadLocal, name});
          }
        }
        return 0;
      },
      &ctx);
  // The thread control block: above the thread pointer on x86_64 (TLS below it),
  // below it on aarch64 (struct pthread, then the TLS blocks from tp + 16 on).
  const auto self = reinterpret_cast<std::uint64_t>(pthread_self());
  const std::uint64_t tp = arch::thread_pointer();
  const std::uint64_t tcb_low = std::min(self, tp);
  const std::uint64_t tcb_high = self < tp ? tp + 16 : tp + kThreadControlBytes;
  tls.push_back({tcb_low, tcb_high, RegionKind::kThreadLocal, "the thread control block"});
  // TLS blocks are more precise than the module segments (static TLS of the main
  // program is not inside its segments, but guard against overlap all the same).
  for (Region& r : as.precise_) tls.push_back(std::move(r));
  as.precise_ = std::move(tls);
  sort_and_trim(as.precise_);

  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long long low = 0, high = 0, offset = 0, inode = 0;
    char perms[8] = {}, dev[16] = {};
    int consumed = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %15s %llu %n", &low, &high, perms, &offset, dev, &inode,
                    &consumed) < 6) {
      continue;
    }
    std::string name = consumed > 0 && static_cast<std::size_t>(consumed) <= line.size() ? line.substr(consumed) : "";
    Region r{low, high, RegionKind::kAnonymous, name};
    if (name == "[heap]") r.kind = RegionKind::kHeap;
    else if (name == "[stack]") r.kind = RegionKind::kMainStack;
    else if (name.starts_with("[vdso]")) r.kind = RegionKind::kModule;
    else if (name.starts_with("[")) r.kind = RegionKind::kOther;
    else if (!name.empty()) r.kind = RegionKind::kFile;
    as.mappings_.push_back(std::move(r));
  }
  sort_and_trim(as.mappings_);
  // Where malloc's main heap is (qemu-user does not name the guest's [heap]): the
  // mapping that holds a fresh small block.
  if (void* probe = std::malloc(16)) {
    const auto p = reinterpret_cast<std::uint64_t>(probe);
    for (Region& r : as.mappings_) {
      if (p >= r.low && p < r.high && r.kind == RegionKind::kAnonymous) r.kind = RegionKind::kHeap;
    }
    std::free(probe);
  }
  as.lowest_ = UINT64_MAX;
  as.highest_ = 0;
  for (const auto* v : {&as.precise_, &as.mappings_}) {
    if (v->empty()) continue;
    as.lowest_ = std::min(as.lowest_, v->front().low);
    as.highest_ = std::max(as.highest_, v->back().high);
  }
  return as;
}

const Region* AddressSpace::find(std::uint64_t a) const noexcept {
  if (a < lowest_ || a >= highest_) return nullptr;
  if (const Region* r = find_in(precise_, a)) return r;
  return find_in(mappings_, a);
}

std::string AddressSpace::describe(const Region& r) {
  char range[64];
  std::snprintf(range, sizeof range, "[0x%llx, 0x%llx)", static_cast<unsigned long long>(r.low),
                static_cast<unsigned long long>(r.high));
  switch (r.kind) {
    case RegionKind::kModule: return "code or data of " + r.name;
    case RegionKind::kThreadLocal:
      return r.name == "the thread control block" ? "the thread control block (thread-local state)"
                                                  : "thread-local storage of " + r.name;
    case RegionKind::kMainStack: return "the main thread's stack";
    case RegionKind::kHeap: return "the malloc heap (outside the arena)";
    case RegionKind::kAnonymous:
      return std::string("anonymous memory ") + range +
             " (a large malloc block, another thread's stack or a dedicated tasklet stack, or another allocator's memory)";
    case RegionKind::kFile: return "a mapping of the file " + r.name;
    case RegionKind::kOther: return "the special mapping " + r.name;
  }
  return "unknown memory";
}

}  // namespace stasis::persist::native
