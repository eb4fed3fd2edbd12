// tools/stasis-dump/native.cc — native tasklet records as text, the offline
// re-walk, and the structural checks of verify (see native.h).
#include "native.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <unordered_set>

#include "elf_build_id.h"
#include "render.h"
#include "stasis/arch/suspended.h"
#include "stasis/persist/stack_walk.h"

namespace stasis::dump {
namespace {

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return a > std::numeric_limits<std::uint64_t>::max() - b ? std::numeric_limits<std::uint64_t>::max() : a + b;
}

const char* this_architecture() {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "unknown";
#endif
}

std::string joined(const std::vector<std::string>& items, std::size_t max_items) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < max_items; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > max_items) out += " and " + std::to_string(items.size() - max_items) + " more";
  return out;
}

// The offline walk; on failure returns nullopt and says why in *why.
std::optional<std::vector<NativeFrameInfo>> rewalk(const Loaded& s, schema::NativeTasklet::Reader n,
                                                   std::string* why, std::string* partial) {
  if (!n.getStarted()) {
    *why = "the tasklet has not started: it has no stack";
    return std::nullopt;
  }
  std::string arch(text_view(s.root.getProducer().getArch()));
  if (arch != this_architecture()) {
    *why = "the snapshot was frozen on " + escaped(arch) + " and this dumper runs on " + this_architecture();
    return std::nullopt;
  }
  if (s.modules.size() == 0) {
    *why = "the snapshot records no module table";
    return std::nullopt;
  }
  std::vector<persist::WalkModule> modules;
  std::vector<std::string> missing, other_build;
  std::string main_problem = "the snapshot's module table names no main program";
  for (auto m : s.modules) {
    std::string path(text_view(m.getPath()));
    if (path.empty() || path[0] != '/') continue;  // no file: the vDSO ("linux-vdso.so.1")
    std::optional<std::string> id = try_elf_build_id(path);
    if (!id) {
      missing.push_back(escaped(base_name(path)));
      if (m.getMainProgram()) main_problem = "the program file " + escaped(path) + " is not on this machine";
      continue;
    }
    if (*id != text_view(m.getBuildId())) {
      other_build.push_back(escaped(base_name(path)));
      if (m.getMainProgram()) {
        main_problem = "the program file " + escaped(path) + " here is another build than the one that froze it";
      }
      continue;
    }
    modules.push_back({path, m.getBase()});
    if (m.getMainProgram()) main_problem.clear();
  }
  if (!main_problem.empty()) {
    *why = main_problem;
    return std::nullopt;
  }
  auto stack = n.getStack();
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(stack.begin()), stack.size());
  persist::ReadMemory read = persist::read_from_bytes(n.getContext(), bytes);
  std::optional<arch::RegisterSet> regs = arch::suspended_registers(n.getContext(), read);
  if (!regs) {
    *why = "the saved registers at the context are outside the stack bytes";
    return std::nullopt;
  }
  std::unique_ptr<persist::StackWalker> walker = persist::StackWalker::for_modules(modules);
  std::vector<NativeFrameInfo> out;
  for (const persist::WalkedFrame& f : walker->walk(*regs, read)) {
    out.push_back({f.pc, f.sp, f.function, f.file, static_cast<std::uint32_t>(std::max(f.line, 0)), f.module});
  }
  if (out.empty()) {
    *why = "the offline walk found no frames";
    return std::nullopt;
  }
  if (!missing.empty()) *partial = "not on this machine: " + joined(missing, 4);
  if (!other_build.empty()) {
    *partial += (partial->empty() ? "" : "; ") + std::string("another build here: ") + joined(other_build, 4);
  }
  return out;
}

}  // namespace

std::vector<NativeFrameInfo> recorded_frames(schema::NativeTasklet::Reader n,
                                             capnp::List<schema::Symbol>::Reader symbols) {
  std::vector<NativeFrameInfo> out;
  auto frames = n.getFrames();
  out.reserve(frames.size());
  for (auto f : frames) {
    NativeFrameInfo info{f.getPc(), f.getSp(), "", "", 0, ""};
    if (f.getSymbol() != 0 && f.getSymbol() <= symbols.size()) {  // out of range: verify reports it
      auto sym = symbols[f.getSymbol() - 1];
      info.function = std::string(text_view(sym.getFunction()));
      info.file = std::string(text_view(sym.getFile()));
      info.line = sym.getLine();
      info.module = std::string(text_view(sym.getModule()));
    }
    out.push_back(std::move(info));
  }
  return out;
}

