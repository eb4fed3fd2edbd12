// tools/stasis-dump/loaded.cc — opening a snapshot file for the dumper.
#include "loaded.h"

#include <utility>

#include "native.h"
#include "render.h"
#include "stasis/persist/validate.h"

namespace stasis::dump {

Loaded::Loaded(persist::MessageView v) : view(std::move(v)) {
  persist::with_capnp_errors(view.source_name(), [&] {
    root = view.listed_root();  // format 3: the table expanded into records
    frame_types = root.getFrameTypes();
    value_types = root.getValueTypes();
    tasklets = root.getTasklets();
    channels = root.getChannels();
    modules = root.getModules();
    tasklet_index.reserve(tasklets.size());
    for (std::uint32_t i = 0; i < tasklets.size(); ++i) {
      auto t = tasklets[i];
      tasklet_index.emplace(t.getId(), i);
      if (t.hasNative()) ++native_tasklets;
    }
    types.reserve(frame_types.size());
    for (auto t : frame_types) {
      TypeInfo& info = types.emplace_back();
      info.name = text_view(t.getName());
      info.version = t.getVersion();
      for (auto f : t.getFields()) {
        info.field_names.emplace_back(text_view(f.getName()));
        info.field_types.emplace_back(text_view(f.getType()));
      }
    }
    value_names.reserve(value_types.size());
    for (auto v : value_types) value_names.emplace_back(text_view(v.getName()));
    channel_labels.reserve(channels.size());
    for (auto c : channels) channel_labels.push_back(channel_label(c));
    auto producer = root.getProducer();
    little_endian = producer.getLittleEndian();
    const unsigned pointer_bits = producer.getPointerBits();
    if (pointer_bits == 32 || pointer_bits == 64) {
      size_bytes = pointer_bits / 8;
    } else {
      archive_problem_ = "the producer's pointer size (" + std::to_string(pointer_bits) + " bits) is not 32 or 64";
    }
    // Boost archives of library version 6 and later store collection sizes as size_t.
    if (producer.getBoostArchiveVersion() < 6) {
      archive_problem_ = "Boost archive version " + std::to_string(producer.getBoostArchiveVersion()) +
                         " stores sizes in a form this dumper does not decode";
    }
  });
}

std::uint64_t Loaded::frame_archive_offset(std::uint32_t tasklet, std::uint32_t frame) const {
  if (tasklet_archive_offsets_.empty() && tasklets.size() > 0) {
    persist::with_capnp_errors(source(), [&] {
      tasklet_archive_offsets_.reserve(tasklets.size());
      std::uint64_t offset = 0;  // UInt32 sizes of a bounded message: no overflow
      for (auto t : tasklets) {
        tasklet_archive_offsets_.push_back(offset);
        for (auto f : t.getFrames()) offset += f.getArchiveBytes();
        if (t.getHasSlot()) offset += t.getSlot().getArchiveBytes();
      }
    });
  }
  std::uint64_t offset = tasklet_archive_offsets_.at(tasklet);
  auto frames = tasklets[tasklet].getFrames();
  for (std::uint32_t k = 0; k < frame && k < frames.size(); ++k) offset += frames[k].getArchiveBytes();
  return offset;
}

std::optional<std::uint32_t> Loaded::find_tasklet(std::uint64_t id) const {
  auto it = tasklet_index.find(id);
  if (it == tasklet_index.end()) return std::nullopt;
  return it->second;
}

Loaded load_snapshot(const std::string& path, bool check) {
  persist::MessageView view = persist::MessageView::from_file(path);
  if (check) {
    const char* hint = " (`stasis-dump verify` lists every problem; --no-check shows the file anyway)";
    try {
      persist::validate_snapshot(view.root(), path);
    } catch (const SnapshotCorrupt& e) {
      throw SnapshotCorrupt(std::string(e.what()) + hint);
    }
    // The native records' structure, as the native thawer checks it.
    std::vector<std::string> problems;
    persist::with_capnp_errors(path, [&] { problems = check_native_records(view.listed_root(), 1); });
    if (!problems.empty()) throw SnapshotCorrupt(path + ": " + problems.front() + hint);
  }
  return Loaded(std::move(view));
}

}  // namespace stasis::dump
