// native_freeze.cc — see native_freeze.h.
#include "native_freeze.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <unordered_map>

#include "address_space.h"
#include "frame_walk.h"
#include "stasis/arch/platform.h"
#include "stasis/arena.h"
#include "stasis/persist/native.h"
#include "stasis/scheduler.h"

namespace stasis::persist::native {

namespace {

constexpr std::size_t kMaxProblemsReported = 16;

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

struct NativeFreezer::Impl {
  Scheduler& s;
  std::vector<External> externals;
  std::unique_ptr<WordClassifier> classifier;
  detail::NativeThreadImage thread;
  std::vector<SymbolRecord> symbols;
  std::unordered_map<std::uint64_t, std::uint32_t> symbol_of_pc;  // pc -> 1 + index
};

NativeFreezer::NativeFreezer(Scheduler& s, std::span<Tasklet* const> in_snapshot, std::span<Tasklet* const> others)
    : impl_(std::make_unique<Impl>(Impl{s, externals_by_address(), nullptr, detail::native_thread_image()})) {
  std::vector<KnownObject> objects;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> shares;
  objects.reserve(in_snapshot.size() * 2 + others.size() + 8);
  auto address = [](const void* p) { return reinterpret_cast<std::uint64_t>(p); };
  for (Tasklet* t : in_snapshot) {
    objects.push_back({address(t), address(t) + sizeof(Tasklet), ObjectKind::kTasklet, t->id(), t->label()});
    if (!t->native()) continue;
    detail::NativeImage im = detail::native_image(*t);
    objects.push_back({im.frame, im.frame + im.frame_size, ObjectKind::kFrame, t->id(), t->label() + "'s frame"});
    if (im.share) {
      for (const arena::Run& r : arena::runs(static_cast<const arena::Share*>(im.share))) {
        shares.emplace_back(r.address, r.address + r.mapped);  // mapped: the run comes back whole
      }
    }
  }
  for (Tasklet* t : others) {
    objects.push_back({address(t), address(t) + sizeof(Tasklet), ObjectKind::kForeignTasklet, t->id(), t->label()});
  }
  for (const ChannelBase* ch = ChannelBase::first_on_thread(); ch; ch = ch->next_on_thread()) {
    objects.push_back({address(ch), address(ch) + sizeof(ChannelBase), ObjectKind::kChannel, address(ch), ch->label()});
  }
  objects.push_back({address(&s), address(&s) + sizeof(Scheduler), ObjectKind::kScheduler, 0, "the scheduler"});
  const std::uint64_t tp = arch::thread_pointer();
  objects.push_back({tp, tp + 1, ObjectKind::kThreadPointer, 0, "the thread pointer", tp});
  for (const detail::ThreadLocalRange& r : detail::runtime_thread_locals()) {
    objects.push_back({r.address, r.address + r.size, ObjectKind::kThreadPointer, 0, "a runtime thread-local", tp});
  }
  const detail::NativeThreadImage& th = impl_->thread;
  objects.push_back({th.address, th.address + th.size, ObjectKind::kNativeThread, 0, "the thread's native state"});
  for (std::size_t i = 0; i < impl_->externals.size(); ++i) {
    const External& e = impl_->externals[i];
    objects.push_back({e.address, e.address + e.size, ObjectKind::kExternal, i, "external '" + e.name + "'"});
  }
  impl_->classifier = std::make_unique<WordClassifier>(AddressSpace::of_this_process(), std::move(objects),
                                                       std::move(shares), th.region_low, th.region_high);
}

NativeFreezer::~NativeFreezer() = default;

CapturedNative NativeFreezer::capture(const Tasklet& t) {
  CapturedNative c;
  c.image = detail::native_image(t);
  const detail::NativeImage& im = c.image;
  if (!im.sliced) {
    throw FreezeError("freeze: " + t.label() +
                      " runs on a dedicated stack, whose address a new process cannot reproduce; only sliced native "
                      "tasklets can be frozen (spawn it with StackKind::kSliced)");
  }
  if (im.exception_in_flight) {
    throw FreezeError("freeze: " + t.label() +
                      " is suspended inside a catch handler (its exception object lives in the C++ runtime's memory); "
                      "freeze it outside the handler");
  }
  c.region_low = impl_->thread.region_low;
  c.region_high = impl_->thread.region_high;
  if (im.share) {
    for (const arena::Run& r : arena::runs(static_cast<const arena::Share*>(im.share))) {
      c.runs.push_back({r.address, r.mapped, {reinterpret_cast<const std::byte*>(r.address), r.used}});
    }
  }
  std::vector<WordProblem> problems;
  const WordClassifier& wc = *impl_->classifier;
  const std::uint64_t own_low = im.started ? im.context : 0, own_high = im.started ? im.stack_high : 0;
  if (im.started) wc.scan(im.context, im.stack, own_low, own_high, c.relocations, problems, c.summary, c.modules);
  const std::size_t stack_problems = problems.size();
  wc.scan(im.callable, im.callable_bytes, own_low, own_high, c.relocations, problems, c.summary, c.modules);
  const std::size_t callable_problems = problems.size();
  for (const ArenaRunImage& r : c.runs) wc.scan(r.address, r.bytes, own_low, own_high, c.relocations, problems, c.summary, c.modules);

  if (im.started) {
    walk_frames(im, c.frames);
    for (FrameRecord& f : c.frames) {
      auto [it, fresh] = impl_->symbol_of_pc.try_emplace(f.pc, static_cast<std::uint32_t>(impl_->symbols.size() + 1));
      if (fresh) impl_->symbols.push_back(symbolize_return_address(f.pc));
      f.symbol = it->second;
    }
  }
  if (problems.empty()) return c;

  std::vector<NativeFreezeError::Problem> out;
  std::string message = "freeze: " + t.label() + " cannot be frozen: " + std::to_string(problems.size()) +
                        (problems.size() == 1 ? " word points" : " words point") +
                        " at memory a restored process would not have";
  for (std::size_t i = 0; i < problems.size(); ++i) {
    const WordProblem& p = problems[i];
    NativeFreezeError::Problem q;
    q.tasklet_id = t.id();
    q.address = p.at;
    q.value = p.value;
    q.target = p.target;
    if (i < stack_problems) {
      const FrameRecord* f = nullptr;
      for (std::size_t k = 0; k < c.frames.size(); ++k) {
        const std::uint64_t next = k + 1 < c.frames.size() ? c.frames[k + 1].sp : im.stack_high;
        if (p.at >= c.frames[k].sp && p.at < next) {
          f = &c.frames[k];
          q.frame = static_cast<int>(k);
          break;
        }
      }
      if (f) {
        const std::string& name = impl_->symbols[f->symbol - 1].function;
        q.function = name.empty() ? hex(f->pc) : name;
        q.offset = p.at - f->sp;
        q.where = "frame #" + std::to_string(q.frame) + " " + q.function + " +" + std::to_string(q.offset);
      } else {
        q.offset = p.at - im.context;
        q.where = "stack +" + std::to_string(q.offset) + " (outside the walked frames)";
      }
    } else if (i < callable_problems) {
      q.offset = p.at - im.callable;
      q.where = "the callable (lambda captures) +" + std::to_string(q.offset);
    } else {
      q.where = "arena memory at " + hex(p.at);
    }
    if (i < kMaxProblemsReported) {
      message += "\n  " + q.where + ": " + hex(p.value) + " points into " + q.target;
    }
    out.push_back(std::move(q));
  }
  if (problems.size() > kMaxProblemsReported) {
    message += "\n  ... and " + std::to_string(problems.size() - kMaxProblemsReported) + " more";
  }
  message += "\nKeep what the tasklet holds across the freeze in its own stack, in the arena (NativeOptions::arena) or "
             "in registered externals (docs/native-persistence.md); the tasklet goes on running.";
  throw NativeFreezeError(std::move(message), std::move(out));
}

void NativeFreezer::write(const CapturedNative& c, schema::NativeTasklet::Builder b,
                          const std::function<std::uint32_t(const ChannelBase*)>& channel_index) const {
  const detail::NativeImage& im = c.image;
  auto data = [](std::span<const std::byte> s) {
    return capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(s.data()), s.size());
  };
  b.setStarted(im.started);
  b.setContext(im.context);
  b.setRegionLow(c.region_low);
  b.setRegionHigh(c.region_high);
  if (im.started) b.setStack(data(im.stack));
  b.setFrameAddress(im.frame);
  b.setFrameSize(static_cast<std::uint32_t>(im.frame_size));
  b.setCallableAddress(im.callable);
  b.setCallable(data(im.callable_bytes));
  b.setCallableOps(reinterpret_cast<std::uint64_t>(im.callable_ops));
  b.setShare(reinterpret_cast<std::uint64_t>(im.share));
  auto runs = b.initArenaRuns(static_cast<unsigned>(c.runs.size()));
  for (unsigned i = 0; i < c.runs.size(); ++i) {
    runs[i].setAddress(c.runs[i].address);
    runs[i].setMapped(c.runs[i].mapped);
    runs[i].setBytes(data(c.runs[i].bytes));
  }
  auto rel = b.initRelocations(static_cast<unsigned>(c.relocations.size()));
  for (unsigned i = 0; i < c.relocations.size(); ++i) {
    const WordRelocation& r = c.relocations[i];
    auto out = rel[i];
    out.setAt(r.at);
    out.setOffset(r.offset);
    auto target = out.initTarget();
    switch (r.kind) {
      case ObjectKind::kTasklet: target.setTasklet(r.key); break;
      case ObjectKind::kFrame: target.setFrame(r.key); break;
      case ObjectKind::kChannel: target.setChannel(channel_index(reinterpret_cast<const ChannelBase*>(r.key))); break;
      case ObjectKind::kScheduler: target.setScheduler(); break;
      case ObjectKind::kNativeThread: target.setNativeThread(); break;
      case ObjectKind::kExternal: target.setExternal(impl_->externals[r.key].name); break;
      case ObjectKind::kThreadPointer: target.setThreadPointer(); break;
      case ObjectKind::kForeignTasklet: break;  // refused by capture()
    }
  }
  auto frames = b.initFrames(static_cast<unsigned>(c.frames.size()));
  for (unsigned i = 0; i < c.frames.size(); ++i) {
    const FrameRecord& f = c.frames[i];
    frames[i].setPc(f.pc);
    frames[i].setSp(f.sp);
    frames[i].setSymbol(f.symbol);
  }
  auto s = b.initSummary();
  s.setWords(c.summary.words);
  s.setOwnStack(c.summary.own_stack);
  s.setArena(c.summary.arena);
  s.setModule(c.summary.module);
  s.setRelocated(c.summary.relocated);
  s.setPlain(c.summary.plain);
  s.setDeadStack(c.summary.dead_stack);
}

const std::vector<SymbolRecord>& NativeFreezer::symbols() const noexcept { return impl_->symbols; }

void NativeFreezer::write_symbols(const std::vector<SymbolRecord>& symbols, capnp::List<schema::Symbol>::Builder list) {
  for (unsigned i = 0; i < list.size() && i < symbols.size(); ++i) {
    list[i].setFunction(symbols[i].function);
    list[i].setFile(symbols[i].file);
    list[i].setLine(static_cast<std::uint32_t>(symbols[i].line));
    list[i].setModule(symbols[i].module);
  }
}

std::size_t NativeFreezer::module_count() { return module_table().size(); }

void NativeFreezer::write_modules(capnp::List<schema::Module>::Builder list,
                                  const std::vector<const CapturedNative*>& used) {
  std::vector<Module> mods = module_table();
  auto referenced = [&](const Module& m) {
    if (m.main_program) return true;
    for (const CapturedNative* c : used) {
      for (const Region* r : c->modules) {
        if (r->name == m.path) return true;
      }
    }
    return false;
  };
  for (unsigned i = 0; i < list.size() && i < mods.size(); ++i) {
    list[i].setPath(mods[i].path);
    list[i].setBuildId(mods[i].build_id);
    list[i].setBase(mods[i].base);
    list[i].setMainProgram(mods[i].main_program);
    list[i].setReferenced(referenced(mods[i]));
  }
}

}  // namespace stasis::persist::native