NativeFrames native_frames(const Loaded& s, schema::NativeTasklet::Reader n, Rewalk mode) {
  NativeFrames r;
  r.frames = recorded_frames(n, s.root.getSymbols());
  bool named = std::any_of(r.frames.begin(), r.frames.end(), [](const NativeFrameInfo& f) { return !f.function.empty(); });
  if (mode == Rewalk::kAuto && (named || !n.getStarted())) return r;
  std::string why, partial;
  if (auto walked = rewalk(s, n, &why, &partial)) {
    r.frames = std::move(*walked);
    r.rewalked = true;
    if (!partial.empty()) r.note = "modules left out of the walk (" + partial + ")";
  } else {
    r.note = "not re-walked: " + why;
  }
  return r;
}

std::string address_text(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string base_name(std::string_view path) {
  std::size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos || slash + 1 == path.size() ? path : path.substr(slash + 1));
}

std::string native_frame_text(std::size_t k, const NativeFrameInfo& f) {
  std::string out = "#" + std::to_string(k) + " " + (f.function.empty() ? std::string("??") : escaped(f.function));
  if (!f.file.empty()) out += " (" + escaped(f.file) + ":" + std::to_string(f.line) + ")";
  out += " [" + (f.module.empty() ? std::string("?") : escaped(base_name(f.module))) + "]";
  return out + " pc=" + address_text(f.pc) + " sp=" + address_text(f.sp);
}

std::array<std::uint64_t, 8> relocation_counts(schema::NativeTasklet::Reader n) {
  std::array<std::uint64_t, 8> counts{};
  for (auto r : n.getRelocations()) {
    switch (r.getTarget().which()) {
      case schema::Relocation::Target::TASKLET: ++counts[0]; break;
      case schema::Relocation::Target::FRAME: ++counts[1]; break;
      case schema::Relocation::Target::CHANNEL: ++counts[2]; break;
      case schema::Relocation::Target::SCHEDULER: ++counts[3]; break;
      case schema::Relocation::Target::NATIVE_THREAD: ++counts[4]; break;
      case schema::Relocation::Target::EXTERNAL: ++counts[5]; break;
      case schema::Relocation::Target::THREAD_POINTER: ++counts[6]; break;
      default: ++counts[7]; break;
    }
  }
  return counts;
}

std::string relocation_counts_text(schema::NativeTasklet::Reader n) {
  std::array<std::uint64_t, 8> counts = relocation_counts(n);
  std::string parts;
  std::uint64_t total = 0;
  for (std::size_t k = 0; k < counts.size(); ++k) {
    if (counts[k] == 0) continue;
    total += counts[k];
    parts += (parts.empty() ? "" : ", ") + std::to_string(counts[k]) + " " + kRelocationKinds[k];
  }
  return parts.empty() ? "0" : std::to_string(total) + " (" + parts + ")";
}

std::uint64_t arena_bytes(schema::NativeTasklet::Reader n) {
  std::uint64_t total = 0;
  for (auto r : n.getArenaRuns()) total = saturating_add(total, r.getBytes().size());
  return total;
}

std::uint64_t arena_mapped(schema::NativeTasklet::Reader n) {
  std::uint64_t total = 0;
  for (auto r : n.getArenaRuns()) total = saturating_add(total, r.getMapped());
  return total;
}

std::string summary_text(schema::WordSummary::Reader w) {
  return count_text(w.getWords(), "word") + ": own stack " + std::to_string(w.getOwnStack()) + ", arena " +
         std::to_string(w.getArena()) + ", module " + std::to_string(w.getModule()) + ", relocated " +
         std::to_string(w.getRelocated()) + ", plain " + std::to_string(w.getPlain()) + ", dead stack " +
         std::to_string(w.getDeadStack());
}

