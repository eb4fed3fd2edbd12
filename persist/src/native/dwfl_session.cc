// dwfl_session.cc — the libdw side of the stack walker: modules reported to one
// Dwfl, CFI rows compiled into CompiledRule, symbols and lines, libdw's unwinder.
//
// Everything read from a walked stack goes through the caller's ReadMemory; libdw
// itself only reads the module files. A hostile snapshot can make us open the
// files its module table names (for_modules), nothing else.
#include "dwfl_session.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <link.h>

#include <climits>
#include <cstdlib>
#include <string>

namespace stasis::persist::native {
namespace {

constexpr int kSlots = RegisterSet::kSlots;

char* no_debuginfo_path = nullptr;  // libdw's default search path for separate debug files
const Dwfl_Callbacks kOfflineCallbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &no_debuginfo_path,
};

std::string demangle(const char* name) {
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || !out) return name;
  std::string s(out);
  std::free(out);
  return s;
}

// file:line of the call that the outermost inlined subroutine at `address`
// replaced, i.e. the line within the real (symbol) function. False if `address`
// is not in inlined code (or there is no DWARF).
bool outermost_inline_call(Dwfl_Module* mod, std::uint64_t address, std::string* file, int* line) {
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(mod, address, &bias);
  if (!cu) return false;
  Dwarf_Die* scopes = nullptr;
  int n = dwarf_getscopes(cu, address - bias, &scopes);
  if (n <= 0) return false;
  Dwarf_Die* outer = nullptr;  // scopes are innermost first
  for (int i = 0; i < n; ++i) {
    int tag = dwarf_tag(&scopes[i]);
    if (tag == DW_TAG_subprogram) break;
    if (tag == DW_TAG_inlined_subroutine) outer = &scopes[i];
  }
  bool found = false;
  Dwarf_Attribute attr;
  Dwarf_Word call_file = 0, call_line = 0;
  Dwarf_Files* files = nullptr;
  size_t nfiles = 0;
  if (outer && dwarf_formudata(dwarf_attr(outer, DW_AT_call_file, &attr), &call_file) == 0 &&
      dwarf_formudata(dwarf_attr(outer, DW_AT_call_line, &attr), &call_line) == 0 &&
      dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && call_file < nfiles && call_line <= INT_MAX) {
    if (const char* f = dwarf_filesrc(files, call_file, nullptr, nullptr)) {
      *file = f;
      *line = static_cast<int>(call_line);
      found = true;
    }
  }
  std::free(scopes);
  return found;
}

// --- libdw's unwinder: one pretend thread whose registers and memory are the walk's. ---
struct LibdwWalk {
  const RegisterSet* regs;
  const ReadMemory* read;
  std::vector<UnwoundFrame>* out;
  std::size_t start, max;
};
thread_local LibdwWalk* tls_walk = nullptr;  // the walk in progress on this thread

pid_t next_thread(Dwfl*, void* arg, void** thread_argp) {
  if (*thread_argp) return 0;
  *thread_argp = arg;
  return 1;
}

bool memory_read(Dwfl*, Dwarf_Addr address, Dwarf_Word* result, void*) {
  std::uint64_t word = 0;
  if (!tls_walk || !(*tls_walk->read)(address, &word)) return false;
  *result = word;
  return true;
}

bool set_initial_registers(Dwfl_Thread* thread, void*) {
  const RegisterSet& regs = *tls_walk->regs;
  const arch::SwitchBlock& block = arch::switch_block();
  for (int r = 0; r < kSlots; ++r) {
    Dwarf_Word v = r == block.dwarf_sp ? regs.sp : regs.gpr[static_cast<std::size_t>(r)];
    if (regs.has(r) || r == block.dwarf_sp) dwfl_thread_state_registers(thread, r, 1, &v);
  }
  dwfl_thread_state_register_pc(thread, regs.pc);
  return true;
}

const Dwfl_Thread_Callbacks kThreadCallbacks = {
    .next_thread = next_thread,
    .get_thread = nullptr,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
    .detach = nullptr,
    .thread_detach = nullptr,
};

