// stack_walk.cc — the stack walker: the fast unwinder over cached per-pc rules,
// symbolization with a cache, and the byte-range reader.
//
// The fast path is safe on any input because it only does three things with
// values from the stack: looks them up in the rule cache (a hash map), hands them
// to the caller's ReadMemory, and compares them (sp must grow every frame, which
// bounds the walk even before max_frames). Rules come from the modules' CFI only.
#include "stasis/persist/stack_walk.h"

#include <array>
#include <cstring>
#include <unordered_map>

#include "dwfl_session.h"

namespace stasis::persist {

using native::CompiledRule;

namespace {

// Caches never grow past this many entries (hostile snapshots can name any pc):
// past it they are emptied and refilled.
constexpr std::size_t kMaxCached = std::size_t{1} << 16;

// The registers of the frame being unwound.
struct Regs {
  std::uint64_t pc, sp;
  std::array<std::uint64_t, RegisterSet::kSlots> v;
  std::uint32_t known;
  bool has(int r) const noexcept { return (known >> r) & 1u; }
};

struct ByteRangeReader {
  std::uint64_t base;
  std::span<const std::byte> bytes;
  // Not instrumented: a live stack read under AddressSanitizer has redzones
  // between frames; reading a word there is not a bug of the reader's caller.
  __attribute__((no_sanitize("address"))) bool operator()(std::uint64_t address, std::uint64_t* word) const {
    if ((address & 7u) != 0 || address < base || address - base > bytes.size() ||
        bytes.size() - (address - base) < sizeof(std::uint64_t)) {
      return false;
    }
    const auto* p = reinterpret_cast<const volatile std::uint64_t*>(bytes.data() + (address - base));
    *word = *p;
    return true;
  }
};

}  // namespace

ReadMemory read_from_bytes(std::uint64_t base, std::span<const std::byte> bytes) {
  return ByteRangeReader{base, bytes};
}

struct StackWalker::Impl {
  std::unique_ptr<native::DwflSession> session;
  // Rules by lookup address; a direct-mapped front (pointers into the map's nodes,
  // which stay put until the map is cleared) saves most of the hashing.
  std::unordered_map<std::uint64_t, CompiledRule> rules;
  static constexpr std::size_t kFront = 1024;
  std::array<std::pair<std::uint64_t, const CompiledRule*>, kFront> front{};
  // Symbols by code address. Entries are never evicted (their references stay
  // valid); past kMaxCached new ones go to `overflow`.
  std::unordered_map<std::uint64_t, Symbol> symbols;
  Symbol overflow;
  WalkStats stats;

  const CompiledRule& rule_at(std::uint64_t address) {
    auto& slot = front[(address ^ (address >> 10)) % kFront];
    if (slot.second && slot.first == address) return *slot.second;
    auto it = rules.find(address);
    if (it == rules.end()) {
      if (rules.size() >= kMaxCached) {
        rules.clear();
        front.fill({0, nullptr});
      }
      ++stats.rules_compiled;
      it = rules.emplace(address, session->compile(address)).first;
    }
    slot = {address, &it->second};
    return it->second;
  }