std::string module_text(schema::Module::Reader m) {
  std::string flags;
  if (m.getMainProgram()) flags = "main program";
  if (m.getReferenced()) flags += flags.empty() ? "referenced" : ", referenced";
  std::string id = m.getBuildId().size() ? escaped(text_view(m.getBuildId())) : "(none)";
  return (m.getPath().size() ? escaped(text_view(m.getPath())) : "?") + " build-id " + id + " base " +
         address_text(m.getBase()) + (flags.empty() ? "" : " (" + flags + ")");
}

void print_native(const Loaded& s, schema::Tasklet::Reader t, Rewalk mode, std::ostream& out) {
  auto n = t.getNative();
  auto field = [&](std::string_view key, const std::string& value) {
    out << "  " << key << std::string(key.size() < 13 ? 13 - key.size() : 1, ' ') << value << '\n';
  };
  if (n.getStarted()) {
    field("stack", count_text(n.getStack().size(), "byte") + " [" + address_text(n.getContext()) + ", " +
                       address_text(n.getRegionHigh()) + ")");
  } else {
    field("stack", "- (not started)");
  }
  std::uint64_t low = n.getRegionLow(), high = n.getRegionHigh();
  field("region", "[" + address_text(low) + ", " + address_text(high) + ")" +
                      (high > low ? ", " + count_text(high - low, "byte") : std::string()));
  field("callable", count_text(n.getCallable().size(), "byte") + " at " + address_text(n.getCallableAddress()) +
                        " in the frame object " + address_text(n.getFrameAddress()) + " (" +
                        count_text(n.getFrameSize(), "byte") + "), ops " + address_text(n.getCallableOps()));
  auto runs = n.getArenaRuns();
  if (runs.size() == 0 && n.getShare() == 0) {
    field("arena", "-");
  } else {
    field("arena", "share " + address_text(n.getShare()) + ", " + count_text(runs.size(), "run") + ", " +
                       count_text(arena_bytes(n), "byte") + " used of " + std::to_string(arena_mapped(n)) + " mapped");
  }
  field("relocations", relocation_counts_text(n));
  field("summary", summary_text(n.getSummary()));
  NativeFrames f = native_frames(s, n, mode);
  field("frames", std::to_string(f.frames.size()) + ", innermost first" +
                      (f.rewalked ? " (re-walked offline from the module files)" : " (as recorded by freeze)"));
  if (!f.note.empty()) field("note", f.note);
  if (!f.frames.empty()) out << '\n';
  for (std::size_t k = 0; k < f.frames.size(); ++k) out << native_frame_text(k, f.frames[k]) << '\n';
}

