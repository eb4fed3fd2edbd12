// native_thaw.cc — see native_thaw.h.
#include "native_thaw.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "../producer.h"
#include "address_space.h"
#include "externals.h"
#include "stasis/arch/platform.h"
#include "stasis/arena.h"
#include "stasis/persist/native.h"

namespace stasis::persist::native {

namespace {

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

bool contains(const std::vector<std::uint64_t>& sorted, std::uint64_t v) {
  return std::binary_search(sorted.begin(), sorted.end(), v);
}

}  // namespace

NativeThawer::~NativeThawer() {
  if (patched_) return;
  for (Made& m : made_) {
    if (m.restored.frame) detail::discard_restored_native(m.restored.frame);
    if (m.share) arena::destroy_share(static_cast<arena::Share*>(m.share));
  }
}

void NativeThawer::corrupt(const std::string& where, const std::string& what) const {
  throw SnapshotCorrupt(source_ + ": " + where + ": " + what);
}

void NativeThawer::check(schema::Snapshot::Reader root) {
  auto tasklets = root.getTasklets();
  for (auto t : tasklets) {
    tasklet_ids_.push_back(t.getId());
    if (t.hasNative()) native_ids_.push_back(t.getId());
  }
  std::sort(tasklet_ids_.begin(), tasklet_ids_.end());
  std::sort(native_ids_.begin(), native_ids_.end());
  channel_count_ = root.getChannels().size();
  if (native_ids_.empty()) return;
  space_ = AddressSpace::of_this_process();

  auto producer = root.getProducer();
  if (std::string_view(producer.getArch().cStr()) != this_architecture()) {
    throw NativeLayoutMismatch(source_ + ": it holds " + std::to_string(native_ids_.size()) +
                               " native tasklet(s) frozen on " + producer.getArch().cStr() + ", and this process is " +
                               this_architecture() +
                               "; native tasklets are machine state and restore only on the architecture and build "
                               "that froze them (soft tasklets move freely)");
  }
  std::vector<Module> recorded;
  for (auto m : root.getModules()) {
    recorded.push_back({m.getPath(), m.getBuildId(), m.getBase(), m.getMainProgram(), m.getReferenced()});
  }
  if (recorded.empty()) corrupt("modules", "a snapshot with native tasklets must record its module table");
  std::vector<std::string> diffs = module_differences(recorded, module_table());
  if (!diffs.empty()) {
    std::string msg = source_ + ": its native tasklets need the writer's exact build at the writer's addresses, and "
                                "this process differs:";
    for (const std::string& d : diffs) msg += "\n  " + d;
    throw NativeLayoutMismatch(msg);
  }
}

void NativeThawer::check_relocations(schema::NativeTasklet::Reader n, std::uint64_t callable_size,
                                     const std::vector<std::pair<std::uint64_t, std::uint64_t>>& runs,
                                     const std::string& where) const {
  const std::uint64_t ctx = n.getContext(), high = n.getRegionHigh();
  const std::uint64_t callable = n.getCallableAddress(), callable_end = callable + callable_size;
  auto relocations = n.getRelocations();
  for (unsigned i = 0; i < relocations.size(); ++i) {
    auto r = relocations[i];
    const std::string rw = where + ".relocations[" + std::to_string(i) + "]";
    const std::uint64_t at = r.getAt();
    bool placed = at % 8 == 0 && ((n.getStarted() && at >= ctx && at + 8 <= high) || (at >= callable && at + 8 <= callable_end));
    for (unsigned k = 0; !placed && k < runs.size(); ++k) {
      placed = at % 8 == 0 && at >= runs[k].first && at + 8 <= runs[k].first + runs[k].second;
    }
    if (!placed) corrupt(rw, "the word at " + hex(at) + " is in none of the tasklet's stack, callable or arena runs");
    auto target = r.getTarget();
    switch (target.which()) {
      case schema::Relocation::Target::TASKLET:
        if (!contains(tasklet_ids_, target.getTasklet())) {
          corrupt(rw, "names tasklet #" + std::to_string(target.getTasklet()) + ", which is not in the snapshot");
        }
        break;
      case schema::Relocation::Target::FRAME:
        if (!contains(native_ids_, target.getFrame())) {
          corrupt(rw, "names the frame of tasklet #" + std::to_string(target.getFrame()) + ", which is not a native tasklet of the snapshot");
        }
        break;
      case schema::Relocation::Target::CHANNEL:
        if (target.getChannel() >= channel_count_) {
          corrupt(rw, "channel index " + std::to_string(target.getChannel()) + " is out of range (" +
                          std::to_string(channel_count_) + " channels)");
        }
        break;
      case schema::Relocation::Target::SCHEDULER:
      case schema::Relocation::Target::NATIVE_THREAD:
      case schema::Relocation::Target::THREAD_POINTER: break;
      case schema::Relocation::Target::EXTERNAL: {
        std::string name = target.getExternal();
        if (!find_external(name)) {
          throw ExternalNotFound(source_ + ": " + rw + ": the tasklet points at the external '" + name +
                                 "', which this process has not registered; call stasis::persist::register_external(\"" +
                                 name + "\", object) before thawing");
        }
        break;
      }
      default: corrupt(rw, "has an unknown target kind");
    }
  }
}

FrameBase* NativeThawer::prepare(schema::Tasklet::Reader t, unsigned index) {
  auto n = t.getNative();
  const std::string where = "tasklets[" + std::to_string(index) + "].native";
  // Each Data field is read once: every read counts against the traversal limit.
  const capnp::Data::Reader stack = n.getStack(), callable_bytes = n.getCallable();
  auto runs = n.getArenaRuns();
  std::vector<capnp::Data::Reader> run_bytes;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> run_ranges;
  for (auto r : runs) {
    run_bytes.push_back(r.getBytes());
    run_ranges.emplace_back(r.getAddress(), run_bytes.back().size());
  }
  const std::uint64_t low = n.getRegionLow(), high = n.getRegionHigh(), ctx = n.getContext();
  if (n.getStarted()) {
    if (low >= high || ctx < low || ctx >= high || ctx % 8 != 0) {
      corrupt(where, "context " + hex(ctx) + " is not an aligned address inside its region [" + hex(low) + ", " + hex(high) + ")");
    }
    if (stack.size() != high - ctx) {
      corrupt(where, "its stack has " + std::to_string(stack.size()) + " bytes, but [context, regionHigh) spans " +
                         std::to_string(high - ctx));
    }
  }
  const std::uint64_t frame = n.getFrameAddress(), callable = n.getCallableAddress();
  if (callable < frame || callable + callable_bytes.size() > frame + n.getFrameSize()) {
    corrupt(where, "the callable's bytes lie outside its frame object");
  }
  const Region* ops = space_.find(n.getCallableOps());
  if (!ops || ops->kind != RegionKind::kModule) {
    corrupt(where, "callableOps " + hex(n.getCallableOps()) + " is not inside the program's code or data");
  }
  check_relocations(n, callable_bytes.size(), run_ranges, where);
  try {
    detail::prepare_native_region(low, high);
  } catch (const Error& e) {
    throw NativeLayoutMismatch(source_ + ": " + where + ": " + e.what());
  }

  Made m;
  m.record = n;
  m.id = t.getId();
  if (runs.size() > 0) {
    if (n.getShare() != runs[0].getAddress()) corrupt(where, "its share does not start its first arena run");
    std::vector<arena::RunImage> images;
    for (unsigned k = 0; k < runs.size(); ++k) {
      const capnp::Data::Reader& b = run_bytes[k];
      images.push_back({runs[k].getAddress(), runs[k].getMapped(), {reinterpret_cast<const std::byte*>(b.begin()), b.size()}});
    }
    try {
      m.share = arena::restore_share(images);
    } catch (const arena::ArenaError& e) {
      throw NativeLayoutMismatch(source_ + ": " + where + ": its arena share cannot be restored: " + e.what());
    }
  } else if (n.getShare() != 0) {
    corrupt(where, "it names an arena share but has no arena runs");
  }
  m.callable_size = callable_bytes.size();
  made_.push_back(m);  // from here on the destructor undoes the share
  detail::NativeRestore r;
  r.started = n.getStarted();
  r.context = ctx;
  r.region_low = low;
  r.region_high = high;
  r.stack = {reinterpret_cast<const std::byte*>(stack.begin()), stack.size()};
  r.callable_bytes = {reinterpret_cast<const std::byte*>(callable_bytes.begin()), callable_bytes.size()};
  r.callable_ops = reinterpret_cast<const void*>(n.getCallableOps());
  r.share = m.share;
  made_.back().restored = detail::restore_native_frame(r);
  return made_.back().restored.frame;
}

void NativeThawer::patch(const std::function<Tasklet*(std::uint64_t)>& tasklet_of,
                         const std::function<ChannelBase*(std::uint32_t)>& channel_of, Scheduler& s) {
  std::unordered_map<std::uint64_t, std::uint64_t> frames;  // tasklet id -> its new frame
  frames.reserve(made_.size());
  for (const Made& m : made_) frames.emplace(m.id, m.restored.frame_address);
  auto frame_of = [&](std::uint64_t id) -> std::uint64_t {
    auto it = frames.find(id);
    return it == frames.end() ? 0 : it->second;  // checked: every frame target is a native tasklet here
  };
  const std::uint64_t thread = detail::native_thread_image().address;
  for (Made& m : made_) {
    auto n = m.record;
    const std::uint64_t ctx = n.getContext(), callable = n.getCallableAddress();
    for (auto r : n.getRelocations()) {
      auto target = r.getTarget();
      std::uint64_t base = 0;
      switch (target.which()) {
        case schema::Relocation::Target::TASKLET: base = reinterpret_cast<std::uint64_t>(tasklet_of(target.getTasklet())); break;
        case schema::Relocation::Target::FRAME: base = frame_of(target.getFrame()); break;
        case schema::Relocation::Target::CHANNEL: base = reinterpret_cast<std::uint64_t>(channel_of(target.getChannel())); break;
        case schema::Relocation::Target::SCHEDULER: base = reinterpret_cast<std::uint64_t>(&s); break;
        case schema::Relocation::Target::NATIVE_THREAD: base = thread; break;
        case schema::Relocation::Target::EXTERNAL: base = find_external(std::string(target.getExternal()))->address; break;
        case schema::Relocation::Target::THREAD_POINTER: base = arch::thread_pointer(); break;
        default: break;
      }
      const std::uint64_t value = base + static_cast<std::uint64_t>(r.getOffset());
      const std::uint64_t at = r.getAt();
      std::byte* where;
      if (n.getStarted() && at >= ctx && at < n.getRegionHigh()) {
        where = m.restored.stack + (at - ctx);
      } else if (at >= callable && at < callable + m.callable_size) {
        where = m.restored.callable + (at - callable);
      } else {
        where = reinterpret_cast<std::byte*>(at);  // an arena run, mapped back at its address
      }
      std::memcpy(where, &value, 8);
    }
  }
  patched_ = true;
}

}  // namespace stasis::persist::native