  void unwind(const RegisterSet& start, const ReadMemory& read, std::vector<UnwoundFrame>* out,
              std::size_t max_frames);
};

// One step per frame: push the frame, then compute its caller's registers with
// the cached rule; stop (keeping the frame) when that is impossible.
void StackWalker::Impl::unwind(const RegisterSet& start, const ReadMemory& read, std::vector<UnwoundFrame>* out,
                               std::size_t max_frames) {
  const arch::SwitchBlock& block = arch::switch_block();
  const int sp_reg = block.dwarf_sp;
  Regs r{start.pc & block.code_address_mask, start.sp, start.gpr, start.known};
  r.v[static_cast<std::size_t>(sp_reg)] = r.sp;
  r.known |= std::uint32_t{1} << sp_reg;
  bool after_call = start.pc_after_call;
  out->clear();
  ++stats.walks;
  while (out->size() < max_frames && r.pc != 0) {
    out->push_back(UnwoundFrame{r.pc, r.sp, 0, 0});
    const CompiledRule& rule = rule_at(after_call ? r.pc - 1 : r.pc);
    if (rule.kind == CompiledRule::Kind::kGeneric) {
      // Continue with libdw from this frame's registers (it re-reports this frame).
      RegisterSet here;
      here.pc = r.pc;
      here.sp = r.sp;
      here.gpr = r.v;
      here.known = r.known;
      here.pc_after_call = after_call;
      // (libdw looks up an initial frame at pc itself, not pc - 1: the same row
      // unless the call was a function's last instruction.)
      const UnwoundFrame self = out->back();
      out->pop_back();
      ++stats.libdw_fallbacks;
      session->libdw_unwind(here, read, out, max_frames - out->size());
      if (out->empty() || out->back().sp < self.sp) out->push_back(self);  // libdw gave nothing
      break;
    }
    if (rule.kind != CompiledRule::Kind::kUnwind && rule.kind != CompiledRule::Kind::kOutermost) break;
    if (!r.has(rule.cfa_reg)) break;
    const std::uint64_t cfa = r.v[rule.cfa_reg] + static_cast<std::uint64_t>(rule.cfa_offset);
    if (cfa <= r.sp) break;  // the stack must grow toward the caller
    out->back().cfa = cfa;
    if (rule.kind == CompiledRule::Kind::kOutermost) break;

    // The caller's values, computed from this frame's registers before any changes.
    struct NewValue {
      std::uint8_t reg;
      bool ok;
      std::uint64_t value;
    } values[CompiledRule::kMaxSaved];
    std::uint64_t ra_slot = 0;
    for (int i = 0; i < rule.saved_count; ++i) {
      const CompiledRule::Saved& s = rule.saved[i];
      NewValue& v = values[i];
      v = {s.reg, true, 0};
      switch (s.how) {
        case CompiledRule::How::kAtCfa:
          v.ok = read(cfa + static_cast<std::uint64_t>(s.offset), &v.value);
          if (v.ok && s.reg == rule.ra_column) ra_slot = cfa + static_cast<std::uint64_t>(s.offset);
          break;
        case CompiledRule::How::kCfaPlus:
          v.value = cfa + static_cast<std::uint64_t>(s.offset);
          break;
        case CompiledRule::How::kRegister:
          v.ok = r.has(s.src);
          v.value = r.v[s.src];
          break;
      }
    }
    Regs& caller = r;  // updated in place from here on
    caller.known &= ~rule.undefined;
    for (int i = 0; i < rule.saved_count; ++i) {
      const std::uint32_t bit = std::uint32_t{1} << values[i].reg;
      caller.v[values[i].reg] = values[i].value;
      caller.known = values[i].ok ? caller.known | bit : caller.known & ~bit;
    }
    if (!caller.has(rule.ra_column)) break;
    caller.pc = caller.v[rule.ra_column] & block.code_address_mask;  // (0 ends the loop)
    caller.sp = cfa;
    caller.v[static_cast<std::size_t>(sp_reg)] = cfa;
    caller.known |= std::uint32_t{1} << sp_reg;
    if (caller.pc == 0) break;
    out->back().return_address_slot = ra_slot;
    after_call = true;
  }
  stats.frames += out->size();
}

StackWalker::StackWalker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StackWalker::~StackWalker() = default;

std::unique_ptr<StackWalker> StackWalker::for_this_process() {
  auto impl = std::make_unique<Impl>();
  impl->session = native::DwflSession::open({}, true);
  if (!impl->session) throw std::bad_alloc();
  return std::unique_ptr<StackWalker>(new StackWalker(std::move(impl)));
}

std::unique_ptr<StackWalker> StackWalker::for_modules(std::span<const WalkModule> modules) {
  auto impl = std::make_unique<Impl>();
  impl->session = native::DwflSession::open(modules, false);
  if (!impl->session) throw std::bad_alloc();
  return std::unique_ptr<StackWalker>(new StackWalker(std::move(impl)));
}

std::size_t StackWalker::unwind(const RegisterSet& regs, const ReadMemory& read, std::vector<UnwoundFrame>* out,
                                std::size_t max_frames) {
  impl_->unwind(regs, read, out, max_frames);
  return out->size();
}

std::vector<WalkedFrame> StackWalker::walk(const RegisterSet& regs, const ReadMemory& read, std::size_t max_frames) {
  std::vector<UnwoundFrame> raw;
  impl_->unwind(regs, read, &raw, max_frames);
  std::vector<WalkedFrame> frames;
  frames.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const bool after_call = i > 0 || regs.pc_after_call;
    const std::uint64_t lookup = raw[i].pc - (after_call ? 1 : 0);
    WalkedFrame f{raw[i], symbolize(lookup)};
    if (!f.function.empty()) f.function_offset += raw[i].pc - lookup;
    frames.push_back(std::move(f));
  }
  return frames;
}

const Symbol& StackWalker::symbolize(std::uint64_t address) {
  auto it = impl_->symbols.find(address);
  if (it != impl_->symbols.end()) return it->second;
  if (impl_->symbols.size() >= kMaxCached) return impl_->overflow = impl_->session->symbolize(address);
  return impl_->symbols.emplace(address, impl_->session->symbolize(address)).first->second;
}

std::vector<UnwoundFrame> StackWalker::unwind_with_libdw(const RegisterSet& regs, const ReadMemory& read,
                                                         std::size_t max_frames) {
  std::vector<UnwoundFrame> out;
  impl_->session->libdw_unwind(regs, read, &out, max_frames);
  return out;
}

const WalkStats& StackWalker::stats() const noexcept { return impl_->stats; }

}  // namespace stasis::persist