std::vector<std::string> check_native_records(schema::Snapshot::Reader root, std::size_t max_problems) {
  std::vector<std::string> problems;
  bool hit_limit = false;
  if (max_problems == 0) max_problems = 1;
  auto report = [&](std::string line) {
    if (problems.size() < max_problems) problems.push_back(std::move(line));
    else hit_limit = true;
  };
  auto tasklets = root.getTasklets();
  std::unordered_set<std::uint64_t> ids, native_ids;
  for (auto t : tasklets) {
    ids.insert(t.getId());
    if (t.hasNative()) native_ids.insert(t.getId());
  }
  if (native_ids.empty()) return problems;
  if (root.getModules().size() == 0) report("modules: a snapshot with native tasklets must record its module table");
  for (std::uint32_t i = 0; i < tasklets.size() && !hit_limit; ++i) {
    auto t = tasklets[i];
    if (!t.hasNative()) continue;
    auto n = t.getNative();
    const std::string where = "tasklets[" + std::to_string(i) + "].native";
    const std::uint64_t low = n.getRegionLow(), high = n.getRegionHigh(), ctx = n.getContext();
    const std::uint64_t stack_size = n.getStack().size();
    bool stack_ok = true;
    if (n.getStarted()) {
      if (low >= high || ctx < low || ctx >= high || ctx % 8 != 0) {
        report(where + ": context " + address_text(ctx) + " is not an aligned address inside its region [" +
               address_text(low) + ", " + address_text(high) + ")");
        stack_ok = false;
      } else if (stack_size != high - ctx) {
        report(where + ": its stack has " + count_text(stack_size, "byte") + ", but [context, regionHigh) spans " +
               std::to_string(high - ctx));
        stack_ok = false;
      }
    } else if (stack_size != 0) {
      report(where + ": the tasklet has not started but its stack has " + count_text(stack_size, "byte"));
    }
    const std::uint64_t frame = n.getFrameAddress(), callable = n.getCallableAddress();
    const std::uint64_t callable_size = n.getCallable().size();
    if (callable < frame || callable_size > std::numeric_limits<std::uint64_t>::max() - callable ||
        frame > std::numeric_limits<std::uint64_t>::max() - n.getFrameSize() ||
        callable + callable_size > frame + n.getFrameSize()) {
      report(where + ": the callable's bytes lie outside its frame object");
    }
    auto runs = n.getArenaRuns();
    if (runs.size() > 0 && n.getShare() != runs[0].getAddress()) {
      report(where + ": its share " + address_text(n.getShare()) + " does not start its first arena run");
    } else if (runs.size() == 0 && n.getShare() != 0) {
      report(where + ": it names an arena share but has no arena runs");
    }
    for (std::uint32_t k = 0; k < runs.size(); ++k) {
      if (runs[k].getBytes().size() > runs[k].getMapped()) {
        report(where + ".arenaRuns[" + std::to_string(k) + "]: " + count_text(runs[k].getBytes().size(), "byte") +
               " used but only " + std::to_string(runs[k].getMapped()) + " mapped");
      }
    }
    auto relocations = n.getRelocations();
    for (std::uint32_t k = 0; k < relocations.size() && !hit_limit; ++k) {
      auto r = relocations[k];
      const std::string rw = where + ".relocations[" + std::to_string(k) + "]";
      const std::uint64_t at = r.getAt();
      auto inside = [at](std::uint64_t begin, std::uint64_t size) {
        return at >= begin && at - begin <= size && size - (at - begin) >= 8;
      };
      bool placed = at % 8 == 0 && ((n.getStarted() && stack_ok && inside(ctx, stack_size)) || inside(callable, callable_size));
      for (std::uint32_t j = 0; !placed && j < runs.size(); ++j) {
        placed = at % 8 == 0 && inside(runs[j].getAddress(), runs[j].getBytes().size());
      }
      if (!placed) report(rw + ": the word at " + address_text(at) + " is in none of the tasklet's stack, callable or arena runs");
      auto target = r.getTarget();
      switch (target.which()) {
        case schema::Relocation::Target::TASKLET:
          if (!ids.count(target.getTasklet())) {
            report(rw + ": names tasklet #" + std::to_string(target.getTasklet()) + ", which is not in the snapshot");
          }
          break;
        case schema::Relocation::Target::FRAME:
          if (!native_ids.count(target.getFrame())) {
            report(rw + ": names the frame of tasklet #" + std::to_string(target.getFrame()) +
                   ", which is not a native tasklet of the snapshot");
          }
          break;
        case schema::Relocation::Target::CHANNEL:
        case schema::Relocation::Target::SCHEDULER:
        case schema::Relocation::Target::NATIVE_THREAD:
        case schema::Relocation::Target::THREAD_POINTER:
        case schema::Relocation::Target::EXTERNAL: break;  // channel range, external names: check_snapshot
        default: report(rw + ": has an unknown target kind"); break;
      }
    }
    auto frames = n.getFrames();
    for (std::uint32_t k = 0; k < frames.size(); ++k) {
      const std::uint64_t sp = frames[k].getSp();
      if (n.getStarted() && stack_ok && (sp < ctx || sp > high)) {  // the root frame may be empty: sp == high
        report(where + ".frames[" + std::to_string(k) + "]: sp " + address_text(sp) + " is outside the stack [" +
               address_text(ctx) + ", " + address_text(high) + "]");
        break;
      }
      if (k > 0 && sp <= frames[k - 1].getSp()) {
        report(where + ".frames[" + std::to_string(k) + "]: sp " + address_text(sp) +
               " does not grow from the inner frame's " + address_text(frames[k - 1].getSp()));
        break;
      }
    }
  }
  if (hit_limit && max_problems > 1) problems.push_back("(stopped after " + count_text(problems.size(), "problem") + ")");
  return problems;
}

}  // namespace stasis::dump