int on_libdw_frame(Dwfl_Frame* state, void* arg) {
  auto* w = static_cast<LibdwWalk*>(arg);
  const arch::SwitchBlock& block = arch::switch_block();
  Dwarf_Addr pc = 0;
  Dwarf_Word sp = 0;
  if (!dwfl_frame_pc(state, &pc, nullptr) || dwfl_frame_reg(state, static_cast<unsigned>(block.dwarf_sp), &sp) != 0) {
    return DWARF_CB_ABORT;
  }
  if (w->out->size() > w->start) {
    UnwoundFrame& prev = w->out->back();
    if (sp <= prev.sp) return DWARF_CB_ABORT;  // a stack that does not grow: garbage or a loop
    prev.cfa = sp;
  }
  w->out->push_back(UnwoundFrame{pc & block.code_address_mask, sp, 0, 0});
  return w->out->size() - w->start >= w->max ? DWARF_CB_ABORT : DWARF_CB_OK;
}

}  // namespace

std::vector<WalkModule> DwflSession::live_modules(unsigned long long* adds) {
  struct Collect {
    std::vector<WalkModule> modules;
    unsigned long long adds = 0;
    bool first = true;
  } c;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t size, void* arg) {
        auto* c = static_cast<Collect*>(arg);
        if (size >= offsetof(dl_phdr_info, dlpi_adds) + sizeof(info->dlpi_adds)) c->adds = info->dlpi_adds;
        const char* name = info->dlpi_name ? info->dlpi_name : "";
        if (c->first) {
          c->first = false;
          char path[PATH_MAX];
          if (*name == '\0' && realpath("/proc/self/exe", path)) name = path;
          c->modules.push_back(WalkModule{name, info->dlpi_addr});
        } else if (*name == '/') {  // not the vDSO ("linux-vdso.so.1": no file)
          c->modules.push_back(WalkModule{name, info->dlpi_addr});
        }
        return 0;
      },
      &c);
  *adds = c.adds;
  return c.modules;
}

std::unique_ptr<DwflSession> DwflSession::open(std::span<const WalkModule> modules, bool live) {
  std::unique_ptr<DwflSession> s(new DwflSession);
  s->dwfl_ = dwfl_begin(&kOfflineCallbacks);
  if (!s->dwfl_) return nullptr;
  s->live_ = live;
  std::vector<WalkModule> own;
  if (live) {
    own = live_modules(&s->adds_);
    modules = own;
  }
  s->report(modules, false);
  return s;
}

DwflSession::~DwflSession() {
  if (dwfl_) dwfl_end(dwfl_);
}

bool DwflSession::report(std::span<const WalkModule> modules, bool add) {
  if (add) {
    dwfl_report_begin_add(dwfl_);
  } else {
    dwfl_report_begin(dwfl_);
  }
  bool any = false;
  for (const WalkModule& m : modules) {
    if (m.path.empty()) continue;
    bool seen = false;
    for (const WalkModule& r : reported_) seen = seen || (r.path == m.path && r.load_bias == m.load_bias);
    if (seen) continue;
    // Fails (and is skipped) for an unreadable file or one overlapping a reported module.
    if (dwfl_report_elf(dwfl_, m.path.c_str(), m.path.c_str(), -1, m.load_bias, false)) {
      reported_.push_back(m);
      any = true;
    }
  }
  dwfl_report_end(dwfl_, nullptr, nullptr);
  return any;
}

bool DwflSession::refresh_live_modules() {
  if (!live_) return false;
  unsigned long long adds = 0;
  std::vector<WalkModule> now = live_modules(&adds);
  if (adds == adds_) return false;
  adds_ = adds;
  return report(now, true);
}

CompiledRule DwflSession::compile(std::uint64_t address) {
  CompiledRule rule;
  Dwfl_Module* mod = dwfl_addrmodule(dwfl_, address);
  if (!mod && refresh_live_modules()) mod = dwfl_addrmodule(dwfl_, address);
  if (!mod) return rule;  // kNoCfi
  Dwarf_Frame* frame = nullptr;
  Dwarf_Addr bias = 0;
  Dwarf_CFI* cfi = dwfl_module_eh_cfi(mod, &bias);
  if (!cfi || dwarf_cfi_addrframe(cfi, address - bias, &frame) != 0) {
    frame = nullptr;
    cfi = dwfl_module_dwarf_cfi(mod, &bias);
    if (!cfi || dwarf_cfi_addrframe(cfi, address - bias, &frame) != 0) return rule;
  }
  std::unique_ptr<Dwarf_Frame, void (*)(void*)> owned(frame, std::free);

  bool signal = false;
  int ra = dwarf_frame_info(frame, nullptr, nullptr, &signal);
  if (ra < 0 || ra >= kSlots) return rule;
  rule.kind = CompiledRule::Kind::kGeneric;
  if (signal) return rule;
  rule.ra_column = static_cast<std::uint8_t>(ra);

  Dwarf_Op* ops = nullptr;
  std::size_t nops = 0;
  if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops == 0) {
    rule.kind = CompiledRule::Kind::kNoCfi;
    return rule;
  }
  if (nops != 1 || ops[0].atom != DW_OP_bregx || ops[0].number >= static_cast<Dwarf_Word>(kSlots)) return rule;
  rule.cfa_reg = static_cast<std::uint8_t>(ops[0].number);
  rule.cfa_offset = static_cast<std::int64_t>(ops[0].number2);

  const int sp_reg = arch::switch_block().dwarf_sp;
  for (int r = 0; r < kSlots; ++r) {
    if (r == sp_reg) continue;  // the caller's sp is the CFA, on both platforms
    Dwarf_Op mem[3];
    if (dwarf_frame_register(frame, r, mem, &ops, &nops) != 0) {
      rule.undefined |= std::uint32_t{1} << r;
      continue;
    }
    if (nops == 0) {
      if (ops) rule.undefined |= std::uint32_t{1} << r;  // ops == mem: undefined; null: same value
      continue;
    }
    CompiledRule::Saved saved{static_cast<std::uint8_t>(r), CompiledRule::How::kAtCfa, 0, 0};
    if (ops[0].atom == DW_OP_call_frame_cfa) {
      std::size_t i = 1;
      if (i < nops && ops[i].atom == DW_OP_plus_uconst) saved.offset = static_cast<std::int64_t>(ops[i++].number);
      if (i < nops && ops[i].atom == DW_OP_stack_value) {
        saved.how = CompiledRule::How::kCfaPlus;
        ++i;
      }
      if (i != nops) return rule;
    } else if (nops == 1 && ops[0].atom == DW_OP_regx && ops[0].number < static_cast<Dwarf_Word>(kSlots)) {
      saved.how = CompiledRule::How::kRegister;
      saved.src = static_cast<std::uint8_t>(ops[0].number);
    } else {
      return rule;  // a DWARF expression
    }
    if (rule.saved_count == CompiledRule::kMaxSaved) return rule;
    rule.saved[rule.saved_count++] = saved;
  }
  rule.kind = (rule.undefined >> ra) & 1u ? CompiledRule::Kind::kOutermost : CompiledRule::Kind::kUnwind;
  return rule;
}

Symbol DwflSession::symbolize(std::uint64_t address) {
  Symbol sym;
  Dwfl_Module* mod = dwfl_addrmodule(dwfl_, address);
  if (!mod && refresh_live_modules()) mod = dwfl_addrmodule(dwfl_, address);
  if (!mod) return sym;
  const char* mainfile = nullptr;
  const char* name = dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, &mainfile, nullptr);
  sym.module = mainfile ? mainfile : name ? name : "";
  GElf_Off offset = 0;
  GElf_Sym elf_sym;
  if (const char* fn = dwfl_module_addrinfo(mod, address, &offset, &elf_sym, nullptr, nullptr, nullptr)) {
    sym.function = demangle(fn);
    sym.function_offset = offset;
  }
  if (!outermost_inline_call(mod, address, &sym.file, &sym.line)) {
    if (Dwfl_Line* line = dwfl_module_getsrc(mod, address)) {
      int lineno = 0;
      if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
        sym.file = file;
        sym.line = lineno;
      }
    }
  }
  return sym;
}

void DwflSession::libdw_unwind(const RegisterSet& regs, const ReadMemory& read, std::vector<UnwoundFrame>* out,
                               std::size_t max_frames) {
  if (max_frames == 0) return;
  if (!attached_) {
    if (!dwfl_attach_state(dwfl_, nullptr, 1, &kThreadCallbacks, this)) return;
    attached_ = true;
  }
  LibdwWalk walk{&regs, &read, out, out->size(), max_frames};
  LibdwWalk* outer = tls_walk;
  tls_walk = &walk;
  dwfl_getthread_frames(dwfl_, 1, on_libdw_frame, &walk);
  tls_walk = outer;
}

}  // namespace stasis::persist::native
